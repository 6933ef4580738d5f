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
from dispatch.errors import Conflict, InvalidInput, NotFound
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


class LockChangedMeanwhile(Conflict):
    """A lock or unlock asked from a form drawn before the route's lock last changed (the
    form sent again, or left open while another dispatcher changed it): nothing done."""

    def __init__(self, district_id: int, day: dt.date, agent_id: int) -> None:
        key = _entity_id(district_id, day, agent_id)
        super().__init__(
            ENTITY, key, "locked or unlocked by someone else since this form was drawn"
        )


def route_version(*, session: Session, district_id: int, day: dt.date, agent_id: int) -> int:
    """The version of the agent's route lock of the zone-day a lock form carries: the id of
    its latest lock or unlock audit entry (0 before any)."""
    return audit.latest_id(
        session=session, entity=ENTITY, entity_id=_entity_id(district_id, day, agent_id)
    )


def _check_version(
    session: Session, district_id: int, day: dt.date, agent_id: int, version: int | None
) -> None:
    if version is None:
        return
    # The agent's row held (PostgreSQL) so two dispatchers' forms drawn at the same version
    # cannot both pass; SQLite's writes are serial.
    session.exec(select(Agent.id).where(Agent.id == agent_id).with_for_update()).one()
    if version != route_version(
        session=session, district_id=district_id, day=day, agent_id=agent_id
    ):
        raise LockChangedMeanwhile(district_id, day, agent_id)


def lock(
    *,
    session: Session,
    district_id: int,
    day: dt.date,
    agent_id: int,
    actor: str,
    version: int | None = None,
) -> RouteLock:
    """Lock the agent's route of the zone-day (a route already locked stays as it is): a new
    version of its plan, so a plan computed without the lock is not saved. With `version` (the
    `route_version` a form was drawn at), a route whose lock changed since is left as it is:
    `LockChangedMeanwhile` (an old "lock" sent again after an "unlock" does not lock again)."""
    _check_agent(session, district_id, agent_id)
    found = session.get(RouteLock, (district_id, day, agent_id))
    if found is not None:
        return found
    _check_version(session, district_id, day, agent_id, version)
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


def unlock(
    *,
    session: Session,
    district_id: int,
    day: dt.date,
    agent_id: int,
    actor: str,
    version: int | None = None,
) -> bool:
    """Unlock the agent's route of the zone-day (a new version of its plan); False if it was
    not locked. With `version`, as `lock`: an old "unlock" sent again after the route was
    locked anew leaves it locked (`LockChangedMeanwhile`)."""
    _check_agent(session, district_id, agent_id)
    if session.get(RouteLock, (district_id, day, agent_id)) is None:
        return False
    _check_version(session, district_id, day, agent_id, version)
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
