"""Who may act on a request, and the limit on guessing.

Three kinds of actor change a citizen's request (`dispatch.visits.service`), and a use case is
told which one it is dealing with by the type of what it is shown:

- `Proof`: the citizen themselves (the phone line).
- `StaffActing`: a console staff member acting on the citizen's behalf. The use case checks the
  account itself (active, of the request's state, a role allowed to change requests), so a
  staff path cannot be opened by anything but a real account; the citizen's number or visit
  code play no part in it, and no failed proof is counted for it.
- `PlannerActing`: the planner, moving a visit whose promised window it can no longer meet
  (`dispatch.visits.reoffer`); made only by domain code, never from an adapter's input.

A citizen proves they may see or change a request in one of two ways: by calling from the
phone number registered for them (the caller ID the telephone network gives, never a number
keyed in on the call), or by the 4-digit visit code that only their confirmation SMS carried.
Unknown requests and other people's requests get the same answer (`NotFound`), so references
cannot be probed. Failed proofs are counted per caller ID (hashed with the secret key: the
audit log holds no phone numbers) and audited; past the limit, that caller ID's proofs are
refused for a while, whatever they key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from sqlmodel import Session

from dispatch import validation
from dispatch.audit import service as audit
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.errors import InvalidInput, NotFound
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import Permission, allows
from dispatch.visits import rules

CALLER = "caller"
FAILED = "proof_failed"


@dataclass(frozen=True)
class Proof:
    """What an actor shows to act on a request: a caller ID and/or a visit code."""

    caller_id: str | None = None  # as the network gave it; a keyed-in number is not proof
    visit_code: str | None = None


@dataclass(frozen=True)
class StaffActing:
    """A console staff member acting for the citizen: their account's id (checked by the use
    case against the account as it is now, not as it was when the page was drawn)."""

    staff_user_id: int


@dataclass(frozen=True)
class PlannerActing:
    """The planner itself, moving a visit it can no longer make in its promised window
    (`dispatch.visits.reoffer`). Only domain code makes one: no adapter takes it from outside."""

    cause: str


#: Whoever may change a citizen's request: the citizen with their proof, staff for them, or
#: the planner when it cannot keep a promise.
Acting = Proof | StaffActing | PlannerActing


def caller_id_of(raw: str | None) -> str | None:
    """A caller ID as E.164, or None when it is withheld or not a phone number."""
    if not raw:
        return None
    try:
        return validation.phone(raw)
    except InvalidInput:
        return None


def may_act(*, session: Session, request: DoorstepRequest, proof: Proof) -> bool:
    """Whether `proof` lets its holder see or change `request`."""
    if rules.code_matches(request.visit_code, proof.visit_code):
        return True
    caller = caller_id_of(proof.caller_id)
    if caller is None:
        return False
    citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
    return hmac.compare_digest(citizen.phone, caller)


def staff_may_change(*, session: Session, request: DoorstepRequest, staff: StaffActing) -> bool:
    """Whether the staff account may change `request` for its citizen: active, of the
    request's state, with a role that changes requests."""
    user = session.get(StaffUser, staff.staff_user_id)
    return (
        user is not None
        and user.active
        and user.state_code == request.state_code
        and allows(user.role, Permission.CHANGE_REQUESTS)
    )


def authorised(*, session: Session, request_id: int, proof: Acting) -> DoorstepRequest:
    """The request, if `proof` (the citizen's, or a staff member's acting for them) lets its
    holder act on it; `NotFound` otherwise, the same answer for both."""
    request = session.get(DoorstepRequest, request_id)
    if request is None:
        raise NotFound("request", request_id)
    if isinstance(proof, PlannerActing):
        allowed = True
    elif isinstance(proof, StaffActing):
        allowed = staff_may_change(session=session, request=request, staff=proof)
    else:
        allowed = may_act(session=session, request=request, proof=proof)
    if not allowed:
        raise NotFound("request", request_id)
    return request


def by_reference(
    *, session: Session, reference: str, default_state: str, proof: Proof
) -> DoorstepRequest:
    """The request with this reference if `proof` allows: `InvalidReference` for a mistyped
    number (its check digit is public), `NotFound` alike for unknown and not-yours."""
    try:
        request = request_service.get_by_reference(
            session=session, reference=reference, default_state=default_state
        )
    except NotFound:
        raise NotFound("request", "not found or not yours") from None
    if not may_act(session=session, request=request, proof=proof):
        raise NotFound("request", "not found or not yours")
    return request


# --- failed proofs, per caller ID -------------------------------------------------------------


def caller_key(settings: Settings, caller: str | None) -> str:
    """The caller ID as it is kept in the audit log: a keyed hash (withheld IDs share one)."""
    secret = settings.secret_key.get_secret_value().encode()
    digest = hmac.new(secret, (caller or "withheld").encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def record_failure(
    *,
    session: Session,
    settings: Settings,
    caller: str | None,
    what: str,
    actor: str,
    now: dt.datetime,
) -> int:
    """Audit one failed proof from `caller`; returns this caller ID's recent failures."""
    audit.record(
        session=session,
        actor=actor,
        entity=CALLER,
        entity_id=caller_key(settings, caller),
        action=FAILED,
        at=now,
        what=what,
    )
    session.flush()
    return recent_failures(session=session, settings=settings, caller=caller, now=now)


def recent_failures(
    *, session: Session, settings: Settings, caller: str | None, now: dt.datetime
) -> int:
    return audit.count(
        session=session,
        entity=CALLER,
        entity_id=caller_key(settings, caller),
        actions=(FAILED,),
        since=now - dt.timedelta(minutes=settings.proof_lockout_minutes),
    )


def locked_out(
    *, session: Session, settings: Settings, caller: str | None, now: dt.datetime
) -> bool:
    """Whether this caller ID has failed too often lately to be allowed another try."""
    failures = recent_failures(session=session, settings=settings, caller=caller, now=now)
    return failures >= settings.proof_failures_allowed
