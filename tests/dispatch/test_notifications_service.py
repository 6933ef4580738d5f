"""The SMS outbox: queued with the change, sent once through the port, failures kept for a
retry and never sent twice."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.db import read_session, write_session
from dispatch.errors import InvalidInput, InvalidPhone
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.notifications.service import OutboxSender
from tests.conftest import unique_phone


@dataclass
class RecordingSender:
    """A fake SMS port: records what it was asked to send; fails while `down`."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False

    def send(self, *, to: str, body: str) -> str:
        if self.down:
            raise ConnectionError("provider unreachable")
        self.sent.append((to, body))
        return f"SM{len(self.sent):032d}"


def test_queueing_normalises_the_number_and_is_idempotent(session: Session) -> None:
    first = notification_service.queue(
        session=session, to="98765 43210", body="hello", kind="test", idempotency_key="k-1"
    )
    again = notification_service.queue(
        session=session, to="+919876543210", body="other", kind="test", idempotency_key="k-1"
    )
    assert first.id == again.id and first.to == "+919876543210"
    assert first.status is MessageStatus.QUEUED
    with pytest.raises(InvalidPhone):
        notification_service.queue(session=session, to="12", body="x", kind="test")
    with pytest.raises(InvalidInput):
        notification_service.queue(session=session, to="+919876543210", body=" ", kind="test")


def _queued(engine: Engine, body: str) -> int:
    with write_session(engine) as session:
        message = notification_service.queue(
            session=session, to=unique_phone(), body=body, kind="test"
        )
        assert message.id is not None
        return message.id


def _stored(engine: Engine, message_id: int) -> OutboxMessage:
    with read_session(engine) as session:
        found = session.get(OutboxMessage, message_id)
        assert found is not None
        return found


def test_sending_sends_once(engine: Engine) -> None:
    sender = RecordingSender()
    message_id = _queued(engine, "booked")
    assert notification_service.send(engine=engine, message_id=message_id, sender=sender) == "sent"
    assert notification_service.send(engine=engine, message_id=message_id, sender=sender) is None
    message = _stored(engine, message_id)
    assert sender.sent == [(message.to, "booked")]
    assert message.status is MessageStatus.SENT and message.provider_id == "SM" + "0" * 31 + "1"
    assert message.attempts == 1 and message.sent_at is not None


def test_a_failed_send_is_kept_for_a_retry(engine: Engine) -> None:
    sender = RecordingSender(down=True)
    message_id = _queued(engine, "retry me")
    notification_service.send(engine=engine, message_id=message_id, sender=sender)
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.FAILED and message.attempts == 1
    with read_session(engine) as session:
        assert message_id in {m.id for m in notification_service.pending(session=session)}
    sender.down = False
    notification_service.send(engine=engine, message_id=message_id, sender=sender)
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.SENT and message.attempts == 2


def test_no_transaction_is_open_while_the_provider_answers(engine: Engine) -> None:
    """A slow provider must not hold the database: while it 'answers', another writer (a
    caller's webhook) gets the write lock at once."""
    message_id = _queued(engine, "slow")
    waits: list[float] = []

    class SlowSender:
        def send(self, *, to: str, body: str) -> str:
            started = time.monotonic()
            with write_session(engine, wait_s=1.0) as session:
                notification_service.queue(
                    session=session, to=unique_phone(), body="meanwhile", kind="test"
                )
            waits.append(time.monotonic() - started)
            return "SM-slow"

    assert notification_service.send(engine=engine, message_id=message_id, sender=SlowSender())
    assert len(waits) == 1 and waits[0] < 0.5


def test_a_sender_that_died_mid_send_is_taken_over_after_the_lease(engine: Engine) -> None:
    message_id = _queued(engine, "orphan")
    now = dt.datetime.now(dt.UTC)
    with write_session(engine) as session:
        assert notification_service.claim(session=session, message_id=message_id, now=now)
    with read_session(engine) as session:
        assert message_id not in {m.id for m in notification_service.pending(session=session)}
        later = now + notification_service.SENDING_LEASE + dt.timedelta(seconds=1)
        pending = notification_service.pending(session=session, now=later)
        assert message_id in {m.id for m in pending}
    sender = RecordingSender()
    notification_service.send(engine=engine, message_id=message_id, sender=sender, now=later)
    assert _stored(engine, message_id).status is MessageStatus.SENT and len(sender.sent) == 1


def test_the_outbox_sender_keeps_messages_in_the_database(engine: Engine) -> None:
    message_id = _queued(engine, "dev")
    notification_service.send(engine=engine, message_id=message_id, sender=OutboxSender())
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.SENT
    assert (message.provider_id or "").startswith("outbox-")
