"""The catalogue's use case: a change to a service whose visits may already be planned.

The planner reads a service's visit minutes and required skill live when it loads a zone-day
(`dispatch.planning.zone`): a change to either changes what every plan holding a visit of that
service should be, and a plan or an offer computed before the change is outdated. Switching a
service off or on refuses or allows new bookings of it (`dispatch.requests.service`); visits
already planned stay, and their days are treated the same way, so that nothing computed
before the switch is reused. Like a change to an agent
(`dispatch.visits.roster.update_agent`), it spans the catalogue and the live plans, so it has
this home beside the other visit use cases rather than in `catalogue` (which must not know the
plans: planning reads the catalogue, not the other way round). It is not in
`dispatch.visits.roster`, which is about agents and already past the size a module should be.

`update_service` is `catalogue_service.update` plus, when the visit's minutes, its skill or
whether the service is offered changed, for every zone-day from today on that holds a planned
visit of the service: a new plan version with the same stops (`store.restamp`: a plan searched
or an offer computed with the service as it was is refused as outdated and computed again),
the zone-day marked for the scheduled re-plan (which re-times the routes, and places elsewhere
what an agent can no longer do), and this process's offer cache cleared. It does not commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from dispatch.catalogue import service as catalogue_service
from dispatch.db import utcnow
from dispatch.planning import reassign as planning_reassign
from dispatch.planning import service as planning
from dispatch.planning import store
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import PLANNED
from dispatch.states import service as state_service

#: The service's fields the planner reads: a change to one makes its planned days outdated.
PLANNING_FIELDS = frozenset({"visit_minutes", "required_skill", "active"})

__all__ = ["PLANNING_FIELDS", "planned_days", "update_service"]


def update_service(
    *,
    session: Session,
    actor: str,
    service_id: int,
    now: dt.datetime | None = None,
    **changes: Any,
) -> catalogue_service.Changes:
    """`catalogue_service.update` (the same arguments; `InvalidService`, nothing changed, for
    a bad field) for a service that may have visits planned: a change the planner sees has the
    zone-days from today on with its planned visits made a new version and marked for the
    scheduled re-plan, and the offer cache cleared."""
    now = now or utcnow()
    service = catalogue_service.get(session=session, service_id=service_id)
    tz = ZoneInfo(state_service.get(session=session, code=service.state_code).timezone)
    made = catalogue_service.update(session=session, service_id=service_id, actor=actor, **changes)
    if PLANNING_FIELDS & set(made.after):
        for district_id, day in planned_days(
            session=session, service_id=service_id, today=now.astimezone(tz).date(), tz=tz
        ):
            # A new version (the same stops): what was computed with the service as it was is
            # outdated; then the scheduled re-plan looks at the day again.
            store.restamp(session=session, district_id=district_id, day=day)
            planning_reassign.mark_for_replan(session=session, district_id=district_id, day=day)
        planning.clear_cache()  # this process's offers: the service's minutes are in them
    return made


def planned_days(
    *, session: Session, service_id: int, today: dt.date, tz: ZoneInfo
) -> list[tuple[int, dt.date]]:
    """The (district, local day) pairs from `today` on with a planned visit of the service
    (scheduled, assigned, or under way), in order."""
    start = dt.datetime.combine(today, dt.time(), tz).astimezone(dt.UTC)
    rows = session.exec(
        select(col(DoorstepRequest.district_id), col(DoorstepRequest.window_start))
        .where(
            DoorstepRequest.service_id == service_id,
            col(DoorstepRequest.status).in_([s.value for s in PLANNED]),
            col(DoorstepRequest.window_start) >= start,
        )
        .order_by(col(DoorstepRequest.window_start))
    )
    found: dict[tuple[int, dt.date], None] = {}
    for district_id, window_start in rows:
        if window_start is not None:
            found[(district_id, window_start.astimezone(tz).date())] = None
    return list(found)
