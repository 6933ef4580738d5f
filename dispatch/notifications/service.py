"""The SMS outbox: queue a message with the change that causes it, then send it through the
`dispatch.ports.SmsSender` port once that change is committed.

Queueing in the same transaction as the booking means a message exists exactly when the
booking does; sending after the commit means a slow or failing SMS provider never holds a
phone call or a database lock: `send` claims a message in one short transaction (a conditional
update, so two senders never both send it), talks to the provider with no transaction open,
and records the answer in another.

What the provider answered decides what happens next (`rules`): accepted -> `sent`; surely
refused -> tried again later with exponential backoff, `failed` after about twelve hours (or at
once when the refusal is permanent); no answer after the request went out -> `uncertain`,
never sent again by itself, since the citizen may already have it. A person may re-send a
`failed`, `uncertain` or `undelivered` message (`resend`, audited). Delivery reports are
`dispatch.notifications.delivery`. In development the port is an `OutboxSender`: it sends
nothing and the message stays in the `outbox_message` table, marked sent, for people to read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.audit import service as audit
from dispatch.config import REPO_ROOT
from dispatch.db import utcnow, write_session
from dispatch.errors import InvalidInput, InvalidTransition, NotFound
from dispatch.notifications import dlt, rules, segments
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.ports import SmsNotAccepted, SmsOutcomeUnknown, SmsSender

log = logging.getLogger(__name__)

#: A claim older than this is a sender that stopped while sending: the message is `uncertain`.
SENDING_LEASE = dt.timedelta(minutes=10)
#: Longer bodies are cut (a Unicode SMS segment holds 67 characters; ten segments at most).
MAX_BODY = 670
#: Where the registered DLT templates are read from when `queue` is given none.
DLT_FOLDER = REPO_ROOT / "seed_data" / "messages"

_TABLE: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]


class OutboxSender(SmsSender):
    """The development backend of the SMS port: sends nothing, returns a local message id."""

    def send(
        self,
        *,
        to: str,
        body: str,
        template_id: str | None = None,
        reference: str | None = None,
    ) -> str:
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
    template: str | None = None,
    language: str | None = None,
    registrations: dlt.Registrations | None = None,
) -> OutboxMessage:
    """Queue an SMS to `to` (any Indian number form). A repeated `idempotency_key` returns the
    message queued the first time.

    `template` is the message key the body was written from (e.g. "booked") and `language` the
    language of its words: with both, the message carries its registered DLT template ID
    (from `registrations`, by default `seed_data/messages/dlt.csv`). A message without a
    registration, or whose body does not fit it, is still queued, and logged: carriers may
    drop it. Counts the body's segments and encoding."""
    if idempotency_key is not None:
        existing = session.exec(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key)
        ).first()
        if existing is not None:
            return existing
    body = body.strip()
    if not body:
        raise InvalidInput("body", body, "an SMS needs words")
    body = body[:MAX_BODY]
    cost = segments.count(body)
    template_id = None
    if template is not None:
        template = validation.text(template, field="template", max_length=40)
        language = validation.text(language or "", field="language", max_length=8)
        template_id = _dlt_template_id(
            registrations or dlt.load(DLT_FOLDER), template, language, body
        )
    elif language is not None:
        language = validation.text(language, field="language", max_length=8)
    message = OutboxMessage(
        to=validation.phone(to, field="to"),
        body=body,
        kind=validation.text(kind, field="kind", max_length=40),
        request_id=request_id,
        created_at=now or utcnow(),
        idempotency_key=idempotency_key,
        segments=cost.segments,
        encoding=cost.encoding.value,
        template=template,
        language=language,
        dlt_template_id=template_id,
    )
    session.add(message)
    session.flush()
    return message


def _dlt_template_id(
    registrations: dlt.Registrations, template: str, language: str, body: str
) -> str | None:
    registration = registrations.get(template, language)
    if registration is None:
        log.warning("no DLT template registered for message %r in %r", template, language)
        return None
    if not registration.admits(body):
        log.warning(
            "message %r in %r does not fit its DLT template %s: carriers may drop it",
            template,
            language,
            registration.template_id,
        )
    return registration.template_id


def get(*, session: Session, message_id: int) -> OutboxMessage:
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("outbox message", message_id)
    return message


