"""Doorstep requests: log (with its charge), look up, and move through the lifecycle.

Every change is a conditional update on `version`, so two writers cannot both win, and is
stored as a `RequestEvent` with actor, time and reason (the audit trail).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.audit import service as audit
from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Address
from dispatch.db import utcnow
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.geography.models import Block, Village
from dispatch.ledger import service as ledger_service
from dispatch.pendency import service as pendency_service
from dispatch.requests import rules
from dispatch.requests.models import DoorstepRequest, ReferenceCounter, RequestEvent
from dispatch.requests.rules import Channel, RequestStatus
from dispatch.states import service as state_service

S = RequestStatus


def log(
    *,
    session: Session,
    state_code: str,
    citizen_id: int,
    service_id: int,
    address_id: int,
    channel: Channel,
    actor: str,
    language: str | None = None,
    idempotency_key: str | None = None,
    visit_code: str | None = None,
    now: dt.datetime | None = None,
) -> DoorstepRequest:
    """Log a request and charge its fee. A repeated `idempotency_key` returns the first one.

    Prefer `dispatch.visits.service.book_visit`: it also plans, codes and confirms the visit."""
    if idempotency_key is not None:
        existing = session.exec(
            select(DoorstepRequest).where(DoorstepRequest.idempotency_key == idempotency_key)
        ).first()
        if existing is not None:
            return existing
    now = now or utcnow()
    state = state_service.get(session=session, code=state_code)
    citizen = citizen_service.get(session=session, citizen_id=citizen_id)
    service = catalogue_service.get(session=session, service_id=service_id)
    address = citizen_service.get_address(session=session, address_id=address_id)
    if citizen.state_code != state.code or service.state_code != state.code:
        raise InvalidInput("state_code", state_code, "citizen and service must be of this state")
    if address.citizen_id != citizen.id:
        raise InvalidInput("address_id", address_id, "not an address of this citizen")
    if not service.active:
        raise InvalidInput("service_id", service_id, "this service is not offered")
    district = geography_service.district_of_village(session=session, village_id=address.village_id)
    local_today = now.astimezone(ZoneInfo(state.timezone)).date()
    calendar = pendency_service.work_calendar(session=session, state=state, since=local_today)
    due = rules.legal_due_date(local_today, service.time_limit_days, calendar)
    assert citizen.id is not None and district.id is not None
    request = DoorstepRequest(
        state_code=state.code,
        reference=_next_reference(session, state.code, local_today.year),
        citizen_id=citizen.id,
        service_id=service_id,
        address_id=address_id,
        district_id=district.id,
        channel=channel,
        language=language or citizen.language,
        priority=rules.visit_priority(
            senior=citizen.senior, disabled=citizen.disabled, due=due, visit_day=local_today
        ),
        doorstep_fee_paise=service.doorstep_fee_paise,
        government_fee_paise=service.government_fee_paise,
        logged_at=now,
        due_date=due,
        idempotency_key=idempotency_key,
        visit_code=visit_code,
    )
    session.add(request)
    session.flush()
    assert request.id is not None
    session.add(
        RequestEvent(
            request_id=request.id,
            to_status=S.LOGGED,
            actor=actor,
            at=now,
            reason=f"via {channel.value}",
        )
    )
    ledger_service.charge(session=session, request=request, actor=actor)
    return request


def _next_reference(session: Session, state_code: str, year: int) -> str:
    """Allocate the next reference number; safe under concurrent writers on both engines."""
    table = ReferenceCounter.__table__  # type: ignore[attr-defined]
    bump = (
        sa.update(table)
        .where(table.c.state_code == state_code, table.c.year == year)
        .values(last_value=table.c.last_value + 1)
        .returning(table.c.last_value)
    )
    value = session.execute(bump).scalar()
    if value is None:
        try:
            with session.begin_nested():
                session.execute(
                    sa.insert(table).values(state_code=state_code, year=year, last_value=1)
                )
            value = 1
        except sa.exc.IntegrityError:
            value = session.execute(bump).scalar_one()
    return rules.make_reference(state_code, year, int(value))


def get(*, session: Session, request_id: int) -> DoorstepRequest:
    request = session.get(DoorstepRequest, request_id)
    if request is None:
        raise NotFound("request", request_id)
    return request


def get_by_reference(*, session: Session, reference: str, default_state: str) -> DoorstepRequest:
    """Look a request up by a reference typed or keyed by a person (check digit verified)."""
    normalised = rules.parse_reference(reference, default_state=default_state)
    found = session.exec(
        select(DoorstepRequest).where(DoorstepRequest.reference == normalised)
    ).first()
    if found is None:
        raise NotFound("request", normalised)
    return found


def demand_by_place(
    *, session: Session, state_code: str, since: dt.datetime
) -> dict[tuple[int, int], int]:
    """Requests logged since `since` per (district id, block id) of their address: where
    callers most often live, so the phone line can name those places first."""
    stmt = (
        select(Block.district_id, Village.block_id, sa.func.count())
        .select_from(DoorstepRequest)
        .join(Address, col(Address.id) == DoorstepRequest.address_id)
        .join(Village, col(Village.id) == Address.village_id)
        .join(Block, col(Block.id) == Village.block_id)
        .where(DoorstepRequest.state_code == state_code, DoorstepRequest.logged_at >= since)
        .group_by(col(Block.district_id), col(Village.block_id))
    )
    return {(district, block): n for district, block, n in session.exec(stmt)}


def open_for_citizen(*, session: Session, citizen_id: int) -> list[DoorstepRequest]:
    stmt = (
        select(DoorstepRequest)
        .where(
            DoorstepRequest.citizen_id == citizen_id,
            col(DoorstepRequest.status).in_([s.value for s in rules.OPEN]),
        )
        .order_by(col(DoorstepRequest.logged_at))
    )
    return list(session.exec(stmt))


def events(*, session: Session, request_id: int) -> list[RequestEvent]:
    stmt = (
        select(RequestEvent)
        .where(RequestEvent.request_id == request_id)
        .order_by(col(RequestEvent.id))
    )
    return list(session.exec(stmt))


def transition(
    *,
    session: Session,
    request_id: int,
    to: RequestStatus,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
    **changes: Any,
) -> DoorstepRequest:
    """Move a request to `to` if the lifecycle allows it and nobody changed it meanwhile.

    `expected_version` is the version the actor saw (a form, a plan); without it, the version
    just read is used, which still stops a concurrent writer from overwriting this change.
    Extra keyword arguments are other columns to set in the same conditional update.
    """
    request = get(session=session, request_id=request_id)
    if expected_version is not None and request.version != expected_version:
        raise Conflict("request", request.reference)
    rules.check_transition(request.status, to, reason)
    now = now or utcnow()
    _conditional_update(
        session, request, expected_version, status=to, status_reason=reason, **changes
    )
    session.add(
        RequestEvent(
            request_id=request_id,
            from_status=request.status,
            to_status=to,
            actor=actor,
            at=now,
            reason=reason,
        )
    )
    session.flush()
    session.refresh(request)
    if to is S.CANCELLED:  # an unserved request owes nothing: waive, or refund
        ledger_service.settle_closed(
            session=session, request_id=request_id, actor=actor, reason=reason or to.value
        )
    return request


def update(
    *,
    session: Session,
    request_id: int,
    actor: str,
    expected_version: int | None = None,
    **changes: Any,
) -> DoorstepRequest:
    """Change planning fields (window, agent, arrival) without a status change; conditional."""
    request = get(session=session, request_id=request_id)
    before = {k: _plain(getattr(request, k)) for k in changes}
    _conditional_update(session, request, expected_version, **changes)
    audit.record(
        session=session,
        actor=actor,
        entity="request",
        entity_id=request_id,
        action="update",
        before=before,
        after={k: _plain(v) for k, v in changes.items()},
    )
    session.flush()
    session.refresh(request)
    return request


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a column value for the audit log."""
    return value.isoformat() if isinstance(value, dt.datetime) else value


_UPDATABLE = frozenset(
    {
        "status",
        "status_reason",
        "window_start",
        "window_end",
        "agent_id",
        "planned_arrival",
        "priority",
        "address_id",
        "at_risk",
    }
)


def _conditional_update(
    session: Session, request: DoorstepRequest, expected_version: int | None, **changes: Any
) -> None:
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise InvalidInput("changes", sorted(unknown), "not changeable here")
    version = request.version if expected_version is None else expected_version
    table = DoorstepRequest.__table__  # type: ignore[attr-defined]
    values = {k: (v.value if isinstance(v, RequestStatus) else v) for k, v in changes.items()}
    result = session.execute(
        sa.update(table)
        .where(table.c.id == request.id, table.c.version == version)
        .values(version=version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("request", request.reference)
