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
left alone until its next change (every change starts the count again). A solve that failed —
an error, its process killed or stopped for outrunning its lease, a lease that lapsed — is
recorded in the audit log against the zone-day (`record_failure`: entity `zone_plan`, id
`<district id>:<day>`, action `solve_failed`); the stored plan stands meanwhile.

Every solve is also counted, with its wall time, where it settles — the transaction of its save
or its release, on whichever machine ran it, or the hand-out that finds its lease lapsed
(`record_solve`, into `ZoneSolveStat`): by status (`SolveStatus`'s values, and `lapsed`) and
duration bucket, for the metrics every process reads alike (`web.metrics`).

Not here: the solve itself (`dispatch.visits.replan.solve_zone`), where it runs (`web.solving`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.audit import service as audit
from dispatch.geography.models import District
from dispatch.planning.models import ZonePlan, ZoneSolveStat


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
    lapsed = now - dt.timedelta(seconds=timing.lease_s)
    token = uuid.uuid4().hex
    before = session.get(ZonePlan, (district_id, day), populate_existing=True)
    lost = before is not None and before.solve_token is not None
    began = before.solve_claimed_at if before is not None else None  # read before it changes
    conditions = [sa.or_(_T.c.solve_claimed_at.is_(None), _T.c.solve_claimed_at <= lapsed)]
    if not force:
        conditions.append(_T.c.version > _T.c.improved_version)
    if not _update(session, district_id, day, *conditions, solve_claimed_at=now, solve_token=token):
        return None
    if lost:  # a lease left to lapse: its solver stopped (or is still at it, and will not save)
        record_failure(
            session=session,
            district_id=district_id,
            day=day,
            reason="the previous solve's lease lapsed",
            now=now,
        )
        record_solve(
            session=session,
            status=LAPSED,
            seconds=(now - began).total_seconds() if began is not None else 0.0,
        )
    return Claim(district_id, day, token)


#: Who the loop's own audit records name.
ACTOR = "planner:loop"


def record_failure(
    *, session: Session, district_id: int, day: dt.date, reason: str, now: dt.datetime
) -> None:
    """Note in the audit log that a solve of the zone-day failed, and why (no personal data:
    a reason in our words, an error's class)."""
    audit.record(
        session=session,
        actor=ACTOR,
        entity="zone_plan",
        entity_id=f"{district_id}:{day.isoformat()}",
        action="solve_failed",
        at=now,
        reason=reason[:200],
    )


def fail(
    *, session: Session, claim: Claim, reason: str, now: dt.datetime, seconds: float | None = None
) -> bool:
    """A solve of `claim` failed (raised, or its process died): give its lease back, record
    the failure and count the solve (`seconds` long, or since it began by the lease's time).
    Nothing, and False, if the lease was no longer the claim's (it saved, or another has it)."""
    row = session.get(ZonePlan, (claim.district_id, claim.day), populate_existing=True)
    began = row.solve_claimed_at if row is not None and row.solve_token == claim.token else None
    if not release(session=session, claim=claim):
        return False
    record_failure(
        session=session, district_id=claim.district_id, day=claim.day, reason=reason, now=now
    )
    if seconds is None:
        seconds = (now - began).total_seconds() if began is not None else 0.0
    record_solve(session=session, status=FAILED, seconds=seconds)
    return True


#: How a solve ended, as counted beside `dispatch.visits.replan.SolveStatus`'s own: it failed
#: (raised, or its process died), or its lease lapsed before it settled (counted by the
#: hand-out that takes the zone-day over: the solver died, its message was lost, or it is still
#: searching past its lease and will end `lost`).
FAILED = "failed"
LAPSED = "lapsed"
#: The upper bounds of the solves' duration buckets (seconds): a re-plan searches for 2 s by
#: default, up to 3 times; the evening's plan 20 s; a lease lasts 120 s.
SOLVE_BUCKETS_S = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
#: The bucket of the solves longer than the last bound.
OVER_MS = 2**31 - 1


def bucket_ms(seconds: float) -> int:
    """The duration bucket (its upper bound in milliseconds) a solve of `seconds` falls in."""
    for bound in SOLVE_BUCKETS_S:
        if seconds <= bound:
            return round(bound * 1000)
    return OVER_MS


def record_solve(*, session: Session, status: str, seconds: float) -> None:
    """Count one solve that ended `status` after `seconds`, in the caller's transaction (its
    save or release): one conditional update of the outcome's bucket, made on its first use."""
    status, seconds = str(status), max(0.0, seconds)  # a plain string: drivers dump enums apart
    le_ms = bucket_ms(seconds)
    key = (_S.c.status == status, _S.c.le_ms == le_ms)
    add = {"solves": _S.c.solves + 1, "seconds": _S.c.seconds + seconds}
    counted = session.execute(sa.update(_S).where(*key).values(**add))
    if counted.rowcount == 1:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.execute(
                sa.insert(_S).values(status=status, le_ms=le_ms, solves=1, seconds=seconds)
            )
    except sa.exc.IntegrityError:  # made meanwhile by another solve's first of its kind
        session.execute(sa.update(_S).where(*key).values(**add))


def holds(*, session: Session, claim: Claim) -> bool:
    """Whether `claim`'s lease is still the zone-day's (not lapsed and handed to another)."""
    row = session.get(ZonePlan, (claim.district_id, claim.day), populate_existing=True)
    return row is not None and row.solve_token == claim.token


def begin(*, session: Session, claim: Claim, now: dt.datetime) -> bool:
    """The solver starts on `claim`: its lease runs from now, not from the hand-out, so time
    spent waiting in a queue does not eat into the solve's own, and the attempt is counted
    (a job that never began costs none). False (start nothing) if the lease is no longer the
    claim's: it lapsed in the queue and was handed to another."""
    return _update(
        session,
        claim.district_id,
        claim.day,
        _T.c.solve_token == claim.token,
        solve_claimed_at=now,
        solve_attempts=_T.c.solve_attempts + 1,
    )


def release(*, session: Session, claim: Claim) -> bool:
    """End `claim`'s lease without an improved save (nothing to improve, the solve failed, or
    no solver took it): the zone-day may be handed out again at once. False if the lease was no
    longer theirs."""
    return _update(
        session,
        claim.district_id,
        claim.day,
        _T.c.solve_token == claim.token,
        solve_claimed_at=None,
        solve_token=None,
    )


def settle(*, session: Session, claim: Claim, version: int) -> bool:
    """Mark the zone-day as needing nothing (no visits left to plan in `version`), if the
    lease is still the claim's and the plan still that version (a booking meanwhile makes it
    pending still). Whether it was settled."""
    return _update(
        session,
        claim.district_id,
        claim.day,
        _T.c.version == version,
        _T.c.solve_token == claim.token,
        improved_version=_T.c.version,
        pending_since=None,
        solve_claimed_at=None,
        solve_token=None,
        solve_attempts=0,
    )


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
    _update(
        session,
        district_id,
        day,
        _T.c.version > 0,
        improved_version=sa.case(
            (_T.c.improved_version >= _T.c.version, _T.c.version - 1),
            else_=_T.c.improved_version,
        ),
        pending_since=sa.func.coalesce(_T.c.pending_since, now),
        updated_at=now,
        solve_attempts=0 if new_change else _T.c.solve_attempts,
    )


def mark_planned_ahead(
    *, session: Session, district_id: int, day: dt.date, now: dt.datetime
) -> None:
    """Record that the evening's full plan of the zone-day was made."""
    _update(session, district_id, day, planned_ahead_at=now)


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


#: The zone-day rows' table: the lease is kept by conditional updates of it.
_T = ZonePlan.__table__  # type: ignore[attr-defined]
#: The solves' counts.
_S = ZoneSolveStat.__table__  # type: ignore[attr-defined]


def _update(session: Session, district_id: int, day: dt.date, *where: Any, **values: Any) -> bool:
    """Update the zone-day's row where `where` holds; whether it did."""
    result = session.execute(
        sa.update(_T)
        .where(_T.c.district_id == district_id, _T.c.day == day, *where)
        .values(**values)
    )
    forget_loaded(session, district_id, day)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def forget_loaded(session: Session, district_id: int, day: dt.date) -> None:
    """Expire the zone-day's row if the session holds it (it changed behind the session's back;
    expiring everything would leave the caller's other objects unreadable once it closes)."""
    loaded = session.identity_map.get(session.identity_key(ZonePlan, (district_id, day)))
    if loaded is not None:
        session.expire(loaded)
