"""Finding requests: the console's list with filters and pages, and search by reference or phone.

Holds `Filters` (status, district, service, overdue, a citizen, and a reference or a piece of
one — or a phone, for callers that are not the console's list), `find` (one page of matching
requests, newest first, each row with what the list shows: citizen, service, place, window,
agent, due date), `read_query` (what a typed text is: a whole reference, a phone number, or a
piece of a reference) and `resolve` (where a search box's text leads: one request, one
citizen's requests, the references holding a piece — so a phone number typed by staff becomes
a citizen's id before it could reach a page's address). Queries only: nothing here writes.
Overdue means past its legal due date (`DoorstepRequest.due_date`, the state's local date) and
not closed.

Not here: a request's own page and history (`dispatch.requests.timeline`), changing requests
(`dispatch.visits`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from dispatch import validation
from dispatch.agents.models import Agent
from dispatch.catalogue.models import Service
from dispatch.citizens.models import Address, Citizen
from dispatch.errors import InvalidInput, InvalidReference
from dispatch.geography.models import District, Village
from dispatch.requests import rules
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus

PER_PAGE = 25
MOST_PER_PAGE = 100
#: A piece of a reference worth searching for: three characters or more of digits and dashes.
_FRAGMENT = re.compile(r"^[A-Za-z]{0,4}-?[\d-]{3,}$")


@dataclass(frozen=True)
class Query:
    """What a typed search text is: exactly one of a whole reference (check digit verified), a
    phone number (E.164), or a piece of a reference; all None for an empty text."""

    reference: str | None = None
    phone: str | None = None
    fragment: str | None = None

    @property
    def exact(self) -> bool:
        """A whole reference or phone number: one match may go straight to its request."""
        return self.reference is not None or self.phone is not None


def read_query(text: str, *, default_state: str) -> Query:
    """Read a search text: a reference (`JK-26-000123-7`, or its nine keypad digits), a phone
    number in any Indian form, or a piece of a reference (`000123`). `InvalidInput` for
    anything else, and `InvalidReference` for a whole reference whose check digit fails."""
    cleaned = " ".join((text or "").split())
    if not cleaned:
        return Query()
    try:
        return Query(reference=rules.parse_reference(cleaned, default_state=default_state))
    except InvalidReference as exc:
        mistyped = exc
    digits = re.sub(r"\D", "", cleaned)
    if len(digits) >= 10:
        try:
            return Query(phone=validation.phone(cleaned))
        except InvalidInput:
            pass
    compact = cleaned.replace(" ", "")
    if _FRAGMENT.match(compact):
        if len(digits) == rules.KEYPAD_DIGITS:
            raise mistyped  # a whole reference whose check digit fails: say so
        if len(digits) < rules.KEYPAD_DIGITS:
            return Query(fragment=compact.upper())
    raise InvalidInput("q", text, "type a reference (e.g. JK-26-000123-7) or a phone number")


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to; every field is optional."""

    status: RequestStatus | None = None
    district_id: int | None = None
    service_id: int | None = None
    overdue: bool = False
    citizen_id: int | None = None
    query: Query = Query()


@dataclass(frozen=True)
class Row:
    """One request as the list shows it (times UTC; the page shows them locally)."""

    request_id: int
    reference: str
    citizen_name: str
    phone: str
    service_name: str
    district_name: str
    village_name: str
    status: RequestStatus
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    agent_id: int | None
    agent_name: str | None
    due_date: dt.date | None
    overdue: bool
    priority: int
    at_risk: bool
    logged_at: dt.datetime

    @property
    def masked_phone(self) -> str:
        return validation.mask_phone(self.phone)


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int
    number: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def is_overdue(status: RequestStatus, due_date: dt.date | None, today: dt.date) -> bool:
    """Past its legal due date and not closed (on the due date itself it is still in time)."""
    return due_date is not None and due_date < today and status not in rules.TERMINAL


def _conditions(filters: Filters, state_code: str, today: dt.date) -> list[Any]:
    where: list[Any] = [DoorstepRequest.state_code == state_code]
    if filters.status is not None:
        where.append(col(DoorstepRequest.status) == filters.status)
    if filters.district_id is not None:
        where.append(DoorstepRequest.district_id == filters.district_id)
    if filters.service_id is not None:
        where.append(DoorstepRequest.service_id == filters.service_id)
    if filters.citizen_id is not None:
        where.append(DoorstepRequest.citizen_id == filters.citizen_id)
    if filters.overdue:
        where.append(col(DoorstepRequest.due_date) < today)
        where.append(col(DoorstepRequest.status).not_in([s.value for s in rules.TERMINAL]))
    q = filters.query
    if q.reference is not None:
        where.append(DoorstepRequest.reference == q.reference)
    elif q.phone is not None:
        where.append(Citizen.phone == q.phone)
    elif q.fragment is not None:
        where.append(col(DoorstepRequest.reference).contains(q.fragment, autoescape=True))
    return where