def claim(*, session: Session, message_id: int, now: dt.datetime) -> OutboxMessage | None:
    """Mark a queued message that is due as being sent by this sender; None if it is not ours
    to send (sent, given up on, uncertain, not due yet, or claimed by another sender). A
    conditional update, so two senders never both win."""
    message = get(session=session, message_id=message_id)
    if message.status is not MessageStatus.QUEUED:
        return None
    if message.next_attempt_at is not None and message.next_attempt_at > now:
        return None
    claimed = session.execute(
        sa.update(_TABLE)
        .where(
            _TABLE.c.id == message_id,
            _TABLE.c.attempts == message.attempts,
            _TABLE.c.status == MessageStatus.QUEUED.value,
        )
        .values(attempts=message.attempts + 1, status=MessageStatus.SENDING.value, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(message)
    return message if claimed.rowcount == 1 else None  # type: ignore[attr-defined]


def _still_ours(message_id: int, attempt: int) -> Any:
    """The row is still claimed for this attempt (no delivery report got there first)."""
    return sa.and_(
        _TABLE.c.id == message_id,
        _TABLE.c.attempts == attempt,
        _TABLE.c.status == MessageStatus.SENDING.value,
    )


def record_sent(
    *, session: Session, message_id: int, attempt: int, provider_id: str, now: dt.datetime
) -> OutboxMessage:
    """The provider took attempt `attempt`: it is `sent`, under the provider's id. What the
    provider said about an earlier attempt is forgotten. If a delivery report for this attempt
    came first, it stands; only the id and time are filled in."""
    updated = session.execute(
        sa.update(_TABLE)
        .where(_still_ours(message_id, attempt))
        .values(
            status=MessageStatus.SENT.value,
            provider_id=provider_id,
            sent_at=now,
            failures=0,
            next_attempt_at=None,
            provider_status=None,
            error_code=None,
            last_error=None,
            reported_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(
            sa.update(_TABLE)
            .where(_TABLE.c.id == message_id, _TABLE.c.sent_at.is_(None))
            .values(sent_at=now)
            .execution_options(synchronize_session=False)
        )
    return _fresh(session, message_id)


def record_refused(
    *,
    session: Session,
    message_id: int,
    attempt: int,
    reason: str,
    code: str | None = None,
    permanent: bool = False,
    now: dt.datetime,
) -> OutboxMessage:
    """The provider surely does not have attempt `attempt`: queue it again after the backoff,
    or give it up (`failed`) when the refusal is permanent or has happened too often."""
    message = get(session=session, message_id=message_id)
    failures = message.failures + 1
    values: dict[str, Any] = {
        "failures": failures,
        "last_error": reason[:200],
        "error_code": code[:16] if code else None,
    }
    if permanent or rules.gives_up(failures):
        values.update(status=MessageStatus.FAILED.value, next_attempt_at=None)
    else:
        values.update(
            status=MessageStatus.QUEUED.value, next_attempt_at=now + rules.retry_wait(failures)
        )
    session.execute(
        sa.update(_TABLE)
        .where(_still_ours(message_id, attempt))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return _fresh(session, message_id)


def record_uncertain(
    *, session: Session, message_id: int, attempt: int, reason: str
) -> OutboxMessage:
    """Attempt `attempt` may have reached the provider: `uncertain`, never retried by itself."""
    session.execute(
        sa.update(_TABLE)
        .where(_still_ours(message_id, attempt))
        .values(status=MessageStatus.UNCERTAIN.value, last_error=reason[:200], next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return _fresh(session, message_id)


def _fresh(session: Session, message_id: int) -> OutboxMessage:
    message = get(session=session, message_id=message_id)
    session.refresh(message)
    return message


def send(
    *, engine: Engine, message_id: int, sender: SmsSender, now: dt.datetime | None = None
) -> MessageStatus | None:
    """Send one queued message that is due: claim it in a short transaction, talk to the
    provider with no transaction open (a slow provider holds no lock), then record what it
    answered in another. Returns the message's status, or None if it was not ours to send."""
    claimed_at = now or utcnow()
    with write_session(engine) as session:
        message = claim(session=session, message_id=message_id, now=claimed_at)
        if message is None:
            return None
        attempt = message.attempts
        to, body, template_id = message.to, message.body, message.dlt_template_id
    masked = validation.mask_phone(to)
    provider_id: str | None = None
    refused: SmsNotAccepted | None = None
    unknown: str | None = None
    try:
        provider_id = _send_through(
            sender,
            to=to,
            body=body,
            template_id=template_id,
            reference=rules.reference(message_id, attempt),
        )
    except SmsOutcomeUnknown as exc:
        log.warning("SMS %s to %s: outcome unknown (%s)", message_id, masked, exc.reason)
        unknown = exc.reason
    except SmsNotAccepted as exc:
        log.warning("SMS %s to %s not accepted: %s", message_id, masked, exc.reason)
        refused = exc
    except Exception as exc:  # an adapter that cannot tell raises SmsOutcomeUnknown
        log.exception("SMS %s to %s failed", message_id, masked)
        refused = SmsNotAccepted(f"{type(exc).__name__}: {exc}")
    answered_at = now or utcnow()
    with write_session(engine) as session:
        if provider_id is not None:
            stored = record_sent(
                session=session,
                message_id=message_id,
                attempt=attempt,
                provider_id=provider_id,
                now=answered_at,
            )
        elif refused is not None:
            stored = record_refused(
                session=session,
                message_id=message_id,
                attempt=attempt,
                reason=refused.reason,
                code=refused.code,
                permanent=refused.permanent,
                now=answered_at,
            )
        else:
            stored = record_uncertain(
                session=session, message_id=message_id, attempt=attempt, reason=unknown or ""
            )
        return stored.status


def _send_through(
    sender: SmsSender, *, to: str, body: str, template_id: str | None, reference: str
) -> str:
    """Call the port; a sender written before the port grew `template_id` and `reference`
    (two keyword arguments it may ignore) is given only what it takes."""
    extras: dict[str, str | None] = {"template_id": template_id, "reference": reference}
    parameters: Mapping[str, inspect.Parameter] = {}
    with contextlib.suppress(TypeError, ValueError):  # no signature to read: give it all
        parameters = inspect.signature(sender.send).parameters
    if parameters and not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        extras = {name: value for name, value in extras.items() if name in parameters}
    provider_id = sender.send(to=to, body=body, **extras)
    if not isinstance(provider_id, str) or not provider_id:
        raise SmsOutcomeUnknown(f"the sender returned no message id: {provider_id!r}")
    return provider_id


def pending(
    *,
    session: Session,
    now: dt.datetime | None = None,
    limit: int = 50,
    created_before: dt.datetime | None = None,
) -> list[OutboxMessage]:
    """Messages to send now: queued, and due (never tried, or their retry time has come);
    with `created_before`, only those queued before it (younger ones are left to the request
    that queued them, and must not fill the `limit` ahead of older ones)."""
    now = now or utcnow()
    stmt = select(OutboxMessage).where(
        col(OutboxMessage.status) == MessageStatus.QUEUED.value,
        sa.or_(
            col(OutboxMessage.next_attempt_at).is_(None),
            col(OutboxMessage.next_attempt_at) <= now,
        ),
    )
    if created_before is not None:
        stmt = stmt.where(col(OutboxMessage.created_at) <= created_before)
    return list(session.exec(stmt.order_by(col(OutboxMessage.id)).limit(limit)))


def settle_abandoned(*, session: Session, now: dt.datetime) -> int:
    """Claims older than `SENDING_LEASE` belong to a sender that stopped while sending: the
    provider may have the message, so it is `uncertain` (a person decides), never re-sent."""
    result = session.execute(
        sa.update(_TABLE)
        .where(
            _TABLE.c.status == MessageStatus.SENDING.value,
            _TABLE.c.claimed_at < now - SENDING_LEASE,
        )
        .values(
            status=MessageStatus.UNCERTAIN.value,
            last_error="the sender stopped while sending",
        )
        .execution_options(synchronize_session=False)
    )
    count: int = result.rowcount  # type: ignore[attr-defined]
    if count:
        log.warning("%d SMS left mid-send are now uncertain", count)
    return count


def resend(
    *, session: Session, message_id: int, actor: str, now: dt.datetime | None = None
) -> OutboxMessage:
    """Queue a `failed`, `uncertain` or `undelivered` message again, to go at once, with its
    backoff started afresh; audited. `InvalidTransition` for any other status, and when the
    message changed meanwhile (a delivery report settled it, another person re-sent it)."""
    now = now or utcnow()
    message = get(session=session, message_id=message_id)
    before = message.status
    if before not in rules.RESENDABLE:
        raise InvalidTransition(before.value, MessageStatus.QUEUED.value, "nothing to re-send")
    updated = session.execute(
        sa.update(_TABLE)
        .where(_TABLE.c.id == message_id, _TABLE.c.status == before.value)
        .values(
            status=MessageStatus.QUEUED.value,
            failures=0,
            next_attempt_at=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(message)
        raise InvalidTransition(message.status.value, MessageStatus.QUEUED.value, "it changed")
    audit.record(
        session=session,
        actor=actor,
        entity="outbox_message",
        entity_id=message_id,
        action="resend",
        at=now,
        status=before.value,
        attempts=message.attempts,
        provider_id=message.provider_id,
        error_code=message.error_code,
    )
    session.flush()
    return _fresh(session, message_id)


def recent(
    *, session: Session, status: MessageStatus | None = None, limit: int = 200
) -> list[OutboxMessage]:
    """The newest messages first, of one status or all."""
    stmt = select(OutboxMessage)
    if status is not None:
        stmt = stmt.where(col(OutboxMessage.status) == status.value)
    stmt = stmt.order_by(col(OutboxMessage.id).desc()).limit(limit)
    return list(session.exec(stmt))


def counts(*, session: Session) -> dict[MessageStatus, int]:
    """How many messages are in each status."""
    stmt = select(col(OutboxMessage.status), sa.func.count()).group_by(col(OutboxMessage.status))
    return {MessageStatus(status): number for status, number in session.exec(stmt)}


def for_request(*, session: Session, request_id: int) -> list[OutboxMessage]:
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.request_id == request_id)
        .order_by(col(OutboxMessage.id))
    )
    return list(session.exec(stmt))
