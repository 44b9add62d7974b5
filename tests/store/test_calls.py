"""The call summary as a pure function of message rows (no database)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

import pytest

from sipparse.sip.message import SipMessage, Source
from sipparse.store import calls
from sipparse.store.calls import INPUT_COLUMNS, summarize
from tests.store.factory import SCENARIOS, CallBuilder, completed_call

SOURCE = Source("/var/log/asterisk/pjsip", "fp-calls")
START = datetime(2025, 2, 1, 18, 32, 31)


def rows_of(messages: list[SipMessage]) -> list[dict[str, object]]:
    return [
        {**{name: getattr(m, name, None) for name in INPUT_COLUMNS}, "id": n + 1}
        for n, m in enumerate(messages)
    ]


def summary(builder: CallBuilder):  # type: ignore[no-untyped-def]
    return summarize(builder.call_id, rows_of(builder.messages))


@pytest.mark.parametrize(
    ("scenario", "kind", "state", "final"),
    [
        ("completed", "call", "completed", 200),
        ("answered", "call", "answered", 200),
        ("busy", "call", "busy", 486),
        ("cancelled", "call", "cancelled", 487),
        ("no-answer", "call", "no-answer", 480),
        ("failed", "call", "failed", 503),
        ("in-progress", "call", "in-progress", None),
        ("register", "register", "completed", 200),
        ("options", "options", "completed", 200),
    ],
)
def test_states(scenario: str, kind: str, state: str, final: int | None) -> None:
    builder = CallBuilder(f"c-{scenario}", SOURCE, START)
    SCENARIOS[scenario](builder)
    s = summary(builder)
    assert (s.kind, s.state, s.final_status) == (kind, state, final)
    assert s.message_count == len(builder.messages)


def test_completed_call_figures() -> None:
    b = CallBuilder("c1", SOURCE, START, step_ms=100)
    b.request("INVITE").response(100).response(180).response(200).request("ACK")
    b.step_ms = 60_000
    b.request("BYE", by="callee", q850=16)
    b.step_ms = 10
    b.response(200)
    s = summary(b)
    assert s.setup_ms == 300  # INVITE at +100 ms, 200 OK at +400 ms
    assert s.duration_s == 60.1  # 200 OK (+400 ms) to BYE (+60.5 s)
    assert s.hangup_by == "callee"
    assert s.q850_cause == 16
    assert s.final_reason == "OK"
    assert (s.from_user, s.to_user, s.direction, s.host) == ("alice", "bob", "in", "pbx-a")
    assert s.first_seen == b.messages[0].timestamp and s.last_seen == b.messages[-1].timestamp
    assert s.answered_at == b.messages[3].timestamp and s.ended_at == b.messages[5].timestamp


@pytest.mark.parametrize("by", ["caller", "callee"])
def test_hangup_by(by: str) -> None:
    assert summary(completed_call("c", SOURCE, START, hangup=by)).hangup_by == by


@pytest.mark.parametrize(
    ("code", "state"),
    [
        (408, "no-answer"),
        (480, "no-answer"),
        (487, "no-answer"),
        (486, "busy"),
        (600, "busy"),
        (603, "failed"),
        (404, "failed"),
        (302, "redirected"),  # sent elsewhere, not a failure (sngrep's DIVERTED)
        (300, "redirected"),
        (399, "redirected"),
    ],
)
def test_final_codes_without_cancel(code: int, state: str) -> None:
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(180).response(code).request("ACK")
    assert summary(b).state == state


def test_a_redirect_followed_in_the_same_dialog_is_decided_by_the_new_invite() -> None:
    b = CallBuilder("c", SOURCE, START, step_ms=100)
    b.request("INVITE").response(302).request("ACK")
    b._to_tag = None  # the 302's To tag starts no dialog
    b.request("INVITE", in_dialog=False).response(180).response(486).request("ACK")
    assert (summary(b).state, summary(b).final_status) == ("busy", 486)


def test_auth_challenge_then_answer_is_decided_by_the_second_invite() -> None:
    b = CallBuilder("c", SOURCE, START, step_ms=100)
    b.request("INVITE").response(407).request("ACK")
    b._to_tag = None  # the challenge's To tag does not start a dialog
    b.request("INVITE", in_dialog=False).response(100).response(200).request("ACK")
    s = summary(b)
    assert (s.state, s.final_status) == ("answered", 200)
    assert s.setup_ms == 500  # first INVITE (+100 ms) to the 200 OK (+600 ms), the 407 round trip included


def test_unanswered_challenge_is_failed() -> None:
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(401).request("ACK")
    assert (summary(b).state, summary(b).final_status) == ("failed", 401)


@pytest.fixture(params=["c", "python"])
def either_summary_module(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The call summary made by the C module and by the Python code (the same results)."""
    if request.param == "python":
        monkeypatch.setattr(calls, "_C_CALLS", None)


