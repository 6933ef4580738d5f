"""How a field agent proves who they are, and the limit on guessing.

- On the phone menu: the caller ID the network gives must be an active agent's phone, and the
  agent keys their PIN (stored as an argon2 hash, never in plain).
- By SMS: the sender's number must be an active agent's phone.
- On the day page: a link signed with the secret key for one agent and one day (sent in the
  morning itinerary); it shows that day only and expires the day after.

Wrong PINs and wrong visit codes are audited and counted per agent; past
`settings.agent_failures_allowed` within `settings.agent_lockout_minutes`, the agent's reports
are refused until the window has passed (the office can still act).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.agents.models import Agent
from dispatch.audit import service as audit
from dispatch.audit.models import AuditEntry
from dispatch.config import Settings
from dispatch.errors import DispatchError, InvalidInput

AGENT = "agent"
PIN_FAILED = "pin_failed"
CODE_FAILED = "visit_code_failed"
PIN_DIGITS = (4, 6)
#: A day link works on its day and the morning after (late reports), no longer.
LINK_GRACE_DAYS = 1

_hasher = PasswordHasher()


class AgentLockedOut(DispatchError):
    """Too many wrong PINs or visit codes from this agent lately: reports refused for now."""

    def __init__(self, agent_id: int) -> None:
        super().__init__(f"agent {agent_id}: too many wrong codes; try again later")
        self.agent_id = agent_id


def set_pin(*, session: Session, agent_id: int, pin: str, actor: str) -> None:
    """Give the agent a new phone-menu PIN (4 to 6 digits)."""
    digits = pin.strip()
    if not (digits.isdigit() and PIN_DIGITS[0] <= len(digits) <= PIN_DIGITS[1]):
        raise InvalidInput("pin", "****", "a PIN is 4 to 6 digits")
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise InvalidInput("agent", agent_id, "no such agent")
    agent.pin_hash = _hasher.hash(digits)
    session.add(agent)
    audit.record(session=session, actor=actor, entity=AGENT, entity_id=agent_id, action="pin_set")
    session.flush()


def pin_matches(agent: Agent, pin: str) -> bool:
    if not agent.pin_hash or not pin:
        return False
    try:
        return _hasher.verify(agent.pin_hash, pin.strip())
    except (VerificationError, InvalidHashError):
        return False


def by_phone(*, session: Session, phone: str | None) -> Agent | None:
    """The active agent whose phone this is (a caller ID or an SMS sender), if any."""
    if not phone:
        return None
    try:
        number = validation.phone(phone)
    except InvalidInput:
        return None
    return session.exec(
        select(Agent).where(Agent.phone == number, col(Agent.active).is_(True))
    ).first()


def check_pin(
    *, session: Session, settings: Settings, agent: Agent, pin: str, now: dt.datetime
) -> bool:
    """Whether `pin` is the agent's PIN; a wrong one is counted. `AgentLockedOut` past the
    limit, whatever is keyed."""
    assert agent.id is not None
    ensure_not_locked(session=session, settings=settings, agent_id=agent.id, now=now)
    if pin_matches(agent, pin):
        return True
    record_failure(session=session, agent_id=agent.id, action=PIN_FAILED, now=now)
    return False


def record_failure(
    *, session: Session, agent_id: int, action: str, now: dt.datetime, key: str | None = None
) -> None:
    """Audit one wrong PIN or visit code by the agent (committed with the caller's answer).
    A report retried under the same idempotency `key` (a webhook sent again, a form posted
    twice) is one failure, not two."""
    if key is not None:
        seen = session.exec(
            select(AuditEntry.id).where(
                AuditEntry.entity == AGENT,
                AuditEntry.entity_id == str(agent_id),
                AuditEntry.action == action,
                AuditEntry.detail["key"].as_string() == key,
            )
        ).first()
        if seen is not None:
            return
    audit.record(
        session=session,
        actor=f"agent:{agent_id}",
        entity=AGENT,
        entity_id=agent_id,
        action=action,
        at=now,
        **({"key": key} if key is not None else {}),
    )
    session.flush()


def recent_failures(
    *, session: Session, settings: Settings, agent_id: int, now: dt.datetime
) -> int:
    return audit.count(
        session=session,
        entity=AGENT,
        entity_id=agent_id,
        actions=(PIN_FAILED, CODE_FAILED),
        since=now - dt.timedelta(minutes=settings.agent_lockout_minutes),
        until=now,
    )


def ensure_not_locked(
    *, session: Session, settings: Settings, agent_id: int, now: dt.datetime
) -> None:
    failures = recent_failures(session=session, settings=settings, agent_id=agent_id, now=now)
    if failures >= settings.agent_failures_allowed:
        raise AgentLockedOut(agent_id)


# --- the signed day link -----------------------------------------------------------------


def _signature(settings: Settings, agent_id: int, day: dt.date) -> str:
    secret = settings.secret_key.get_secret_value().encode()
    mac = hmac.new(secret, f"agent-day:{agent_id}:{day.isoformat()}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:12]).decode().rstrip("=")


def day_token(*, settings: Settings, agent_id: int, day: dt.date) -> str:
    """`<agent>-<yymmdd>-<signature>`: short enough for an SMS, unguessable without the key."""
    return f"{agent_id}-{day:%y%m%d}-{_signature(settings, agent_id, day)}"


def read_day_token(*, settings: Settings, token: str, today: dt.date) -> tuple[int, dt.date] | None:
    """The agent and day a token was signed for, if its signature holds and it has not
    expired; None otherwise (a forged, mistyped or old link)."""
    try:
        agent_part, day_part, given = token.split("-", 2)
        agent_id = int(agent_part)
        day = dt.datetime.strptime(day_part, "%y%m%d").date()
    except ValueError:
        return None
    if not hmac.compare_digest(_signature(settings, agent_id, day), given):
        return None
    if not day - dt.timedelta(days=1) <= today <= day + dt.timedelta(days=LINK_GRACE_DAYS):
        return None
    return agent_id, day
