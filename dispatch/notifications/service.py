"""The SMS outbox: queue a message with the change that causes it, then send it through the
`dispatch.ports.SmsSender` port once that change is committed.

Queueing in the same transaction as the booking means a message exists exactly when the
booking does; sending after the commit means a slow or failing SMS provider never holds a
phone call or a database lock: `send` claims a message in one short transaction (a conditional
update, so two senders never both send it), talks to the provider with no transaction open,
and records the answer in another. In development the port is an `OutboxSender`: it sends nothing
and the message stays in the `outbox_message` table, marked sent, for people to read.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.db import utcnow, write_session
from dispatch.errors import InvalidInput, NotFound
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.ports import SmsSender

log = logging.getLogger(__name__)

#: A message that failed this often stays failed; a person has to look at it.
MAX_ATTEMPTS = 5
#: A claim older than this is taken to be a sender that died while sending.
SENDING_LEASE = dt.timedelta(minutes=10)
#: Longer bodies are cut (a Unicode SMS segment holds 70 characters; ten segments at most).
MAX_BODY = 700


class OutboxSender(SmsSender):
    """The development backend of the SMS port: sends nothing, returns a local message id."""

    def send(self, *, to: str, body: str) -> str:
        return f"outbox-{uuid.uuid4().hex}"


def queue(
    *,
    session: Session,
    to: str,
    body: str,
    kind: str,
    request_id: int | None = None,
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
) -> OutboxMessage:
    """Queue an SMS to `to` (any Indian number form). A repeated `idempotency_key` returns the
    message queued the first time."""
    if idempotency_key is not None:
        existing = session.exec(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key)
        ).first()
        if existing is not None:
            return existing
    body = body.strip()
    if not body:
        raise InvalidInput("body", body, "an SMS needs words")
    message = OutboxMessage(
        to=validation.phone(to, field="to"),
        body=body[:MAX_BODY],
        kind=validation.text(kind, field="kind", max_length=40),
        request_id=request_id,
        created_at=now or utcnow(),
        idempotency_key=idempotency_key,
    )
    session.add(message)
    session.flush()
    return message


def claim(*, session: Session, message_id: int, now: dt.datetime) -> OutboxMessage | None:
    """Mark a message as being sent by this sender; None if it is sent, given up on, or being
    sent by another sender (a claim older than `SENDING_LEASE` is taken over: that sender died).
    A conditional update, so two senders never both win."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("outbox message", message_id)
    if message.status is MessageStatus.SENT or message.attempts >= MAX_ATTEMPTS:
        return None
    if (
        message.status is MessageStatus.SENDING
        and message.claimed_at is not None
        and now - message.claimed_at < SENDING_LEASE
    ):
        return None
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    claimed = session.execute(
        sa.update(table)
        .where(
            table.c.id == message_id,
            table.c.attempts == message.attempts,
            table.c.status != MessageStatus.SENT.value,
        )
        .values(attempts=message.attempts + 1, status=MessageStatus.SENDING.value, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(message)
    return message if claimed.rowcount == 1 else None  # type: ignore[attr-defined]


def record(
    *, session: Session, message_id: int, provider_id: str | None, now: dt.datetime
) -> OutboxMessage:
    """Record what the provider answered: its message id (sent) or None (failed)."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("outbox message", message_id)
    if provider_id is None:
        message.status = MessageStatus.FAILED
    else:
        message.status = MessageStatus.SENT
        message.provider_id = provider_id
        message.sent_at = now
    session.add(message)
    session.flush()
    return message


def send(
    *, engine: Engine, message_id: int, sender: SmsSender, now: dt.datetime | None = None
) -> MessageStatus | None:
    """Send one queued (or earlier failed) message: claim it in a short transaction, talk to
    the provider with no transaction open (a slow provider holds no lock), then record the
    outcome in another. Returns the message's status, or None if it was not ours to send."""
    now = now or utcnow()
    with write_session(engine) as session:
        message = claim(session=session, message_id=message_id, now=now)
        if message is None:
            return None
        to, body = message.to, message.body
    provider_id: str | None
    try:
        provider_id = sender.send(to=to, body=body)
    except Exception:  # the port's failures are the adapter's types; any of them is a failure
        log.exception("SMS %s to %s failed", message_id, validation.mask_phone(to))
        provider_id = None
    with write_session(engine) as session:
        return record(
            session=session, message_id=message_id, provider_id=provider_id, now=utcnow()
        ).status


def pending(
    *, session: Session, now: dt.datetime | None = None, limit: int = 50
) -> list[OutboxMessage]:
    """Messages still to send: queued, failed fewer than `MAX_ATTEMPTS` times, or claimed by
    a sender longer ago than `SENDING_LEASE` (it died while sending)."""
    now = now or utcnow()
    unsent = [MessageStatus.QUEUED.value, MessageStatus.FAILED.value]
    stmt = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.attempts) < MAX_ATTEMPTS,
            sa.or_(
                col(OutboxMessage.status).in_(unsent),
                sa.and_(
                    col(OutboxMessage.status) == MessageStatus.SENDING.value,
                    col(OutboxMessage.claimed_at) < now - SENDING_LEASE,
                ),
            ),
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return list(session.exec(stmt))


def for_request(*, session: Session, request_id: int) -> list[OutboxMessage]:
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.request_id == request_id)
        .order_by(col(OutboxMessage.id))
    )
    return list(session.exec(stmt))