def _challenged(call_id: str) -> CallBuilder:
    """An INVITE challenged with 407, sent again with credentials, now ringing."""
    b = CallBuilder(call_id, SOURCE, START, step_ms=100)
    b.request("INVITE").response(407).request("ACK")
    b._to_tag = None  # the challenge's To tag does not start a dialog
    return b.request("INVITE", in_dialog=False).response(100).response(180)


def test_a_challenged_call_ringing_with_credentials_is_in_progress(either_summary_module: None) -> None:
    s = summary(_challenged("c"))
    assert (s.state, s.final_status, s.setup_ms) == ("in-progress", None, None)


def test_a_challenged_call_cancelled_before_its_487_is_cancelled(either_summary_module: None) -> None:
    b = _challenged("c").request("CANCEL", in_dialog=False).response(200)
    s = summary(b)
    assert (s.state, s.final_status, s.hangup_by) == ("cancelled", None, "caller")
    s = summary(b.response(487, method="INVITE").request("ACK"))
    assert (s.state, s.final_status) == ("cancelled", 487)


def test_reinvite_does_not_change_the_outcome() -> None:
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(200).request("ACK")
    b.request("INVITE").response(491)
    s = summary(b)
    assert (s.state, s.final_status) == ("answered", 200)


def test_a_log_that_begins_after_the_invite_holds_its_reinvite_not_its_setup(either_summary_module: None) -> None:
    """A log read from mid-call (its start rotated away before the first ingest) holds a
    re-INVITE for hold and its 200 OK: the call was answered before the log began, and that
    200 OK is not its answer, so it has no setup time, answer time nor duration to give."""
    b = CallBuilder("c", SOURCE, START, step_ms=100).request("INVITE").response(180).response(200).request("ACK")
    b.step_ms = 20_000
    b.request("INVITE").response(200).request("ACK")
    b.request("BYE", by="callee", q850=16).response(200)
    s = summarize("c", rows_of(b.messages[4:]))
    assert (s.state, s.final_status, s.setup_ms, s.answered_at, s.duration_s) == ("completed", None, None, None, None)
    assert (s.hangup_by, s.q850_cause, s.message_count) == ("callee", 16, 5)
    s = summarize("c", rows_of(b.messages[4:7]))
    assert (s.state, s.final_status, s.setup_ms, s.answered_at) == ("answered", None, None, None)
    # a 200 OK to the INVITE itself, logged though its INVITE was not, is still the answer
    s = summarize("c", rows_of(b.messages[2:]))
    assert (s.state, s.final_status, s.answered_at) == ("completed", 200, b.messages[2].timestamp)


def test_a_reinvite_to_a_dialog_that_does_not_exist_fails(either_summary_module: None) -> None:
    """A phone refreshing a call that a restarted Asterisk no longer knows gets 481: with no
    2xx to say the dialog was ever established, that answer is all there is to tell."""
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(200).request("ACK")
    b.request("INVITE").response(481).request("ACK")
    s = summarize("c", rows_of(b.messages[3:]))
    assert (s.state, s.final_status) == ("failed", 481)


def test_cancel_race_with_200_is_answered() -> None:
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(180)
    b.request("CANCEL", in_dialog=False).response(200).response(200, method="INVITE").request("ACK")
    assert summary(b).state == "answered"


def test_cancel_before_487_logged_is_cancelled() -> None:
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(180).request("CANCEL", in_dialog=False)
    s = summary(b)
    assert (s.state, s.hangup_by, s.final_status) == ("cancelled", "caller", None)


def test_retransmissions_are_counted() -> None:
    b = CallBuilder("c", SOURCE, START).request("INVITE").repeat(2).response(100).response(180).repeat()
    s = summary(b)
    assert (s.message_count, s.retransmissions) == (6, 3)


def test_the_responses_of_two_forks_are_not_retransmissions(either_summary_module: None) -> None:
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(100)
    for fork in ("fork-1", "fork-2"):
        b._to_tag = fork
        b.response(180)
    b.response(200).repeat()  # the 200 of fork-2, sent again until the ACK comes
    s = summary(b)
    assert (s.message_count, s.retransmissions, s.state) == (6, 1, "answered")


