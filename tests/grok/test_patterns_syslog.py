"""linux-syslog and httpd families of the bundled library."""

from __future__ import annotations

import pytest

from tests.grok.helpers import grok_match


def test_syslogline_traditional_and_iso() -> None:
    assert grok_match("%{SYSLOGLINE}", "Mar 16 00:01:25 evita postfix/smtpd[1713]: connect from x[1.2.3.4]") == {
        "timestamp": "Mar 16 00:01:25", "logsource": "evita", "program": "postfix/smtpd", "pid": "1713",
        "message": "connect from x[1.2.3.4]",
    }
    fields = grok_match("%{SYSLOGLINE}", "2025-02-01T18:32:31.123456+00:00 pbx-a asterisk[6541]: CSeq: 1 INVITE")
    assert fields is not None and fields["timestamp8601"] == "2025-02-01T18:32:31.123456+00:00"
    assert fields["program"] == "asterisk" and fields["message"] == "CSeq: 1 INVITE"


def test_syslogline_without_program() -> None:
    assert grok_match("%{SYSLOGLINE}", "Feb  1 18:32:31 host kernel message here") == {
        "timestamp": "Feb  1 18:32:31", "logsource": "host", "message": "kernel message here"}


@pytest.mark.parametrize(
    ("line", "expected", "absent"),
    [
        ('<191>1 2009-06-30T18:30:00+02:00 paxton.local grokdebug 4123 - [id1 foo="bar"][id2 baz="x"] Hello.',
         {"syslog5424_pri": "191", "syslog5424_ver": "1", "syslog5424_host": "paxton.local",
          "syslog5424_app": "grokdebug", "syslog5424_proc": "4123",
          "syslog5424_sd": '[id1 foo="bar"][id2 baz="x"]', "syslog5424_msg": "Hello."},
         ["syslog5424_msgid"]),
        ("<30>1 2014-04-04T16:44:07+02:00 osctrl01 - 8048 - -  Appname missing.",
         {"syslog5424_proc": "8048", "syslog5424_msg": "Appname missing."}, ["syslog5424_app", "syslog5424_sd"]),
    ],
)
def test_syslog5424(line: str, expected: dict[str, str], absent: list[str]) -> None:
    fields = grok_match("%{SYSLOG5424LINE}", line)
    assert fields is not None
    assert {k: fields.get(k) for k in expected} == expected
    assert not set(absent) & set(fields)


def test_cron_and_pam() -> None:
    cron = grok_match("%{CRONLOG}", "Jan  1 00:00:01 h CRON[123]: (root) CMD (run-parts /etc/cron.hourly)")
    assert cron is not None and (cron["user"], cron["action"], cron["message"]) == (
        "root", "CMD", "run-parts /etc/cron.hourly")
    pam = grok_match("%{SYSLOGPAMSESSION}",
                     "Jan  1 00:00:01 h sshd[1]: pam_unix(sshd:session): session opened for user bob by (uid=0)")
    assert pam is not None and (pam["pam_module"], pam["pam_caller"], pam["pam_session_state"],
                                pam["username"], pam["pam_by"]) == ("pam_unix", "sshd:session", "opened", "bob",
                                                                    "(uid=0)")


def test_syslog_rejects_other_lines() -> None:
    assert grok_match("^%{SYSLOGBASE}", "[Feb  1 18:32:31] VERBOSE[6541] res_pjsip_logger.c: x") is None
    assert grok_match("%{SYSLOG5424LINE}", "Feb  1 18:32:31 host prog: x") is None


COMBINED = ('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
            '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"')


def test_httpd_combined() -> None:
    assert grok_match("%{HTTPD_COMBINEDLOG}", COMBINED) == {
        "clientip": "127.0.0.1", "ident": "-", "auth": "frank", "timestamp": "10/Oct/2000:13:55:36 -0700",
        "verb": "GET", "request": "/apache_pb.gif", "httpversion": "1.0", "response": "200", "bytes": "2326",
        "referrer": '"http://www.example.com/start.html"', "agent": '"Mozilla/4.08 [en] (Win98; I ;Nav)"',
    }
    assert grok_match("%{COMBINEDAPACHELOG}", COMBINED) == grok_match("%{HTTPD_COMBINEDLOG}", COMBINED)


def test_httpd_common_with_raw_request() -> None:
    fields = grok_match("%{HTTPD_COMMONLOG}", '1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "\\x16\\x03" 400 -')
    assert fields is not None and fields["rawrequest"] == "\\x16\\x03" and "bytes" not in fields


def test_httpd_error_logs() -> None:
    old = grok_match("%{HTTPD_ERRORLOG}", "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] denied")
    assert old == {"timestamp": "Wed Oct 11 14:32:52 2000", "loglevel": "error", "clientip": "127.0.0.1",
                   "message": "denied"}
    new = grok_match("%{HTTPD_ERRORLOG}", "[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416]"
                     " [client 72.15.99.187:5060] AH00037: Symbolic link not allowed")
    assert new is not None and (new["module"], new["pid"], new["clientport"], new["errorcode"]) == (
        "core", "35708", "5060", "AH00037")


def test_httpd_rejects_other_lines() -> None:
    assert grok_match("^%{HTTPD_COMMONLOG}$", "127.0.0.1 - - [10/Oct/2000] GET") is None
