"""The SMS outbox: queue a message with the change that causes it, then send it through the
`dispatch.ports.SmsSender` port once that change is committed.

Queueing in the same transaction as the booking means a message exists exactly when the
booking does; sending after the commit means a slow or failing SMS provider never holds a
phone call or a database lock. `deliver` claims a message with a conditional update, so two
senders never send it twice. In development the port is an `OutboxSender`: it sends nothing
and the message stays in the `outbox_message` table, marked sent, for people to read.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.db import utcnow
from dispatch.errors import InvalidInput, NotFound
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.ports import SmsSender

log = logging.getLogger(__name__)

#: A message that failed this often stays failed; a person has to look at it.
MAX_ATTEMPTS = 5
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


def deliver(
    *, session: Session, message_id: int, sender: SmsSender, now: dt.datetime | None = None
) -> OutboxMessage:
    """Send one queued (or earlier failed) message through `sender` and record the outcome.

    A message already sent, given up on, or claimed by another sender is left alone.
    """
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("outbox message", message_id)
    if message.status is MessageStatus.SENT or message.attempts >= MAX_ATTEMPTS:
        return message
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    claimed = session.execute(
        sa.update(table)
        .where(
            table.c.id == message_id,
            table.c.attempts == message.attempts,
            table.c.status != MessageStatus.SENT.value,
        )
        .values(attempts=message.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(message)
        return message
    session.refresh(message)
    try:
        provider_id = sender.send(to=message.to, body=message.body)
    except Exception:  # the port's failures are the adapter's types; any of them is a failure
        log.exception("SMS %s to %s failed", message_id, validation.mask_phone(message.to))
        message.status = MessageStatus.FAILED
    else:
        message.status = MessageStatus.SENT
        message.provider_id = provider_id
        message.sent_at = now or utcnow()
    session.add(message)
    session.flush()
    return message


def pending(*, session: Session, limit: int = 50) -> list[OutboxMessage]:
    """Messages still to send: queued, or failed fewer than `MAX_ATTEMPTS` times."""
    stmt = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.status).in_([MessageStatus.QUEUED.value, MessageStatus.FAILED.value]),
            col(OutboxMessage.attempts) < MAX_ATTEMPTS,
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
