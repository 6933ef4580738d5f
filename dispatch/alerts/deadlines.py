"""The legal time limits' scheduled task: warn the supervisor when a share of a request's limit
has gone, escalate on its due date, and mark it for the state's appeal once the limit has
passed undelivered (`rules.stage`).

Which requests count is pendency's: open (not completed nor cancelled), logged by `now`, with a
due date (`dispatch.pendency.query.open_where`), on the state's working-day calendar and in its
time zone (`dispatch.pendency.service.moment`). A request already marked for appeal has nothing
left to say and is not read again.

One state, then one request, at a time: a request's mark and alert are one transaction of their
own, the request read again in it (delivered meanwhile: nothing is done), so a failure is logged
and the task carries on with the next. Run every quarter of an hour; a second run, or two at
once, raise nothing twice (`service.raise_once`) and mark nothing twice (a conditional update:
only a request not yet marked, still open). A request delivered between its reading and its
mark (another transaction, on PostgreSQL) is not marked, and its appeal alert is not raised.
The mark is audited on the request (`entity="request"`, `action=MARKED`); it does not change
the request's `version`: it is no change a dispatcher's form or a plan save could collide with,
and they must not fail because of it.

Alerts name the request's reference, service and district, never the citizen.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.alerts import rules
from dispatch.alerts import service as alert_service
from dispatch.alerts.models import Alert
from dispatch.alerts.rules import Stage
from dispatch.audit import service as audit
from dispatch.catalogue.models import Service
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.geography.models import District
from dispatch.pendency import query
from dispatch.pendency import service as pendency
from dispatch.pendency.query import Filters, Moment
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import OPEN
from dispatch.states.models import State

log = logging.getLogger(__name__)
ACTOR = "scheduler:deadlines"
#: The audit action of the appeal mark on a request.
MARKED = "marked_for_appeal"
_R = DoorstepRequest
#: Keys looked up at once (a SQL `IN` list).
CHUNK = 500


def check_deadlines(*, engine: Engine, settings: Settings, now: dt.datetime) -> list[int]:
    """Raise the alerts due at `now` in every state and mark for appeal the requests past their
    limit; the ids of the alerts raised."""
    with read_session(engine) as session:
        states = [s.code for s in session.exec(select(State).order_by(col(State.code)))]
    raised: list[int] = []
    for state_code in states:
        try:
            raised += _check_state(engine, settings, state_code, now)
        except Exception:
            log.exception("checking the legal time limits of %s failed", state_code)
    return raised


@dataclass(frozen=True)
class _Due:
    request_id: int
    stage: Stage


def _check_state(
    engine: Engine, settings: Settings, state_code: str, now: dt.datetime
) -> list[int]:
    with read_session(engine) as session:
        m = pendency.moment(session=session, state_code=state_code, now=now)
        due = _due(session, state_code, m, settings.deadline_warn_share)
        known = _existing_keys(
            session, [rules.request_key(d.stage.kind, d.request_id) for d in due]
        )
    raised: list[int] = []
    for item in due:
        # A request past its limit is acted on until it is marked; the others, until alerted.
        key = rules.request_key(item.stage.kind, item.request_id)
        if item.stage is not Stage.PASSED and key in known:
            continue
        try:
            with write_session(engine) as session:
                alert_id = _act(session, item.request_id, m, settings, now)
            if alert_id is not None:
                raised.append(alert_id)
        except Exception:
            log.exception("the time limit of request %s could not be checked", item.request_id)
    return raised


def _due(session: Session, state_code: str, m: Moment, warn_share: float) -> list[_Due]:
    """The state's undelivered requests with something to say at `m`, oldest first."""
    stmt = (
        sa.select(col(_R.id), col(_R.logged_at), col(_R.due_date))
        .where(
            *query.open_where(state_code, m, Filters()),
            col(_R.due_date).is_not(None),
            col(_R.appeal_marked_at).is_(None),
        )
        .order_by(col(_R.due_date), col(_R.id))
    )
    found = []
    for request_id, logged_at, due_date in session.connection().execute(stmt):
        assert request_id is not None and due_date is not None  # the query says so
        stage = rules.stage(
            logged_at.astimezone(m.tz).date(), due_date, m.today, m.calendar, warn_share
        )
        if stage is not None:
            found.append(_Due(request_id, stage))
    return found


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for n in range(0, len(keys), CHUNK):
        found.update(
            session.exec(select(Alert.key).where(col(Alert.key).in_(keys[n : n + CHUNK]))).all()
        )
    return found