def test_a_message_two_hosts_logged_is_not_a_retransmission(either_summary_module: None) -> None:
    """Two PBXs that both logged the INVITE they saw (the same direction, the same branch)
    saw it once each; only a third copy from one of them was sent again."""
    b = CallBuilder("c", SOURCE, START, host="pbx-a").request("INVITE").response(100)
    copies = []
    for message in b.messages:
        copy = SipMessage(**{name: getattr(message, name) for name in SipMessage.__slots__})
        copy.host, copy.offset = "pbx-b", copy.offset + 10_000
        copies.append(copy)
    s = summarize("c", rows_of(b.messages + copies))
    assert (s.message_count, s.retransmissions) == (4, 0)
    s = summarize("c", rows_of(b.repeat().messages + copies))
    assert (s.message_count, s.retransmissions) == (5, 1)


def test_a_bye_to_a_second_fork_that_answered_does_not_end_the_call(either_summary_module: None) -> None:
    b = CallBuilder("c", SOURCE, START, step_ms=100).request("INVITE")
    for fork in ("fork-1", "fork-2"):
        b._to_tag = fork
        b.response(180)
    b._to_tag = "fork-1"
    b.response(200, method="INVITE").request("ACK")  # answered at +400 ms
    b._to_tag = "fork-2"
    b.response(200, method="INVITE").request("ACK").request("BYE").response(200)  # fork-2 sent away
    s = summary(b)
    assert (s.state, s.duration_s, s.hangup_by) == ("answered", None, None)
    b._to_tag = "fork-1"
    b.step_ms = 60_000
    s = summary(b.request("BYE", by="callee", q850=16))
    assert (s.state, s.duration_s, s.hangup_by, s.q850_cause) == ("completed", 60.5, "callee", 16)


def test_other_kind() -> None:
    b = CallBuilder("c", SOURCE, START).request("SUBSCRIBE").response(202).request("NOTIFY").response(200)
    s = summary(b)
    assert (s.kind, s.state, s.final_status) == ("other", "completed", 200)


def test_register_reports_its_latest_outcome() -> None:
    b = CallBuilder("c", SOURCE, START).request("REGISTER").response(200, to_tag=False)
    b.request("REGISTER", in_dialog=False).response(403, to_tag=False)
    assert (summary(b).state, summary(b).final_status) == ("failed", 403)


def test_order_of_rows_does_not_matter() -> None:
    b = completed_call("c", SOURCE, START)
    rows = rows_of(b.messages)
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    assert summarize("c", shuffled) == summarize("c", rows)


def test_two_hosts_in_the_same_seconds_are_ordered_by_host_not_by_id() -> None:
    """Ids say which ingest stored a host's rows first, which no log decides."""
    a, b = completed_call("c", SOURCE, START), completed_call("c", SOURCE, START)
    b.host = "pbx-b"
    for m in b.messages:
        m.host, m.direction = "pbx-b", "in"
    a_first = rows_of(a.messages + b.messages)
    b_first = rows_of(b.messages + a.messages)
    assert summarize("c", a_first) == summarize("c", b_first)
    assert summarize("c", b_first).host == "pbx-a"


def test_text_timestamps_as_sqlite_returns_them() -> None:
    rows = rows_of(completed_call("c", SOURCE, START).messages)
    as_text = [{**r, "timestamp": r["timestamp"].isoformat(" ")} for r in rows]  # type: ignore[union-attr]
    assert summarize("c", as_text) == summarize("c", rows)


def test_version_1_rows_with_only_sip_method() -> None:
    rows = rows_of(CallBuilder("c", SOURCE, START).request("INVITE").response(486).messages)
    legacy = [{**r, "method": None, "reason_phrase": None, "to_tag": None, "from_tag": None} for r in rows]
    s = summarize("c", legacy)
    assert (s.kind, s.state, s.final_reason) == ("call", "busy", "Busy Here")


def test_no_rows_is_an_error() -> None:
    with pytest.raises(ValueError):
        summarize("c", [])


def test_kind_from_the_cseq_method_when_no_request_was_logged() -> None:
    b = CallBuilder("c", SOURCE, START).response(180, method="INVITE").response(200, method="INVITE")
    s = summary(b)
    assert all(m.method is None for m in b.messages)
    assert (s.kind, s.state, s.final_status) == ("call", "answered", 200)


