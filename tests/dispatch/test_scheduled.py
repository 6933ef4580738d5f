"""Scheduled tasks: the outbox sender (sent once, failures retried) and the rest of
`dispatch.scheduled` (the dispatch loop's own tasks are tested in test_loop.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine

from dispatch import scheduled
from dispatch.db import read_session, write_session


class RecordingSender:
    """A fake SMS port that records what it was asked to send, failing the first `fail` times."""

    def __init__(self, fail: int = 0) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    def send(self, *, to: str, body: str) -> str:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("provider down")
        self.sent.append((to, body))
        return f"SM{len(self.sent):032d}"


def test_left_over_sms_are_sent_once_and_failures_retried(engine: Engine) -> None:
    from dispatch.notifications import service as notification_service
    from tests.conftest import unique_phone

    # Long before anything other tests queue in the shared outbox: only this message is due.
    old = dt.datetime(2001, 1, 20, 10, 0, tzinfo=dt.UTC)
    phone = unique_phone()
    with write_session(engine) as s:
        message = notification_service.queue(
            session=s, to=phone, body="Visit booked", kind="test", now=old
        )
        message_id = message.id
    sender = RecordingSender(fail=1)
    later = old + dt.timedelta(minutes=5)
    scheduled.send_pending_sms(engine=engine, sender=sender, now=later)
    assert sender.sent == []  # the provider failed once
    scheduled.send_pending_sms(engine=engine, sender=sender, now=later)
    assert sender.sent == []  # a refused message waits for its next try, a minute later
    retry = later + dt.timedelta(minutes=1)
    scheduled.send_pending_sms(engine=engine, sender=sender, now=retry)
    scheduled.send_pending_sms(engine=engine, sender=sender, now=retry)
    assert sender.sent == [(phone, "Visit booked")]
    with read_session(engine) as s:
        stored = s.get(notification_service.OutboxMessage, message_id)
        assert stored is not None and stored.status == "sent" and stored.attempts == 2


def test_young_messages_never_keep_an_older_one_from_being_sent(engine: Engine) -> None:
    """Messages too young to send (their own request sends them) are not picked ahead of one
    that is due, however many there are."""
    from dispatch.notifications import service as notification_service
    from tests.conftest import unique_phone

    start = dt.datetime(2002, 3, 4, 10, 0, tzinfo=dt.UTC)
    at = start + dt.timedelta(minutes=5)
    with write_session(engine) as s:
        for n in range(60):  # queued first, seconds ago
            notification_service.queue(
                session=s,
                to=unique_phone(),
                body=f"young {n}",
                kind="test",
                now=at - dt.timedelta(seconds=5),
            )
        phone = unique_phone()
        notification_service.queue(session=s, to=phone, body="old", kind="test", now=start)
    sender = RecordingSender()
    scheduled.send_pending_sms(engine=engine, sender=sender, now=at)
    assert sender.sent == [(phone, "old")]