def find(
    *,
    session: Session,
    state_code: str,
    filters: Filters,
    today: dt.date,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page:
    """One page of the state's requests matching `filters`, newest first. `today` is the
    state's local date (what "overdue" is measured against)."""
    per_page = min(max(per_page, 1), MOST_PER_PAGE)
    where = _conditions(filters, state_code, today)
    total = session.exec(
        select(func.count())
        .select_from(DoorstepRequest)
        .join(Citizen, col(Citizen.id) == col(DoorstepRequest.citizen_id))
        .where(*where)
    ).one()
    pages = max(1, -(-int(total) // per_page))
    number = min(max(page, 1), pages)
    # Six entities: past what SQLModel's `select` types, so SQLAlchemy's own.
    stmt = (
        sa.select(DoorstepRequest, Citizen, Service, District, Village, Agent)
        .join(Citizen, col(Citizen.id) == col(DoorstepRequest.citizen_id))
        .join(Service, col(Service.id) == col(DoorstepRequest.service_id))
        .join(District, col(District.id) == col(DoorstepRequest.district_id))
        .join(Address, col(Address.id) == col(DoorstepRequest.address_id))
        .join(Village, col(Village.id) == col(Address.village_id))
        .join(Agent, col(Agent.id) == col(DoorstepRequest.agent_id), isouter=True)
        .where(*where)
        .order_by(sa.desc(col(DoorstepRequest.logged_at)), sa.desc(col(DoorstepRequest.id)))
        .offset((number - 1) * per_page)
        .limit(per_page)
    )
    rows = [
        _row(request, citizen, service, district, village, agent, today)
        for request, citizen, service, district, village, agent in session.execute(stmt)
    ]
    return Page(rows=rows, total=int(total), number=number, per_page=per_page)


def _row(
    request: DoorstepRequest,
    citizen: Citizen,
    service: Service,
    district: District,
    village: Village,
    agent: Agent | None,
    today: dt.date,
) -> Row:
    assert request.id is not None
    return Row(
        request_id=request.id,
        reference=request.reference,
        citizen_name=citizen.name,
        phone=citizen.phone,
        service_name=service.name_en,
        district_name=district.name,
        village_name=village.name,
        status=request.status,
        window_start=request.window_start,
        window_end=request.window_end,
        agent_id=request.agent_id,
        agent_name=agent.name if agent is not None else None,
        due_date=request.due_date,
        overdue=is_overdue(request.status, request.due_date, today),
        priority=request.priority,
        at_risk=request.at_risk,
        logged_at=request.logged_at,
    )


# --- the search box -------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """Where a search box's text leads: at most one of a request to open, a citizen whose
    requests to list, or a piece of a reference to list the requests holding; all None when
    nothing of the state matches."""

    request_id: int | None = None
    citizen_id: int | None = None
    fragment: str | None = None

    @property
    def found(self) -> bool:
        return (self.request_id, self.citizen_id, self.fragment) != (None, None, None)


def resolve(*, session: Session, state_code: str, text: str) -> Resolved:
    """Resolve a typed reference or phone number within the state: a whole reference opens its
    request; a phone number finds the state's citizen with that number (one citizen per number
    and state) — their only request, or else the citizen to list; a piece of a reference lists
    the references holding it. `Resolved()` when nothing matches (or the text is empty);
    `InvalidInput` / `InvalidReference` as `read_query` for a text that is neither."""
    query = read_query(text, default_state=state_code)
    if query.reference is not None:
        found = _first_ids(
            session,
            DoorstepRequest.state_code == state_code,
            DoorstepRequest.reference == query.reference,
        )
        return Resolved(request_id=found[0]) if found else Resolved()
    if query.phone is not None:
        citizen_id = session.exec(
            select(Citizen.id).where(Citizen.state_code == state_code, Citizen.phone == query.phone)
        ).first()
        if citizen_id is None:
            return Resolved()
        found = _first_ids(
            session,
            DoorstepRequest.state_code == state_code,
            DoorstepRequest.citizen_id == citizen_id,
        )
        if not found:
            return Resolved()
        return Resolved(request_id=found[0]) if len(found) == 1 else Resolved(citizen_id=citizen_id)
    if query.fragment is not None:
        found = _first_ids(
            session,
            DoorstepRequest.state_code == state_code,
            col(DoorstepRequest.reference).contains(query.fragment, autoescape=True),
        )
        return Resolved(fragment=query.fragment) if found else Resolved()
    return Resolved()


def _first_ids(session: Session, *where: Any) -> list[int]:
    """Up to two matching requests' ids: enough to tell none, one and several apart."""
    stmt = select(DoorstepRequest.id).where(*where).order_by(col(DoorstepRequest.id)).limit(2)
    return [found for found in session.exec(stmt) if found is not None]
