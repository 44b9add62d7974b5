"""Application families of the bundled library: java, redis, ruby, maven, mcollective,
bind, squid, postgresql, mongodb, rails. One line that matches (with its key captures)
and one that must not, per pattern."""

from __future__ import annotations

import pytest

from tests.grok.helpers import grok_match

CASES = [
    ("JAVASTACKTRACEPART", "   at com.example.Foo.bar(Foo.java:42)",
     {"class": "com.example.Foo", "method": "bar", "file": "Foo.java", "line": "42"}, "at Foo"),
    ("JAVASTACKTRACEPART", "\tat sun.reflect.Native.invoke0(Native Method)",
     {"class": "sun.reflect.Native", "method": "invoke0", "file": "Native Method"}, "at x.y("),
    ("TOMCATLOG", "2014-01-09 20:03:28,269 -0800 | ERROR | com.example.Service - boom",
     {"level": "ERROR", "class": "com.example.Service", "logmessage": "boom"}, "2014-01-09 | ERROR | x - y"),
    ("CATALINALOG", "Jan 9, 2014 7:13:13 AM org.apache.catalina.startup.Catalina start",
     {"timestamp": "Jan 9, 2014 7:13:13 AM", "class": "org.apache.catalina.startup.Catalina"}, "Jan 9 2014 start"),
    ("REDISLOG", "[4018] 14 Nov 07:01:22.119 * Background saving started",
     {"pid": "4018", "timestamp": "14 Nov 07:01:22.119"}, "[4018] 14 Nov * x"),
    ("REDISMONLOG", '1470637867.953466 [0 195.168.1.1:52500] "info" "all"',
     {"database": "0", "client": "195.168.1.1", "port": "52500", "command": "info", "params": '"all"'},
     '1470637867 [0 x] "info"'),
    ("RUBY_LOGGER", "I, [2014-01-09T08:01:02.000000 #123]  INFO -- app: started",
     {"pid": "123", "loglevel": "INFO", "progname": "app", "message": "started"}, "I, [x #1] INFO -- a: b"),
    ("MAVEN_VERSION", "1.2.3-SNAPSHOT", {}, None),
    ("MCOLLECTIVE", "I, [2013-12-04T09:55:55.681541 #20193]  INFO",
     {"pid": "20193", "event_level": "INFO"}, "I, [2013-12-04 #1]"),
    ("BIND9", "17-Feb-2018 23:06:56.326 queries: info: client 172.26.0.1#12345 (test.example.com): "
     "query: test.example.com IN A +E(0)K (172.26.0.3)",
     {"clientip": "172.26.0.1", "clientport": "12345", "dns": "172.26.0.3"}, "17-Feb-2018 queries: info"),
    ("SQUID3", "1525344856.899 16867 10.170.72.111 TCP_TUNNEL/200 6256 CONNECT example.com:443 - "
     "HIER_DIRECT/10.0.0.1 -",
     {"client_address": "10.170.72.111", "cache_result": "TCP_TUNNEL", "status_code": "200",
      "request_method": "CONNECT", "url": "example.com:443", "server": "10.0.0.1"}, "1525344856 TCP/200"),
    ("POSTGRESQL", "2019-02-01 10:00:00 UTC postgres x 1234", {"pid": "1234", "user_id": "postgres"},
     "2019-02-01 postgres"),
    ("MONGO3_LOG", "2016-06-13T20:37:35.553+0000 I NETWORK  [conn1] end connection 1.2.3.4:5",
     {"severity": "I", "component": "NETWORK", "context": "conn1", "message": "end connection 1.2.3.4:5"},
     "2016-06-13 I NETWORK"),
    ("RAILS3HEAD", 'Started GET "/posts?page=2" for 127.0.0.1 at 2014-01-09 08:01:02 +0000',
     {"verb": "GET", "request": "/posts?page=2", "clientip": "127.0.0.1"}, 'Started GET /posts for x'),
    ("RCONTROLLER", "PostsController#index", {"controller": "PostsController", "action": "index"}, "Posts#"),
]


@pytest.mark.parametrize(("name", "line", "expected", "bad"), CASES, ids=[c[0] for c in CASES])
def test_app_family(name: str, line: str, expected: dict[str, str], bad: str | None) -> None:
    fields = grok_match(f"%{{{name}}}", line)
    assert fields is not None, f"{name} should match {line!r}"
    assert {k: fields.get(k) for k in expected} == expected
    if bad is not None:
        assert grok_match(f"^%{{{name}}}$", bad) is None


def test_maven_versions() -> None:
    for text in ("1", "1.2", "1.2.3", "1.2.*", "1.2.3.RELEASE"):
        assert grok_match("^%{MAVEN_VERSION:v}$", text) == {"v": text}
    assert grok_match("^%{MAVEN_VERSION:v}$", "1.2.3.4") is None