def test_a_register_dialog_without_its_request_is_a_register() -> None:
    b = CallBuilder("c", SOURCE, START).response(401, to_tag=False, method="REGISTER")
    assert (summary(b).kind, summary(b).state) == ("register", "failed")


def test_a_register_challenged_in_one_second_is_decided_by_its_credentials_whatever_was_stored_first(
        either_summary_module: None) -> None:
    """A rotated file read after the one that followed it stores the 200 OK's rows first."""
    b = CallBuilder("c", SOURCE, START, step_ms=0).request("REGISTER").response(401, to_tag=False)
    b.request("REGISTER", in_dialog=False).response(200, to_tag=False)
    rows = rows_of(b.messages)
    later_file_first = [{**r, "id": n + 1} for n, r in enumerate(rows[2:] + rows[:2])]
    s = summarize("c", later_file_first)
    assert (s.state, s.final_status) == ("completed", 200)
    assert summarize("c", later_file_first) == summarize("c", rows)


@pytest.mark.parametrize("direction", ["in", "out"])
def test_a_call_whose_invite_was_not_logged_keeps_its_direction_and_users(
        either_summary_module: None, direction: str) -> None:
    """Its INVITE in a rotated file never read: the responses say who called whom, and they
    travel the other way."""
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(100).response(200).request("ACK")
    for m in b.messages:
        m.direction = direction if m.status_code is None else {"in": "out", "out": "in"}[direction]
    s = summarize("c", rows_of(b.messages)[1:])
    assert (s.kind, s.state, s.direction, s.from_user, s.to_user) == ("call", "answered", direction, "alice", "bob")


def test_a_register_dialog_without_its_request_is_received(either_summary_module: None) -> None:
    b = CallBuilder("c", SOURCE, START).response(401, to_tag=False, method="REGISTER")
    assert summary(b).direction == "in"


@pytest.mark.parametrize("by", ["caller", "callee"])
def test_who_hung_up_a_call_whose_invite_was_not_logged(either_summary_module: None, by: str) -> None:
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(200).request("ACK").request("BYE", by=by)
    s = summarize("c", rows_of(b.response(200).messages)[1:])
    assert (s.state, s.hangup_by) == ("completed", by)


def test_the_setup_of_a_register_refreshed_for_hours_is_its_latest_round_trip(either_summary_module: None) -> None:
    b = CallBuilder("c", SOURCE, START, step_ms=100).request("REGISTER").response(401, to_tag=False)
    b.request("REGISTER", in_dialog=False).response(200, to_tag=False)
    b._clock += 3_600_000  # an hour later, the refresh
    b.request("REGISTER", in_dialog=False).response(200, to_tag=False)
    s = summary(b)
    assert (s.state, s.setup_ms) == ("completed", 100)
    assert summary(CallBuilder("d", SOURCE, START).response(200, to_tag=False, method="REGISTER")).setup_ms is None



@pytest.mark.parametrize(("steps", "pdd"), [
    (lambda b: b.request("INVITE").response(100).response(180).response(200).request("ACK"), 200),
    (lambda b: b.request("INVITE").response(183).response(180).response(200), 100),
    (lambda b: b.request("INVITE").response(100).response(200).request("ACK"), 200),  # no 18x: the answer
    (lambda b: b.request("INVITE").response(100).response(486).request("ACK"), 200),  # nor a failure's
    (lambda b: b.request("INVITE").response(100), None),  # only Trying yet
    (lambda b: b.request("INVITE"), None),  # no response yet
    (lambda b: b.request("REGISTER").response(200, to_tag=False), None),  # not a call
    (lambda b: b.request("INVITE").repeat().response(100).response(180), 700),  # from the first INVITE
])
def test_post_dial_delay_is_the_first_invite_to_its_first_response_but_trying(
        either_summary_module: None, steps: Callable[[CallBuilder], object], pdd: int | None) -> None:
    b = CallBuilder("c", SOURCE, START, step_ms=100)
    steps(b)
    assert summary(b).pdd_ms == pdd


def test_post_dial_delay_of_a_challenged_call_runs_to_the_credentials_ringing(either_summary_module: None) -> None:
    """A 401/407 challenge that the caller answers with credentials is not what the caller
    waits to hear (RFC 6076 4.2 leaves it out of the session request delay): the delay runs
    from the first INVITE to the ringing of the one with credentials, as setup_ms runs to its
    answer. A challenge nobody answered is the only response there is."""
    s = summary(_challenged("c"))  # INVITE +100, 407 +200, ACK, INVITE +400, 100 +500, 180 +600
    assert s.pdd_ms == 500
    unanswered = CallBuilder("d", SOURCE, START, step_ms=100).request("INVITE").response(407).request("ACK")
    assert summary(unanswered).pdd_ms == 100


