"""One zone-day's re-plan, as the dispatch loop runs it on whichever solver got it.

`solve_zone` is the unit a solver process or queue worker runs for a claim
(`dispatch.planning.loop.Claim`): begin the lease, read the zone-day (a read-only session),
search with no transaction open, and save in a short write only if the lease is still the
claim's and the plan is still the version read; if someone saved meanwhile (a booking, a
report), it reads the new plan and searches again. A visit the new plan leaves out — no agent
can make its promised window any more — is then re-offered (`dispatch.visits.reoffer`), each
in its own transaction; the save leaves the zone-day pending while re-offers are owed, so a
solver that dies before making them (or a re-offer that fails) leaves them to the next.
Whatever happens, the lease is given back (an improved save ends it; otherwise
`loop.release`), so the loop can hand the zone-day out again.

It never raises for a plan that moved on or a lease that lapsed: those are outcomes. An
unexpected error is logged and returned as `failed`, the lease released. Each outcome is
counted with the solve's wall time (from its start to the transaction that settles it) in
that same transaction — the save, the settle of an empty zone-day, or the release
(`loop.record_solve`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.config import Settings
from dispatch.db import read_session, utcnow, write_session
from dispatch.planning import loop, zone
from dispatch.planning import service as planning
from dispatch.planning.models import PlanChange, ZonePlan
from dispatch.planning.store import PlanOutdated
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.visits import reoffer
from dispatch.visits.service import TooLateToChange

log = logging.getLogger(__name__)
ACTOR = "planner:loop"
#: Searches from a newer plan before the solve gives the zone-day back to the loop.
SEARCHES = 3


class SolveStatus(StrEnum):
    SAVED = "saved"  # an improved plan was saved
    EMPTY = "empty"  # nothing to plan: the zone-day was marked settled
    OUTDATED = "outdated"  # the plan kept changing under every search: back to the loop
    LOST = "lost"  # the lease was no longer this claim's (it lapsed; another solver has it)
    FAILED = loop.FAILED  # an unexpected error, logged


@dataclass(frozen=True)
class SolveOutcome:
    district_id: int
    day: dt.date
    status: SolveStatus
    version: int | None = None
    assigned: int = 0
    unassigned: int = 0
    searches: int = 0
    #: The searches' wall time.
    wall_s: float = 0.0
    #: The whole solve's, from its start to the transaction that settled it (as counted).
    elapsed_s: float = 0.0
    reoffered: list[int] = field(default_factory=list)


def timing_of(settings: Settings) -> loop.Timing:
    return loop.Timing(
        quiet_s=settings.replan_quiet_seconds,
        most_wait_s=settings.replan_most_wait_seconds,
        lease_s=settings.solve_lease_seconds,
        max_attempts=settings.solve_attempts,
    )


def solve_zone(
    *,
    engine: Engine,
    settings: Settings,
    claim: loop.Claim,
    time_limit_s: float | None = None,
    evening: bool = False,
    now: dt.datetime | None = None,
) -> SolveOutcome:
    """Re-plan the claimed zone-day (see the module). `evening`: the evening's full plan of
    tomorrow (its changes' cause)."""
    limit = settings.replan_seconds if time_limit_s is None else time_limit_s
    started = time.monotonic()
    with write_session(engine) as session:
        if not loop.begin(session=session, claim=claim, now=utcnow()):
            # Its lease lapsed while it waited, or a message delivered twice: count it.
            loop.record_solve(session=session, status=SolveStatus.LOST, seconds=0.0)
            return SolveOutcome(claim.district_id, claim.day, SolveStatus.LOST)
    error: str | None = None
    try:
        outcome = _solve(engine, settings, claim, limit, evening, started)
    except Exception as exc:
        log.exception("re-planning district %s on %s failed", claim.district_id, claim.day)
        outcome = SolveOutcome(claim.district_id, claim.day, SolveStatus.FAILED)
        error = type(exc).__name__
    if outcome.status not in (SolveStatus.SAVED, SolveStatus.EMPTY):
        # Saved and empty solves ended their lease and were counted in their own transaction.
        with write_session(engine) as session:
            outcome = replace(outcome, elapsed_s=time.monotonic() - started)
            if error is not None and loop.fail(
                session=session,
                claim=claim,
                reason=f"the solve failed: {error}",
                now=utcnow(),
                seconds=outcome.elapsed_s,
            ):
                return outcome  # given back, recorded and counted
            if error is None:
                loop.release(session=session, claim=claim)
            # Outdated, lost (nothing to give back), or failed after its lease went: counted.
            loop.record_solve(session=session, status=outcome.status, seconds=outcome.elapsed_s)
        return outcome
    if outcome.status is SolveStatus.EMPTY:
        return outcome
    moved = _reoffer_dropped(engine, settings, claim, now or utcnow())
    return replace(outcome, reoffered=moved)


def _solve(
    engine: Engine,
    settings: Settings,
    claim: loop.Claim,
    limit: float,
    evening: bool,
    started: float,
) -> SolveOutcome:
    wall = 0.0
    for search in range(1, SEARCHES + 1):
        with read_session(engine) as session:
            if not loop.holds(session=session, claim=claim):
                return SolveOutcome(
                    claim.district_id, claim.day, SolveStatus.LOST, searches=search, wall_s=wall
                )
            zd = planning.prepare_replan(
                session=session, district_id=claim.district_id, day=claim.day
            )
            cause = "evening" if evening else _cause(session, claim)
        if not zd.requests:
            with write_session(engine) as session:
                if not loop.settle(session=session, claim=claim, version=zd.version):
                    continue  # a booking came meanwhile (or the lease went): read again
                elapsed = time.monotonic() - started
                loop.record_solve(session=session, status=SolveStatus.EMPTY, seconds=elapsed)
            return SolveOutcome(
                claim.district_id,
                claim.day,
                SolveStatus.EMPTY,
                searches=search,
                wall_s=wall,
                elapsed_s=elapsed,
            )
        result = planning.improve(zd, time_limit_s=limit, engine=settings.solver_engine)
        wall += result.wall_s
        try:
            with write_session(engine) as session:
                # The lease is checked in the saving transaction: a solver whose lease lapsed
                # and was handed to another never saves over it.
                if not loop.holds(session=session, claim=claim):
                    return SolveOutcome(
                        claim.district_id, claim.day, SolveStatus.LOST, searches=search, wall_s=wall
                    )
                saved = planning.save_replan(
                    session=session, zd=zd, result=result, actor=ACTOR, cause=cause
                )
                if saved.unassigned and dropped(
                    session=session, district_id=claim.district_id, day=claim.day
                ):
                    # Re-offers are owed: the zone-day stays pending until they are made, so a
                    # solver that dies before (or a re-offer that fails) leaves them to the next.
                    loop.mark_pending(
                        session=session,
                        district_id=claim.district_id,
                        day=claim.day,
                        now=utcnow(),
                        new_change=False,
                    )
                elapsed = time.monotonic() - started
                loop.record_solve(session=session, status=SolveStatus.SAVED, seconds=elapsed)
        except PlanOutdated:
            log.info(
                "district %s on %s changed while re-planning: again", claim.district_id, claim.day
            )
            continue
        return SolveOutcome(
            claim.district_id,
            claim.day,
            SolveStatus.SAVED,
            version=saved.version,
            assigned=saved.assigned,
            unassigned=saved.unassigned,
            searches=search,
            wall_s=wall,
            elapsed_s=elapsed,
        )
    return SolveOutcome(
        claim.district_id, claim.day, SolveStatus.OUTDATED, searches=SEARCHES, wall_s=wall
    )


def _cause(session: Session, claim: loop.Claim) -> str:
    """ "improved after <the causes of the changes the solver has not seen>"."""
    row = session.get(ZonePlan, (claim.district_id, claim.day))
    since = row.improved_version if row is not None else 0
    causes = session.exec(
        select(PlanChange.cause)
        .where(
            PlanChange.district_id == claim.district_id,
            PlanChange.day == claim.day,
            col(PlanChange.version) > since,
        )
        .distinct()
    ).all()
    keys = sorted({c.split(":")[0] for c in causes if not c.startswith(planning.IMPROVED)})
    text = planning.IMPROVED + (" after " + ", ".join(keys) if keys else "")
    return text[:120]


def dropped(*, session: Session, district_id: int, day: dt.date) -> list[int]:
    """Requests of the zone-day with a promised window and no agent in its current plan."""
    clock = zone.local_clock(session, district_id, day)
    start = clock.origin.astimezone(dt.UTC)
    end = (clock.origin + dt.timedelta(days=1)).astimezone(dt.UTC)
    stmt = (
        select(DoorstepRequest.id)
        .where(
            DoorstepRequest.district_id == district_id,
            DoorstepRequest.status == RequestStatus.SCHEDULED,
            col(DoorstepRequest.agent_id).is_(None),
            col(DoorstepRequest.window_start) >= start,
            col(DoorstepRequest.window_start) < end,
        )
        .order_by(col(DoorstepRequest.window_start), col(DoorstepRequest.id))
    )
    return [int(i) for i in session.exec(stmt).all() if i is not None]


def _reoffer_dropped(
    engine: Engine, settings: Settings, claim: loop.Claim, now: dt.datetime
) -> list[int]:
    with read_session(engine) as session:
        tz = zone.local_clock(session, claim.district_id, claim.day).tz
        if claim.day < now.astimezone(tz).date():
            return []  # a day gone by: what was not visited is the dispatcher's to settle
        ids = dropped(session=session, district_id=claim.district_id, day=claim.day)
    done: list[int] = []
    for request_id in ids:
        try:
            with write_session(engine) as session:
                reoffer.reoffer(
                    session=session,
                    settings=settings,
                    request_id=request_id,
                    cause="no agent can make the window",
                    actor=ACTOR,
                    now=now,
                )
            done.append(request_id)
        except TooLateToChange:
            continue
        except Exception:
            log.exception("re-offering request %s failed", request_id)
    return done
