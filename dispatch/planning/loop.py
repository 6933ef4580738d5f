"""The dispatch loop's bookkeeping: which zone-days wait for a re-plan, and who is solving one.

Every change to a zone-day's plan that the solver did not make — a booking, a cancellation, a
reschedule, an agent put on leave, an agent's report (late, failed...), a dispatcher's move —
saves a new version and, with the first such change, sets `ZonePlan.pending_since`
(`store.bump_version`). That is the event: nothing else needs telling.

`due` lists the pending zone-days whose burst of changes has settled (no change for the quiet
time, or the longest wait reached however busy the zone is) and that no live solve holds; a
burst of twenty bookings makes one re-plan. `claim` hands one out under a lease (a token and a
time, by a conditional update: two dispatchers cannot both claim it); the solve runs anywhere
(a local process, a queue worker on another machine) and saves through the versioned save, which
clears the lease and the pending mark. A solver that dies leaves the lease to lapse, and the
zone-day is handed out again; after `max_attempts` solves begun without an improved save it is
left alone until its next change (every change starts the count again).

Not here: the solve itself (`dispatch.visits.replan.solve_zone`), where it runs (`web.solving`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.geography.models import District
from dispatch.planning.models import ZonePlan


@dataclass(frozen=True)
class Timing:
    """The loop's timing: the quiet time that ends a burst, the longest a change waits, how
    long a solve may hold a zone-day, and how many leases a zone-day gets."""

    quiet_s: float = 5.0
    most_wait_s: float = 30.0
    lease_s: float = 120.0
    max_attempts: int = 5


@dataclass(frozen=True)
class Claim:
    """A zone-day handed to a solver, with the token that proves the lease is theirs."""

    district_id: int
    day: dt.date
    token: str


def due(
    *, session: Session, now: dt.datetime, today: dt.date, timing: Timing, most: int = 50
) -> list[tuple[int, dt.date]]:
    """Pending zone-days from `today` on, settled and not held by a live solve, the longest
    waiting first."""
    quiet = now - dt.timedelta(seconds=timing.quiet_s)
    longest = now - dt.timedelta(seconds=timing.most_wait_s)
    lapsed = now - dt.timedelta(seconds=timing.lease_s)
    stmt = (
        select(col(ZonePlan.district_id), col(ZonePlan.day))
        .where(
            col(ZonePlan.day) >= today,
            col(ZonePlan.version) > col(ZonePlan.improved_version),
            col(ZonePlan.pending_since).is_not(None),
            sa.or_(col(ZonePlan.updated_at) <= quiet, col(ZonePlan.pending_since) <= longest),
            sa.or_(
                col(ZonePlan.solve_claimed_at).is_(None), col(ZonePlan.solve_claimed_at) <= lapsed
            ),
            col(ZonePlan.solve_attempts) < timing.max_attempts,
        )
        .order_by(col(ZonePlan.pending_since), col(ZonePlan.district_id))
        .limit(most)
    )
    return [(int(d), day) for d, day in session.exec(stmt).all()]


def claim(
    *,
    session: Session,
    district_id: int,
    day: dt.date,
    now: dt.datetime,
    timing: Timing,
    force: bool = False,
) -> Claim | None:
    """Lease the zone-day to one solver; None if a live lease holds it (another dispatcher
    claimed it first). `force` claims a zone-day that is not pending (the evening's plan)."""
    table = ZonePlan.__table__  # type: ignore[attr-defined]
    lapsed = now - dt.timedelta(seconds=timing.lease_s)
    token = uuid.uuid4().hex
    conditions = [
        table.c.district_id == district_id,
        table.c.day == day,
        sa.or_(table.c.solve_claimed_at.is_(None), table.c.solve_claimed_at <= lapsed),
    ]
    if not force:
        conditions.append(table.c.version > table.c.improved_version)
    result = session.execute(
        sa.update(table).where(*conditions).values(solve_claimed_at=now, solve_token=token)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    _expire(session, district_id, day)
    return Claim(district_id, day, token)


def holds(*, session: Session, claim: Claim) -> bool:
    """Whether `claim`'s lease is still the zone-day's (not lapsed and handed to another)."""
    row = session.get(ZonePlan, (claim.district_id, claim.day), populate_existing=True)
    return row is not None and row.solve_token == claim.token


def begin(*, session: Session, claim: Claim, now: dt.datetime) -> bool:
    """The solver starts on `claim`: its lease runs from now, not from the hand-out, so time
    spent waiting in a queue does not eat into the solve's own, and the attempt is counted
    (a job that never began costs none). False (start nothing) if the lease is no longer the
    claim's: it lapsed in the queue and was handed to another."""
    table = ZonePlan.__table__  # type: ignore[attr-defined]
    result = session.execute(
        sa.update(table)
        .where(
            table.c.district_id == claim.district_id,
            table.c.day == claim.day,
            table.c.solve_token == claim.token,
        )
        .values(solve_claimed_at=now, solve_attempts=table.c.solve_attempts + 1)
    )
    _expire(session, claim.district_id, claim.day)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def release(*, session: Session, claim: Claim) -> bool:
    """End `claim`'s lease without an improved save (nothing to improve, the solve failed, or
    no solver took it): the zone-day may be handed out again at once. False if the lease was no
    longer theirs."""
    table = ZonePlan.__table__  # type: ignore[attr-defined]
    result = session.execute(
        sa.update(table)
        .where(
            table.c.district_id == claim.district_id,
            table.c.day == claim.day,
            table.c.solve_token == claim.token,
        )
        .values(solve_claimed_at=None, solve_token=None)
    )
    _expire(session, claim.district_id, claim.day)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def settle(*, session: Session, claim: Claim, version: int) -> bool:
    """Mark the zone-day as needing nothing (no visits left to plan in `version`), if the
    lease is still the claim's and the plan still that version (a booking meanwhile makes it
    pending still). Whether it was settled."""
    table = ZonePlan.__table__  # type: ignore[attr-defined]
    district_id, day = claim.district_id, claim.day
    result = session.execute(
        sa.update(table)
        .where(
            table.c.district_id == district_id,
            table.c.day == day,
            table.c.version == version,
            table.c.solve_token == claim.token,
        )
        .values(
            improved_version=table.c.version,
            pending_since=None,
            solve_claimed_at=None,
            solve_token=None,
            solve_attempts=0,
        )
    )
    _expire(session, district_id, day)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def mark_pending(
    *,
    session: Session,
    district_id: int,
    day: dt.date,
    now: dt.datetime,
    new_change: bool = True,
) -> None:
    """Have the loop re-plan the zone-day again though its plan did not change: what a plan
    must respect changed (a shift, a skill, a service's minutes, a priority), or visits it left
    out still wait to be re-offered. Nothing to do for a day with no plan yet (the next booking
    makes one). `new_change=False` (the solver's own re-offers still owed) keeps the count of
    attempts, so a re-offer that keeps failing is not retried without end."""
    table = ZonePlan.__table__  # type: ignore[attr-defined]
    attempts = 0 if new_change else table.c.solve_attempts
    session.execute(
        sa.update(table)
        .where(table.c.district_id == district_id, table.c.day == day, table.c.version > 0)
        .values(
            improved_version=sa.case(
                (table.c.improved_version >= table.c.version, table.c.version - 1),
                else_=table.c.improved_version,
            ),
            pending_since=sa.func.coalesce(table.c.pending_since, now),
            updated_at=now,
            solve_attempts=attempts,
        )
        .execution_options(synchronize_session=False)
    )
    _expire(session, district_id, day)


def mark_planned_ahead(
    *, session: Session, district_id: int, day: dt.date, now: dt.datetime
) -> None:
    """Record that the evening's full plan of the zone-day was made."""
    table = ZonePlan.__table__  # type: ignore[attr-defined]
    session.execute(
        sa.update(table)
        .where(table.c.district_id == district_id, table.c.day == day)
        .values(planned_ahead_at=now)
    )
    _expire(session, district_id, day)


def held(
    *, session: Session, now: dt.datetime, timing: Timing, state_code: str | None = None
) -> int:
    """How many zone-days (of `state_code`'s districts, if given) a live solve holds now (for
    the supervisors' page)."""
    lapsed = now - dt.timedelta(seconds=timing.lease_s)
    stmt = (
        select(sa.func.count()).select_from(ZonePlan).where(col(ZonePlan.solve_claimed_at) > lapsed)
    )
    if state_code is not None:
        stmt = stmt.join(District, col(District.id) == col(ZonePlan.district_id)).where(
            District.state_code == state_code
        )
    return int(session.exec(stmt).one())


def _expire(session: Session, district_id: int, day: dt.date) -> None:
    loaded = session.identity_map.get(session.identity_key(ZonePlan, (district_id, day)))
    if loaded is not None:
        session.expire(loaded)