def _act(
    session: Session, request_id: int, m: Moment, settings: Settings, now: dt.datetime
) -> int | None:
    """Within the request's own transaction: read it again, mark it for appeal when its limit
    has passed, and raise its stage's alert (None: nothing new)."""
    request = session.get(DoorstepRequest, request_id, populate_existing=True)
    if request is None or request.status not in OPEN or request.due_date is None:
        return None  # delivered or cancelled since it was read
    application_day = request.logged_at.astimezone(m.tz).date()
    stage = rules.stage(
        application_day, request.due_date, m.today, m.calendar, settings.deadline_warn_share
    )
    if stage is None:
        return None
    if stage is Stage.PASSED and not mark_for_appeal(session=session, request=request, now=now):
        return None  # delivered (or cancelled) meanwhile: nothing to appeal
    service = session.get(Service, request.service_id)
    district = session.get(District, request.district_id)
    progress = rules.progress(application_day, request.due_date, m.today, m.calendar)
    return alert_service.raise_once(
        session=session,
        key=rules.request_key(stage.kind, request_id),
        kind=stage.kind,
        state_code=request.state_code,
        detail=_detail(
            request,
            stage,
            progress,
            service.name_en if service else "",
            district.name if district else "",
        ),
        now=now,
        district_id=request.district_id,
        request_id=request_id,
        day=request.due_date,
    )


def mark_for_appeal(*, session: Session, request: DoorstepRequest, now: dt.datetime) -> bool:
    """Mark the open request for the state's appeal at `now` (audited), unless it is marked
    already. Whether it is marked now: False when it was delivered or cancelled since it was
    read (the conditional update matched no row, and the row read again says so)."""
    table = DoorstepRequest.__table__  # type: ignore[attr-defined]
    result = session.execute(
        sa.update(table)
        .where(
            table.c.id == request.id,
            table.c.appeal_marked_at.is_(None),
            table.c.status.in_([s.value for s in OPEN]),
        )
        .values(appeal_marked_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        # Marked by another run (its alert is raised once, by its key), or closed, meanwhile.
        again = session.get(DoorstepRequest, request.id, populate_existing=True)
        return again is not None and again.appeal_marked_at is not None
    audit.record(
        session=session,
        actor=ACTOR,
        entity="request",
        entity_id=request.id,
        action=MARKED,
        at=now,
        due_date=request.due_date.isoformat() if request.due_date else None,
        status=request.status.value,
    )
    session.expire(request)
    return True


def _detail(
    request: DoorstepRequest,
    stage: Stage,
    progress: rules.Progress,
    service: str,
    district: str,
) -> str:
    """`<reference> · <service> · <district> — <what>` (the console shows the subject in its
    own columns and the part after the dash)."""
    assert request.due_date is not None
    due = f"{request.due_date:%a %d %b %Y}"
    subject = f"{request.reference} · {rules.clipped(service, 80)} · {rules.clipped(district, 40)}"
    if stage is Stage.NEAR:
        days = "working day" if progress.limit == 1 else "working days"
        return f"{subject} — {progress.gone} of {progress.limit} {days} gone, due {due}"
    if stage is Stage.REACHED:
        return f"{subject} — due today ({due}) and not delivered: escalated"
    return f"{subject} — its time limit ended on {due}, not delivered: marked for the appeal"
