"""The SMS outbox: queued with the change, sent once through the port, failures kept for a
retry and never sent twice."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlmodel import Session

from dispatch.errors import InvalidInput, InvalidPhone
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import MessageStatus
from dispatch.notifications.service import OutboxSender


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


def test_delivery_sends_once(session: Session) -> None:
    sender = RecordingSender()
    message = notification_service.queue(
        session=session, to="+919876543210", body="booked", kind="test"
    )
    assert message.id is not None
    notification_service.deliver(session=session, message_id=message.id, sender=sender)
    notification_service.deliver(session=session, message_id=message.id, sender=sender)
    assert sender.sent == [("+919876543210", "booked")]
    assert message.status is MessageStatus.SENT and message.provider_id == "SM" + "0" * 31 + "1"
    assert message.attempts == 1 and message.sent_at is not None


def test_a_failed_delivery_is_kept_for_a_retry(session: Session) -> None:
    sender = RecordingSender(down=True)
    message = notification_service.queue(
        session=session, to="+919876543210", body="retry me", kind="test"
    )
    assert message.id is not None
    notification_service.deliver(session=session, message_id=message.id, sender=sender)
    assert message.status is MessageStatus.FAILED and message.attempts == 1
    assert message in notification_service.pending(session=session, limit=1000)
    sender.down = False
    notification_service.deliver(session=session, message_id=message.id, sender=sender)
    assert message.status is MessageStatus.SENT and message.attempts == 2


def test_the_outbox_sender_keeps_messages_in_the_database(session: Session) -> None:
    message = notification_service.queue(
        session=session, to="+919876543210", body="dev", kind="test"
    )
    assert message.id is not None
    notification_service.deliver(session=session, message_id=message.id, sender=OutboxSender())
    assert message.status is MessageStatus.SENT
    assert (message.provider_id or "").startswith("outbox-")
