"""Dialogs without an INVITE that go on for weeks under one Call-ID (a phone refreshing its
REGISTER every minute, a SUBSCRIBE with its NOTIFYs): summarised a page of rows at a time,
exactly as from all of their rows at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sipparse.sip.message import SipMessage, Source
from sipparse.store import base, open_store
from tests.store.factory import CallBuilder
from tests.store.helpers import calls_table

SOURCE = Source("/var/log/asterisk/pjsip", "fp-long")
START = datetime(2025, 3, 1, 12, 0, 0)
PAGE = 7


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "LONG_DIALOG_ROWS", 10, raising=False)
    monkeypatch.setattr(base, "DIALOG_PAGE", PAGE, raising=False)


def registrations(refreshes: int) -> list[SipMessage]:
    """A challenged REGISTER refreshed ``refreshes`` times, one retransmission among them."""
    dialog = CallBuilder("reg-1@phone", SOURCE, START, caller="1001", callee="1001", step_ms=60_000)
    dialog.request("REGISTER").response(401).request("REGISTER").response(200)
    for n in range(refreshes):
        dialog.request("REGISTER").response(200)
        if n == 5:
            dialog.repeat()
    return dialog.messages


def resent_registrations(refreshes: int) -> list[SipMessage]:
    """A REGISTER refreshed ``refreshes`` times, each sent again before its 200 OK: its setup is
    that of the latest, from its first send, whichever pages they fall in (12 refreshes: the
    last page holds the last 200 OK alone)."""
    dialog = CallBuilder("reg-2@phone", SOURCE, START, caller="1001", callee="1001", step_ms=60_000)
    for _ in range(refreshes):
        dialog.request("REGISTER").repeat().response(200)
    return dialog.messages


def late_answer(refreshes: int) -> list[SipMessage]:
    """A REGISTER refreshed ``refreshes`` times, then sent twice under two CSeqs, the 200 OK
    to the first coming after the second: its setup is from the request it answers, however
    many pages before it that request is."""
    dialog = CallBuilder("reg-3@phone", SOURCE, START, caller="1001", callee="1001", step_ms=60_000)
    for _ in range(refreshes):
        dialog.request("REGISTER").response(200)
    answered = dialog.request("REGISTER").messages[-1].cseq
    dialog.request("REGISTER").response(200)
    dialog.messages[-1].cseq = answered
    return dialog.messages


def subscription(notifies: int) -> list[SipMessage]:
    dialog = CallBuilder("sub-1@phone", SOURCE, START, step_ms=30_000).request("SUBSCRIBE").response(200)
    for _ in range(notifies):
        dialog.request("NOTIFY", by="callee").response(200)
    return dialog.messages


def with_an_invite(messages: list[SipMessage]) -> list[SipMessage]:
    """A dialog that an INVITE joins late (kind ``call`` from then on)."""
    later = CallBuilder(messages[0].call_id or "", SOURCE, START + timedelta(days=1), offset=messages[-1].end)
    return messages + later.request("INVITE").response(486).messages


def odd(messages: list[SipMessage]) -> list[SipMessage]:
    """The same, with one message of no time stamp and one logged late with an early one."""
    messages = list(messages)
    messages[20].timestamp = None
    late = messages.pop(3)
    messages.append(late)
    return messages


def forked(messages: list[SipMessage]) -> list[SipMessage]:
    """The same, with the first 200 OK answered again by a second fork (another To tag): not a
    retransmission."""
    first = messages[1]
    fork = SipMessage(**{name: getattr(first, name) for name in SipMessage.__slots__})
    fork.to_tag = f"{first.to_tag}-fork"
    fork.offset, fork.end = messages[-1].end, messages[-1].end + len(first.raw_message)
    return messages + [fork]


def two_hosts(messages: list[SipMessage]) -> list[SipMessage]:
    """The same, logged by a second host too: not retransmissions."""
    copies = []
    for message in messages:
        copy = SipMessage(**{name: getattr(message, name) for name in SipMessage.__slots__})
        copy.host, copy.offset, copy.end = "pbx-b", copy.offset + messages[-1].end, copy.end + messages[-1].end
        copies.append(copy)
    return messages + copies


def reference(tmp_path: Path, messages: list[SipMessage]) -> list[dict[str, Any]]:
    with open_store(f"sqlite:///{tmp_path}/reference.db") as store:
        store.write_batch(messages)
        return calls_table(store)


def in_batches(store: Any, messages: list[SipMessage], size: int) -> None:
    for start in range(0, len(messages), size):
        store.write_batch(messages[start:start + size])


@pytest.mark.parametrize("dialog", [registrations(60), subscription(40), odd(registrations(60)),
                                    with_an_invite(registrations(30)), forked(subscription(40)),
                                    two_hosts(registrations(30)), resent_registrations(12), late_answer(13)],
                         ids=["register", "subscribe", "odd", "invite", "forked", "two-hosts", "resent", "late-answer"])
def test_a_long_dialog_written_in_many_batches_ends_as_written_at_once(db_url: str, tmp_path: Path,
                                                                         dialog: list[SipMessage]) -> None:
    with open_store(db_url) as store:
        in_batches(store, dialog, 9)
        assert calls_table(store) == reference(tmp_path, dialog)


def test_a_long_dialog_is_read_a_page_at_a_time(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dialog = registrations(100)
    with open_store(db_url) as store:
        in_batches(store, dialog[:150], 50)
        real, most = store.query, [0]

        def counted(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
            found = real(sql, params)
            most[0] = max(most[0], len(found))
            return found

        monkeypatch.setattr(store, "query", counted)
        in_batches(store, dialog[150:], 50)
        assert most[0] <= PAGE
        assert calls_table(store)[0]["message_count"] == len(dialog)