def test_post_dial_delay_is_unknown_when_the_log_began_mid_call(either_summary_module: None) -> None:
    b = CallBuilder("c", SOURCE, START, step_ms=100).request("INVITE").response(180).response(200).request("ACK")
    b.request("INVITE").response(200).request("ACK").request("BYE").response(200)
    assert summarize("c", rows_of(b.messages)).pdd_ms == 100
    assert summarize("c", rows_of(b.messages[1:])).pdd_ms is None  # its INVITE was not logged
    assert summarize("c", rows_of(b.messages[4:])).pdd_ms is None  # only a re-INVITE


def test_post_dial_delay_of_a_log_stamped_to_the_second(either_summary_module: None) -> None:
    b = CallBuilder("c", SOURCE, START, step_ms=1500).request("INVITE").response(100).response(180)
    assert summary(b).pdd_ms == 3000


def test_a_caller_who_sends_bye_before_any_final_response_cancelled_the_call(either_summary_module: None) -> None:
    """Some phones hang up a ringing call with BYE instead of CANCEL; the callee answers it
    481 or 200 and ends the INVITE with 487. The caller abandoned it, as with a CANCEL."""
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(100).response(180)
    b.request("BYE", q850=16).response(481)
    s = summary(b)
    assert (s.state, s.final_status, s.hangup_by, s.q850_cause) == ("cancelled", None, "caller", 16)
    b._cseq = 1  # the INVITE's
    s = summary(b.response(487, method="INVITE").request("ACK"))
    assert (s.state, s.final_status, s.hangup_by, s.q850_cause) == ("cancelled", 487, "caller", 16)
    assert (s.setup_ms, s.duration_s, s.answered_at) == (1250, None, None)


def test_a_bye_before_a_busy_answer_leaves_the_call_busy(either_summary_module: None) -> None:
    """The callee's answer decides, as when a CANCEL crosses a 486."""
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(180).request("BYE").response(481)
    b._cseq = 1  # the INVITE's
    s = summary(b.response(486, method="INVITE"))
    assert (s.state, s.final_status, s.hangup_by) == ("busy", 486, None)


def test_a_487_without_cancel_nor_bye_is_still_no_answer(either_summary_module: None) -> None:
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(180).response(487).request("ACK")
    s = summary(b)
    assert (s.state, s.hangup_by) == ("no-answer", None)


def _from_the_ack_on(by: str = "callee") -> list[dict[str, object]]:
    """A call's rows from its ACK on: the log began after the call was answered."""
    b = CallBuilder("c", SOURCE, START).request("INVITE").response(100).response(200).request("ACK")
    b.request("BYE", by=by, q850=16).response(200)
    return rows_of(b.messages)[3:]


def test_a_call_seen_only_from_its_ack_on_is_a_call_answered_before_the_log(either_summary_module: None) -> None:
    """ACK and BYE exist only in an INVITE dialog: with no INVITE nor response to one logged,
    the call was answered before the log began, and its setup is not known."""
    rows = _from_the_ack_on()
    s = summarize("c", rows)
    assert (s.kind, s.state, s.final_status, s.setup_ms, s.pdd_ms, s.duration_s) == (
        "call", "completed", None, None, None, None)
    assert (s.hangup_by, s.q850_cause, s.ended_at) == ("callee", 16, rows[1]["timestamp"])
    assert (s.from_user, s.to_user, s.direction) == ("alice", "bob", "in")  # the ACK is the caller's
    s = summarize("c", rows[:1])
    assert (s.kind, s.state, s.hangup_by) == ("call", "answered", None)
    s = summarize("c", _from_the_ack_on("caller")[1:])  # BYE and its 200 OK only
    assert (s.kind, s.state, s.setup_ms) == ("call", "completed", None)


def test_a_dialog_of_other_methods_is_not_made_a_call() -> None:
    b = CallBuilder("c", SOURCE, START).request("SUBSCRIBE").response(202).request("NOTIFY").response(200)
    assert calls.joined_kind("other", [tuple(r.values()) for r in rows_of(b.messages)]) == "other"
    assert calls.joined_kind("other", [tuple(r[c] for c in INPUT_COLUMNS) for r in _from_the_ack_on()]) == "call"
