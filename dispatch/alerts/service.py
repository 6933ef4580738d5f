"""Alerts: raised once by the scheduled tasks, listed for a state's supervisors, acknowledged.

- `raise_once` adds an alert unless one with its key exists: looked for first, then inserted in
  a savepoint, so a retry or a concurrent run that got there first makes no second row (the
  unique key stops it; the savepoint keeps the caller's transaction usable). The row is its own
  record of being raised (when, by which rule: the key); nothing else is audited.
- `open_alerts` and `count_open`: the state's alerts not yet acknowledged, newest first, with
  what a page needs to name and link their subject (a request's reference and service, an
  agent's name and day), filtered by kind and district.
- `acknowledge`: a conditional update (only an alert not yet acknowledged), audited; a second
  acknowledgement (the button pressed twice, two supervisors at once) changes nothing and
  records nothing. An alert of another state is not found.

Not here: what raises an alert (`deadlines`, `fees`), the words of the page (`web.alerts`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.alerts.models import Alert, AlertKind
from dispatch.alerts.rules import clipped
from dispatch.audit import service as audit
from dispatch.catalogue.models import Service
from dispatch.errors import NotFound
from dispatch.geography.models import District
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus

PER_PAGE = 50
#: The detail column's length.
DETAIL_CHARS = 300


def raise_once(
    *,
    session: Session,
    key: str,
    kind: AlertKind,
    state_code: str,
    detail: str,
    now: dt.datetime,
    district_id: int | None = None,
    request_id: int | None = None,
    agent_id: int | None = None,
    day: dt.date | None = None,
) -> int | None:
    """The new alert's id, or None when an alert with `key` exists already."""
    if exists(session=session, key=key):
        return None
    alert = Alert(
        key=key,
        kind=kind,
        state_code=state_code,
        district_id=district_id,
        request_id=request_id,
        agent_id=agent_id,
        day=day,
        detail=clipped(detail, DETAIL_CHARS),
        raised_at=now,
    )
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except sa.exc.IntegrityError:
        return None  # raised meanwhile by another run: its row stands
    return alert.id


def exists(*, session: Session, key: str) -> bool:
    """Whether an alert with `key` was raised (acknowledged or not)."""
    return session.exec(select(Alert.id).where(Alert.key == key)).first() is not None


@dataclass(frozen=True)
class AlertLine:
    """An open alert with the names of its subject (none of them a citizen's)."""

    alert: Alert
    district_name: str
    reference: str | None = None
    service_name: str | None = None
    request_status: RequestStatus | None = None
    agent_name: str | None = None

    @property
    def id(self) -> int:
        assert self.alert.id is not None
        return self.alert.id


@dataclass(frozen=True)
class AlertPage:
    lines: list[AlertLine]
    total: int
    number: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _open_where(state_code: str, kind: AlertKind | None, district_id: int | None) -> list[Any]:
    where: list[Any] = [
        col(Alert.state_code) == state_code,
        col(Alert.acknowledged_at).is_(None),
    ]
    if kind is not None:
        where.append(col(Alert.kind) == kind)
    if district_id is not None:
        where.append(col(Alert.district_id) == district_id)
    return where


def count_open(
    *,
    session: Session,
    state_code: str,
    kind: AlertKind | None = None,
    district_id: int | None = None,
) -> int:
    """The state's alerts not yet acknowledged (of `kind`, in `district_id`)."""
    stmt = (
        select(sa.func.count())
        .select_from(Alert)
        .where(*_open_where(state_code, kind, district_id))
    )
    return int(session.exec(stmt).one())


def open_alerts(
    *,
    session: Session,
    state_code: str,
    kind: AlertKind | None = None,
    district_id: int | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> AlertPage:
    """One page of the state's open alerts, newest first."""
    total = count_open(session=session, state_code=state_code, kind=kind, district_id=district_id)
    size = max(per_page, 1)
    number = min(max(page, 1), max(1, -(-total // size)))
    stmt = (
        _with_names()
        .where(*_open_where(state_code, kind, district_id))
        .order_by(col(Alert.raised_at).desc(), col(Alert.id).desc())
        .offset((number - 1) * size)
        .limit(size)
    )
    lines = [_line(row) for row in session.execute(stmt)]
    return AlertPage(lines=lines, total=total, number=number, per_page=size)


def line_of(*, session: Session, state_code: str, alert_id: int) -> AlertLine:
    """One of the state's alerts (open or not) with its names; `NotFound` otherwise."""
    stmt = _with_names().where(col(Alert.id) == alert_id, col(Alert.state_code) == state_code)
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound("alert", alert_id)
    return _line(row)


def _with_names() -> Any:
    return (
        sa.select(
            Alert,
            col(District.name),
            col(DoorstepRequest.reference),
            col(DoorstepRequest.status),
            col(Service.name_en),
            col(Agent.name),
        )
        .outerjoin(District, col(District.id) == col(Alert.district_id))
        .outerjoin(DoorstepRequest, col(DoorstepRequest.id) == col(Alert.request_id))
        .outerjoin(Service, col(Service.id) == col(DoorstepRequest.service_id))
        .outerjoin(Agent, col(Agent.id) == col(Alert.agent_id))
    )


def _line(row: Any) -> AlertLine:
    alert, district, reference, status, service, agent = row
    return AlertLine(
        alert=alert,
        district_name=district or "",
        reference=reference,
        service_name=service,
        request_status=RequestStatus(status) if status is not None else None,
        agent_name=agent,
    )


@dataclass(frozen=True)
class Acknowledged:
    """The alert as it is now, and whether this call acknowledged it (False: already was)."""

    alert: Alert
    changed: bool


def acknowledge(
    *, session: Session, state_code: str, alert_id: int, actor: str, now: dt.datetime
) -> Acknowledged:
    """Acknowledge one of the state's alerts (audited once); `NotFound` for another state's or
    none."""
    table = Alert.__table__  # type: ignore[attr-defined]
    result = session.execute(
        sa.update(table)
        .where(
            table.c.id == alert_id,
            table.c.state_code == state_code,
            table.c.acknowledged_at.is_(None),
        )
        .values(acknowledged_at=now, acknowledged_by=actor)
    )
    alert = session.get(Alert, alert_id, populate_existing=True)
    if alert is None or alert.state_code != state_code:
        raise NotFound("alert", alert_id)
    changed = result.rowcount == 1  # type: ignore[attr-defined]
    if changed:
        audit.record(
            session=session,
            actor=actor,
            entity="alert",
            entity_id=alert_id,
            action="acknowledged",
            at=now,
            kind=alert.kind.value,
            key=alert.key,
        )
    return Acknowledged(alert=alert, changed=changed)
