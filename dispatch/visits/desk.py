"""The console's use cases for a request: a dispatcher moves its visit to another agent or
raises its priority.

`reassign` and `raise_priority` run like every visit use case (`dispatch.visits.once.run_once`,
`UseCase.REASSIGN` / `UseCase.RAISE_PRIORITY`): one call and one all-or-nothing unit each (a
savepoint of the caller's transaction), recorded under its idempotency key in `visit_command`
with what it was asked and what it answered. A retry under the same key returns the first
outcome and changes nothing again; the same key with other arguments is refused
(`KeyReused`). Each is also audited on the request (`audit_entry`, entity "request") with the
actor and what changed. Two different keys at the very same moment cannot both act either:
each change is a conditional update of the request's version, so the second gets `Conflict`.

A reassignment sticks: the chosen agent is recorded on the request and every later re-plan
keeps the visit with them (`dispatch.planning.reassign`), until the visit is rescheduled or
cancelled.

Rescheduling and cancelling stay in `dispatch.visits.service`, where staff act for the citizen
with `dispatch.visits.proof.StaffActing`. `settlement_if_cancelled` tells, before anyone
confirms, what cancelling would refund and waive.

Not here: the planning behind a move (`dispatch.planning.reassign`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlmodel import Session

from dispatch.audit import service as audit
from dispatch.db import utcnow
from dispatch.errors import InvalidInput, InvalidTransition
from dispatch.ledger import rules as ledger_rules
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind
from dispatch.planning import reassign as planning_reassign
from dispatch.planning.reassign import MOST_URGENT, AgentCannotTake
from dispatch.requests import rules as request_rules
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.visits import rules
from dispatch.visits.models import UseCase
from dispatch.visits.once import KeyReused, run_once

#: The audit actions on the request (the same words as the use cases).
REASSIGN = UseCase.REASSIGN.value
RAISE_PRIORITY = UseCase.RAISE_PRIORITY.value
ENTITY = "request"

__all__ = [
    "MOST_URGENT",
    "AgentCannotTake",
    "DeskResult",
    "KeyReused",
    "Settlement",
    "raise_priority",
    "reassign",
    "settlement_if_cancelled",
]


@dataclass(frozen=True)
class DeskResult:
    """What a desk command did: the request's agent and priority as it left them."""

    action: str
    request_id: int
    reference: str
    agent_id: int | None
    priority: int
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("replayed")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeskResult:
        agent = data.get("agent_id")
        return cls(
            action=str(data["action"]),
            request_id=int(data["request_id"]),
            reference=str(data["reference"]),
            agent_id=int(agent) if agent is not None else None,
            priority=int(data["priority"]),
            replayed=True,
        )


def _result(action: str, request: DoorstepRequest) -> DeskResult:
    assert request.id is not None
    return DeskResult(
        action=action,
        request_id=request.id,
        reference=request.reference,
        agent_id=request.agent_id,
        priority=request.priority,
    )


def reassign(
    *,
    session: Session,
    idempotency_key: str,
    actor: str,
    request_id: int,
    agent_id: int,
    now: dt.datetime | None = None,
) -> DeskResult:
    """Move the request's planned visit to `agent_id`, an agent on duty in its district on its
    day, within its window, and keep it with them through later re-plans
    (`dispatch.planning.reassign.move_visit`). `InvalidInput` if it is with that agent already
    or has no planned visit, `InvalidTransition` once the agent is on the way,
    `AgentCannotTake` if that agent's day has no place for it."""
    now = now or utcnow()
    asked = rules.fingerprint(UseCase.REASSIGN, request=request_id, agent=agent_id)

    def run() -> DeskResult:
        before = request_service.get(session=session, request_id=request_id)
        if before.agent_id == agent_id:
            raise InvalidInput("agent_id", agent_id, f"{before.reference} is with this agent")
        from_agent = before.agent_id
        moved = planning_reassign.move_visit(
            session=session, request_id=request_id, agent_id=agent_id, actor=actor
        )
        audit.record(
            session=session,
            actor=actor,
            entity=ENTITY,
            entity_id=request_id,
            action=REASSIGN,
            at=now,
            from_agent=from_agent,
            to_agent=agent_id,
        )
        session.flush()
        return _result(REASSIGN, moved)

    return run_once(
        session, idempotency_key, UseCase.REASSIGN, asked, actor, now, run, DeskResult.from_json
    )


def raise_priority(
    *,
    session: Session,
    idempotency_key: str,
    actor: str,
    request_id: int,
    priority: int,
    now: dt.datetime | None = None,
) -> DeskResult:
    """Set an open request's priority to `priority`, higher than it is and at most
    `MOST_URGENT`, so the planner prefers it; a planned visit's zone-day is marked for the
    scheduled re-plan. `InvalidInput` for a level that is not higher, `InvalidTransition` for
    a closed request."""
    now = now or utcnow()
    asked = rules.fingerprint(UseCase.RAISE_PRIORITY, request=request_id, priority=priority)

    def run() -> DeskResult:
        request = request_service.get(session=session, request_id=request_id)
        if request.status in request_rules.TERMINAL:
            raise InvalidTransition(request.status, request.status, "the request is closed")
        if not request.priority < priority <= MOST_URGENT:
            raise InvalidInput(
                "priority",
                priority,
                f"choose a level above {request.priority}, up to {MOST_URGENT}",
            )
        before = request.priority
        raised = request_service.update(
            session=session, request_id=request_id, actor=actor, priority=priority
        )
        day = planning_reassign.visit_day(session, raised)
        if day is not None and raised.status in request_rules.PLANNED:
            planning_reassign.mark_for_replan(
                session=session, district_id=raised.district_id, day=day
            )
        audit.record(
            session=session,
            actor=actor,
            entity=ENTITY,
            entity_id=request_id,
            action=RAISE_PRIORITY,
            at=now,
            from_priority=before,
            to_priority=priority,
        )
        session.flush()
        return _result(RAISE_PRIORITY, raised)

    return run_once(
        session,
        idempotency_key,
        UseCase.RAISE_PRIORITY,
        asked,
        actor,
        now,
        run,
        DeskResult.from_json,
    )


# --- before cancelling -------------------------------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    """What cancelling would do to the request's money now (paise)."""

    refund_paise: int
    waive_paise: int


def settlement_if_cancelled(*, session: Session, request_id: int) -> Settlement:
    """The refund and waiver the rule (`ledger.rules.settlement_on_close`) would give if the
    request were cancelled now."""
    moves = ledger_rules.settlement_on_close(
        ledger_service.balance(session=session, request_id=request_id)
    )
    amounts = dict.fromkeys(EntryKind, 0)
    for kind, amount in moves:
        amounts[kind] += amount
    return Settlement(refund_paise=amounts[EntryKind.REFUND], waive_paise=amounts[EntryKind.WAIVE])
