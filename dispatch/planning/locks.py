"""Route locks: a dispatcher fixes one agent's route of a district-day.

A locked route keeps its visits with that agent, in their order, through every re-plan (the
console's and the scheduled improvement alike): `dispatch.planning.zone.load` pins them as the
agent's fixed first stops. Bookings may still add to a locked route, after its locked visits
only (the slot finder inserts behind a fixed prefix); a visit added so becomes part of the
locked route on the next load. A locked visit the agent can no longer reach in its window is
still left out by a re-plan (the solver keeps the longest feasible part of a fixed prefix), as
it would be from any route.

Locking or unlocking makes the zone-day's current plan its next version, stops unchanged
(`store.restamp`): a plan computed before — a re-plan searching while the dispatcher locks, a
booking's insertion — is then outdated and computed again with the lock, never saved over it.

Holds the lock and unlock commands (audited, idempotent) and the query of a zone-day's locks.
It does not plan: see `zone` and `service`.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select

from dispatch.agents.models import Agent
from dispatch.audit import service as audit
from dispatch.errors import InvalidInput, NotFound
from dispatch.geography.models import Block, District
from dispatch.planning import store
from dispatch.planning.models import RouteLock

ENTITY = "route"


def _entity_id(district_id: int, day: dt.date, agent_id: int) -> str:
    return f"{district_id}/{day}/{agent_id}"


def of_zone_day(*, session: Session, district_id: int, day: dt.date) -> dict[int, RouteLock]:
    """The zone-day's locks by agent id."""
    rows = session.exec(
        select(RouteLock).where(RouteLock.district_id == district_id, RouteLock.day == day)
    )
    return {lock.agent_id: lock for lock in rows}


def locked_agents(*, session: Session, district_id: int, day: dt.date) -> frozenset[int]:
    """Ids of the agents whose route of the zone-day is locked."""
    rows = session.exec(
        select(col(RouteLock.agent_id)).where(
            RouteLock.district_id == district_id, RouteLock.day == day
        )
    )
    return frozenset(int(a) for a in rows)


def _check_agent(session: Session, district_id: int, agent_id: int) -> Agent:
    """The agent, who must work in the district; an agent of another state is not found (a
    dispatcher of one state learns nothing of another's agents)."""
    agent = session.get(Agent, agent_id)
    block = session.get(Block, agent.block_id) if agent is not None else None
    theirs = session.get(District, block.district_id) if block is not None else None
    zone = session.get(District, district_id)
    if agent is None or theirs is None or zone is None or theirs.state_code != zone.state_code:
        raise NotFound("agent", agent_id)
    if theirs.id != district_id:
        raise InvalidInput("agent_id", agent_id, "the agent does not work in this district")
    return agent


def lock(
    *, session: Session, district_id: int, day: dt.date, agent_id: int, actor: str
) -> RouteLock:
    """Lock the agent's route of the zone-day (a route already locked stays as it is): a new
    version of its plan, so a plan computed without the lock is not saved."""
    _check_agent(session, district_id, agent_id)
    found = session.get(RouteLock, (district_id, day, agent_id))
    if found is not None:
        return found
    try:
        with session.begin_nested():
            made = RouteLock(district_id=district_id, day=day, agent_id=agent_id, locked_by=actor)
            session.add(made)
            session.flush()
    except sa.exc.IntegrityError:  # another dispatcher locked it a moment ago
        again = session.get(RouteLock, (district_id, day, agent_id), populate_existing=True)
        assert again is not None
        return again
    _restamped(session, district_id, day, agent_id, actor, "lock")
    return made


def _restamped(
    session: Session, district_id: int, day: dt.date, agent_id: int, actor: str, action: str
) -> None:
    """A lock changed: a new version of the zone-day's plan (so a search begun before it cannot
    save over it), audited with that version."""
    version = store.restamp(session=session, district_id=district_id, day=day)
    audit.record(
        session=session,
        actor=actor,
        entity=ENTITY,
        entity_id=_entity_id(district_id, day, agent_id),
        action=action,
        version=version,
    )


def unlock(*, session: Session, district_id: int, day: dt.date, agent_id: int, actor: str) -> bool:
    """Unlock the agent's route of the zone-day (a new version of its plan); False if it was
    not locked."""
    _check_agent(session, district_id, agent_id)
    result = session.execute(
        delete(RouteLock).where(
            col(RouteLock.district_id) == district_id,
            col(RouteLock.day) == day,
            col(RouteLock.agent_id) == agent_id,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    _restamped(session, district_id, day, agent_id, actor, "unlock")
    return True
