"""Delivery reports: what the SMS provider later says about a message it took (queued, sent,
delivered, undelivered, failed, with its error code), applied to the outbox.

A report names the message by the provider's id and, when we asked for reports with a
reference (`rules.reference`: our message id and attempt number), by ours too; the reference
is what settles an `uncertain` message, whose provider id never reached us. Reports may come
twice, late, or out of order: a report only ever moves the provider's status forward
(`rules.moves_forward`), so delivered stays delivered. A report about a message we do not know
changes nothing. The HTTP side (signature, form fields) is the adapter's (`ivr.sms_status`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from dispatch.notifications import rules
from dispatch.notifications.models import OutboxMessage

log = logging.getLogger(__name__)

_TABLE: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
#: Reads and conditional writes before giving up on a message other writers keep changing.
_TRIES = 3


def report(
    *,
    session: Session,
    provider_id: str,
    status: str,
    error_code: str | None = None,
    reference: str | None = None,
    now: dt.datetime,
) -> OutboxMessage | None:
    """Apply one delivery report; the message it is about (changed or not), or None when no
    message matches. A conditional update: two reports at once never both win."""
    status = status.strip().lower()
    if not provider_id:
        return None
    error_code = (error_code or "").strip()[:16] or None
    for _ in range(_TRIES):
        message = _match(session, provider_id=provider_id, reference=reference)
        if message is None:
            return None
        same_attempt_id = message.provider_id == provider_id
        seen = message.provider_status if same_attempt_id else None
        if not rules.moves_forward(seen, status):
            return message
        ours = rules.OUR_STATUS[status]
        values: dict[str, Any] = {
            "provider_id": provider_id,
            "provider_status": status,
            "error_code": error_code,
            "reported_at": now,
            "status": ours.value,
            "next_attempt_at": None,
        }
        if message.sent_at is None:
            values["sent_at"] = now
        if error_code:
            values["last_error"] = f"provider reports {status}, error {error_code}"
        updated = session.execute(
            sa.update(_TABLE)
            .where(
                _TABLE.c.id == message.id,
                _TABLE.c.status == message.status.value,
                _TABLE.c.attempts == message.attempts,
                _TABLE.c.provider_id.is_not_distinct_from(message.provider_id),
                _TABLE.c.provider_status.is_not_distinct_from(message.provider_status),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.refresh(message)
        if updated.rowcount == 1:  # type: ignore[attr-defined]
            log.info("SMS %s: provider reports %s", message.id, status)
            return message
    log.warning("SMS report for %s not applied: the message kept changing", provider_id)
    return message


def _match(session: Session, *, provider_id: str, reference: str | None) -> OutboxMessage | None:
    """The message named by our reference (only for its latest attempt), else by provider id."""
    ours = rules.parse_reference(reference)
    if ours is not None:
        message_id, attempt = ours
        message = session.get(OutboxMessage, message_id)
        if message is not None:
            session.refresh(message)
            if message.attempts == attempt:
                return message
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.provider_id == provider_id)
        .execution_options(populate_existing=True)
    )
    return session.exec(stmt).first()
