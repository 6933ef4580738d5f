"""The console's requests: the list (filters, search by reference or phone, pages), one
request's page (its facts and its whole history), and what staff may do to it.

- `GET /requests` — filters as a GET form (status, district, service, overdue, and the
  narrowing a search left: a reference or a piece of one, a citizen's id), newest first, 25 a
  page. Never a phone number: no phone is in any address (addresses end up in access logs
  and browser histories); `q` or `phone` in the address is left unused, with a note.
- `POST /requests/search` — the search box (`q` = a reference or a phone number, in the
  form's body): a whole reference opens its request, a piece of one lists the references
  holding it, a phone number lists its citizen's requests as `/requests?citizen=<id>` (or
  opens the only one); nothing found, or a text that is neither, is said on the list page.
- `GET /requests/{id}` — the citizen, address, service, fee, status, window, agent and due
  date; the agent a dispatcher kept the visit with, and who; whether a visit code exists (never
  the code: it is the citizen's proof); when it was marked for the state's appeal; the history
  (`dispatch.requests.timeline`) with the request's plan changes merged in
  (`dispatch.planning.changes`: each in words — what moved, why, who was told); and the
  forms below.
- `POST /requests/{id}/reschedule` and `/cancel` (permission: change requests) call the
  citizen's use cases (`dispatch.visits.service`) as staff acting for the citizen
  (`StaffActing`: the use case checks the account again);
  `POST /requests/{id}/reassign` and `/priority` (permission: dispatch) call
  `dispatch.visits.desk`. Each form carries an idempotency key made when the page was drawn,
  so a form sent twice acts once; each answers with a redirect back to the request and a
  notice, or the page again with the domain's refusal (409 / 422). SMS a change queued are sent
  after the commit.

Not here: the queries and use cases themselves (`dispatch.requests.search`,
`dispatch.requests.timeline`, `dispatch.visits`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch import validation
from dispatch.agents.models import Agent
from dispatch.alerts import deadlines
from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.errors import DispatchError, InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.ledger import service as ledger_service
from dispatch.notifications import service as notification_service
from dispatch.planning import changes as plan_changes
from dispatch.planning import reassign as planning_reassign
from dispatch.planning import service as planning_service
from dispatch.planning.models import PlanChange, PlanChangeKind
from dispatch.planning.service import WindowOffer
from dispatch.ports import Clock, SmsSender
from dispatch.requests import search, timeline
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.staff.models import StaffUser
from dispatch.staff.service import actor_of
from dispatch.states import service as state_service
from dispatch.visits import desk
from dispatch.visits import rules as visit_rules
from dispatch.visits import service as visits
from dispatch.visits.proof import StaffActing
from ivr.deps import get_clock, get_sms_sender
from web.auth import Dispatcher, RequestChanger, RequestViewer, can
from web.deps import EngineDep, ReadSessionDep, SettingsDep
from web.errors import status_for
from web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter()

ClockDep = Annotated[Clock, Depends(get_clock)]
SenderDep = Annotated[SmsSender, Depends(get_sms_sender)]

#: The largest id an address or a form may name (the tables' keys are 32-bit integers on
#: PostgreSQL): anything beyond is refused by validation (422), never sent to the database.
MOST_ID = 2**31 - 1
RequestId = Annotated[int, Path(ge=1, le=MOST_ID)]
#: An id chosen in a filter's list: empty for "any", else at most nine digits (below MOST_ID).
IdChoice = Annotated[str, Query(max_length=9, pattern=r"^\d*$")]

#: Windows offered for a reschedule at once (the phone line offers three).
OFFERED_WINDOWS = 6
MOST_REASON_CHARS = 200
PRIORITY_LABELS = {0: "normal", 1: "high", 2: "urgent", 3: "urgent"}
#: The actions' forms, each with its own idempotency key.
ACTIONS = ("reschedule", "cancel", "reassign", "priority")


def priority_label(level: int) -> str:
    return PRIORITY_LABELS.get(level, "urgent")


@dataclass(frozen=True)
class LocalTime:
    """Formats UTC times in the state's zone for the pages."""

    tz: ZoneInfo

    def when(self, at: dt.datetime | None) -> str:
        return f"{at.astimezone(self.tz):%a %d %b %Y, %H:%M}" if at else "—"

    def window(self, start: dt.datetime | None, end: dt.datetime | None) -> str:
        if start is None or end is None:
            return "—"
        a, b = start.astimezone(self.tz), end.astimezone(self.tz)
        return f"{a:%a %d %b}, {a:%H:%M}–{b:%H:%M}"

    def day(self, at: dt.datetime) -> str:
        return f"{at.astimezone(self.tz):%a %d %b}"

    def date(self, at: dt.datetime) -> str:
        return f"{at.astimezone(self.tz):%a %d %b %Y}"

    def hours(self, start: dt.datetime, end: dt.datetime | None) -> str:
        a = start.astimezone(self.tz)
        return f"{a:%H:%M}–{end.astimezone(self.tz):%H:%M}" if end else f"{a:%H:%M}"

    def clock(self, at: dt.datetime | None) -> str:
        return f"{at.astimezone(self.tz):%H:%M}" if at else "—"


def _zone(session: Session, state_code: str) -> ZoneInfo:
    return ZoneInfo(state_service.get(session=session, code=state_code).timezone)


# --- the list -------------------------------------------------------------------------------

#: Words for a phone number (or a `q`) put in the list's address by hand: it is not used.
PHONE_IN_ADDRESS = (
    "A phone number is not searched from the page's address: type it in the search box "
    "(it is sent with the form, never in an address)."
)


def _int_or_none(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


@router.get("/requests", response_class=HTMLResponse)
def request_list(
    request: Request,
    user: RequestViewer,
    session: ReadSessionDep,
    clock: ClockDep,
    status: Annotated[str, Query(max_length=32)] = "",
    district: IdChoice = "",
    service: IdChoice = "",
    overdue: Annotated[str, Query(max_length=4)] = "",
    reference: Annotated[str, Query(max_length=40)] = "",
    citizen: IdChoice = "",
    page: Annotated[int, Query(ge=1, le=MOST_ID)] = 1,
    per_page: Annotated[int, Query(ge=1, le=search.MOST_PER_PAGE)] = search.PER_PAGE,
) -> Response:
    """The list. Never reads a phone number: `q` or `phone` in the address (an old link, or
    typed by hand) is left unused with a note, as is a reference filter that is a number."""
    note = PHONE_IN_ADDRESS if {"q", "phone"} & set(request.query_params) else ""
    error = ""
    query = search.Query()
    try:
        query = search.read_query(reference, default_state=user.state_code)
    except InvalidInput as exc:
        error = f"“{reference.strip()}”: {exc.reason}"
    if query.phone is not None:
        query, note = search.Query(), PHONE_IN_ADDRESS
    chosen_status = RequestStatus(status) if status in set(RequestStatus) else None
    filters = search.Filters(
        status=chosen_status,
        district_id=_int_or_none(district),
        service_id=_int_or_none(service),
        overdue=overdue == "on",
        citizen_id=_int_or_none(citizen),
        query=query,
    )
    return _list_page(
        request,
        session,
        user,
        clock.now(),
        filters,
        page=page,
        per_page=per_page,
        typed=query.reference or query.fragment or "",
        error=error,
        note=note,
    )


@router.post("/requests/search", response_class=HTMLResponse)
def request_search(
    request: Request,
    user: RequestViewer,
    session: ReadSessionDep,
    clock: ClockDep,
    q: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """The search box: a reference or a phone number, sent in the form's body. A whole
    reference opens its request, a piece of one lists the references holding it; a phone
    number lists its citizen's requests by the citizen's id (or opens the only one) — so the
    number is never in an address, a log line or a link."""
    typed = " ".join(q.split())
    try:
        found = search.resolve(session=session, state_code=user.state_code, text=typed)
    except InvalidInput as exc:
        error = f"“{typed}”: {exc.reason}"
        return _list_page(
            request, session, user, clock.now(), None, typed=typed, error=error, status_code=422
        )
    if found.request_id is not None:
        return RedirectResponse(f"/requests/{found.request_id}", status_code=303)
    if found.citizen_id is not None:
        return RedirectResponse(f"/requests?citizen={found.citizen_id}", status_code=303)
    if found.fragment is not None:
        return RedirectResponse(
            "/requests?" + urlencode({"reference": found.fragment}), status_code=303
        )
    if not typed:
        return RedirectResponse("/requests", status_code=303)
    missing = (
        f"Nothing matches “{typed}”: no request has that reference, and nobody with that "
        "number has a request."
    )
    return _list_page(request, session, user, clock.now(), None, typed=typed, error=missing)


@router.get("/requests/search")
def request_search_again(user: RequestViewer) -> Response:
    """Back to the list (where signing in again after a search ends up: the search's text was
    in the form, not the address)."""
    return RedirectResponse("/requests", status_code=303)


def _list_page(
    request: Request,
    session: Session,
    user: StaffUser,
    now: dt.datetime,
    filters: search.Filters | None,
    *,
    page: int = 1,
    per_page: int = search.PER_PAGE,
    typed: str = "",
    error: str = "",
    note: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The list page: one page of requests matching `filters` (none when the search box's text
    was refused or found nothing: `filters` None), the filters as chosen, and what was typed
    in the search box."""
    tz = _zone(session, user.state_code)
    today = now.astimezone(tz).date()
    shown_filters = filters or search.Filters()
    found = search.Page(rows=[], total=0, number=1, per_page=search.PER_PAGE)
    if filters is not None and not error:
        found = search.find(
            session=session,
            state_code=user.state_code,
            filters=filters,
            today=today,
            page=page,
            per_page=per_page,
        )
    citizen = None
    if shown_filters.citizen_id is not None:
        known = session.get(Citizen, shown_filters.citizen_id)
        citizen = known if known is not None and known.state_code == user.state_code else None
    q = shown_filters.query
    shown = {
        "status": shown_filters.status.value if shown_filters.status else "",
        "district": str(shown_filters.district_id or ""),
        "service": str(shown_filters.service_id or ""),
        "overdue": "on" if shown_filters.overdue else "",
        "reference": q.reference or q.fragment or "",
        "citizen": str(shown_filters.citizen_id or ""),
    }
    kept = {k: v for k, v in shown.items() if v}
    if found.per_page != search.PER_PAGE:
        kept["per_page"] = str(found.per_page)

    def url_without(name: str) -> str:
        rest = {k: v for k, v in kept.items() if k != name}
        return "/requests?" + urlencode(rest) if rest else "/requests"

    context = {
        "page": found,
        "filters": shown_filters,
        "form": shown,
        "typed": typed,
        "error": error,
        "note": note,
        "citizen": citizen,
        "masked_phone": validation.mask_phone(citizen.phone) if citizen else "",
        "statuses": list(RequestStatus),
        "districts": geography_service.districts(session=session, state_code=user.state_code),
        "services": catalogue_service.list_active(session=session, state_code=user.state_code),
        "today": today,
        "local": LocalTime(tz),
        "priority_label": priority_label,
        "page_url": lambda n: "/requests?" + urlencode({**kept, "page": n}),
        "url_without": url_without,
    }
    return templates.TemplateResponse(
        request, "requests/list.html", context, status_code=status_code
    )


# --- one request ----------------------------------------------------------------------------


def _request_of(session: Session, user: StaffUser, request_id: int) -> DoorstepRequest:
    """The request, if it is of the staff member's state (others do not exist for them)."""
    found = session.get(DoorstepRequest, request_id)
    if found is None or found.state_code != user.state_code:
        raise NotFound("request", request_id)
    return found


def _staff_name(actor: str | None) -> str:
    """Who an audit actor is, as a page names them ("staff:asha" -> "asha")."""
    return (actor or "").removeprefix("staff:")


# --- the request's plan changes, in words ---------------------------------------------------

#: What each cause of a plan change (`PlanChange.cause`: a key, free detail after a colon)
#: means to the person reading the history; a cause not here is shown as it is.
CAUSES = {
    "booking": "booking",
    "cancelled": "cancelled",
    "rescheduled": "rescheduled",
    "released": "taken out of the plan",
    "improved": "improved by the planner",
    "evening": "the evening's plan of the next day",
    "dispatcher": "dispatcher",
    "agent on leave": "agent on leave",
    "no agent can make the window": "no agent can make the window",
    "report": "agent's report",
    "planner": "the planner",
    "reoffer": "re-offered",
}
#: An agent's report (`report:<status>`), in words.
REPORTS = {
    "arrived": "arrived",
    "completed": "done",
    "failed": "failed",
    "no_show": "citizen not at home",
}
IMPROVED_AFTER = "improved after "


class HistoryKind(StrEnum):
    """The lines the page adds to the request's history (`dispatch.requests.timeline`)."""

    PLAN = "plan"
    APPEAL = "appeal"

    @property
    def label(self) -> str:
        return {HistoryKind.PLAN: "plan change", HistoryKind.APPEAL: "appeal"}[self]


@dataclass(frozen=True)
class Told:
    """Who was told of a plan change, in words; `href` where the console can show it."""

    text: str
    href: str | None = None


@dataclass(frozen=True)
class PlanLine:
    """One plan change (or the appeal mark) as a line of the history, shaped like
    `timeline.Entry` so the page lists both alike."""

    at: dt.datetime
    kind: HistoryKind
    title: str
    cause: str = ""
    told: tuple[Told, ...] = ()
    actor: str | None = None
    detail: str = ""
    amount_paise: int | None = None
    source_id: int = 0


def cause_words(cause: str) -> str:
    """`report:arrived` -> "agent's report: arrived", `improved after booking, report` ->
    "improved by the planner after booking, agent's report"; unknown causes as they are."""
    if cause.startswith(IMPROVED_AFTER):
        keys = cause.removeprefix(IMPROVED_AFTER).split(", ")
        return f"{CAUSES['improved']} after " + ", ".join(CAUSES.get(k, k) for k in keys)
    key, colon, detail = cause.partition(":")
    words = CAUSES.get(key)
    if words is None:
        return cause
    if key == "report" and detail:
        detail = REPORTS.get(detail, detail.replace("_", " "))
    return f"{words}: {detail}" if colon and detail else words


def _agent_name(names: dict[int, str], agent_id: int | None) -> str:
    if agent_id is None:
        return "no agent"
    return names.get(agent_id, f"agent #{agent_id}")


def _arrival(local: LocalTime, day: dt.date, at: dt.datetime | None) -> str:
    """An arrival time, with its day when it is not the change's zone-day."""
    if at is None:
        return "—"
    if at.astimezone(local.tz).date() == day:
        return local.clock(at)
    return f"{local.day(at)} {local.clock(at)}"


def _change_title(change: PlanChange, names: dict[int, str], local: LocalTime) -> str:
    """What moved, in a few words."""
    source = _agent_name(names, change.from_agent_id)
    target = _agent_name(names, change.to_agent_id)
    before = _arrival(local, change.day, change.from_arrival)
    after = _arrival(local, change.day, change.to_arrival)
    kind = change.kind
    if kind is PlanChangeKind.ADDED:
        return f"Added to {target}'s day (arrival {after})"
    if kind is PlanChangeKind.MOVED:
        return f"Moved from {source} to {target} (arrival {before} → {after})"
    if kind is PlanChangeKind.RETIMED:
        return f"Re-timed with {target}: arrival {before} → {after}"
    if kind is PlanChangeKind.DROPPED:
        return f"Left out of the plan (was with {source}, arrival {before})"
    if kind is PlanChangeKind.REOFFERED:
        if change.to_arrival is None:
            return "Re-offered: no window left, waits for the call-back"
        new_time = f"{local.day(change.to_arrival)} {local.clock(change.to_arrival)}"
        return f"Re-offered: new time {new_time} with {target}"
    if change.from_agent_id is not None:  # removed
        return f"Taken out of the plan (was with {source}, arrival {before})"
    return "Taken out of the plan"


def _told(
    notified: list[dict[str, Any]], names: dict[int, str], may_callbacks: bool
) -> tuple[Told, ...]:
    """Who was told of a change and how: the citizen or an agent by SMS (its number in the
    outbox: the outbox page lists messages, it cannot open one), the console by a call-back
    (linked to the call-back queue for those who may see it)."""
    out = []
    for n in notified:
        who, how, ref = str(n.get("who", "")), str(n.get("how", "")), n.get("id")
        number = f" #{ref}" if ref is not None else ""
        if how == "callback":
            href = "/callbacks" if may_callbacks and ref is not None else None
            out.append(Told(f"{'console' if who == 'console' else who} call-back{number}", href))
            continue
        means = "SMS" if how == "sms" else how
        if who.startswith("agent:") and who.removeprefix("agent:").isdigit():
            whom = _agent_name(names, int(who.removeprefix("agent:")))
        elif who == "agent":
            whom = "the agent"
        else:
            whom = who
        out.append(Told(f"{whom} by {means}{number}"))
    return tuple(out)


def plan_lines(
    *, session: Session, request_id: int, local: LocalTime, may_callbacks: bool
) -> list[PlanLine]:
    """The request's plan changes as history lines, oldest first."""
    found = plan_changes.for_request(session=session, request_id=request_id)
    ids = {a for c in found for a in (c.from_agent_id, c.to_agent_id) if a is not None}
    for c in found:
        ids |= {
            int(w.removeprefix("agent:"))
            for n in c.notified
            if (w := str(n.get("who", ""))).startswith("agent:")
            and w.removeprefix("agent:").isdigit()
        }
    names = {i: agent.name for i in ids if (agent := session.get(Agent, i)) is not None}
    return [
        PlanLine(
            at=c.at,
            kind=HistoryKind.PLAN,
            title=_change_title(c, names, local),
            cause=cause_words(c.cause),
            told=_told(c.notified, names, may_callbacks),
            actor=c.actor,
            source_id=c.id or 0,
        )
        for c in found
    ]


#: The appeal mark's audit record as the timeline titles it (`dispatch.alerts.deadlines`).
_MARKED_TITLE = deadlines.MARKED.replace("_", " ")


def _is_appeal_mark(entry: timeline.Entry) -> bool:
    return entry.kind is timeline.EntryKind.AUDIT and entry.title == _MARKED_TITLE


def _history(
    session: Session, found: DoorstepRequest, local: LocalTime, may_callbacks: bool
) -> list[timeline.Entry | PlanLine]:
    """One history, oldest first: the request's records (`dispatch.requests.timeline`) with
    its plan changes and the appeal mark among them (at the same moment, records first). The
    appeal mark is one line, the page's own (its audit record gives who made it)."""
    assert found.id is not None
    records = timeline.timeline(session=session, request_id=found.id)
    lines: list[timeline.Entry | PlanLine] = [
        *plan_lines(session=session, request_id=found.id, local=local, may_callbacks=may_callbacks)
    ]
    if found.appeal_marked_at is None:
        return sorted([*records, *lines], key=lambda e: e.at)
    marks = [e for e in records if _is_appeal_mark(e)]
    ended = f"{found.due_date:%a %d %b %Y}" if found.due_date is not None else ""
    lines.append(
        PlanLine(
            at=found.appeal_marked_at,
            kind=HistoryKind.APPEAL,
            title="Marked for the state's appeal",
            actor=marks[0].actor if marks else None,
            detail=f"its legal time limit ended on {ended}, undelivered" if ended else "",
        )
    )
    kept = [e for e in records if not _is_appeal_mark(e)]
    return sorted([*kept, *lines], key=lambda e: e.at)


def _detail_context(
    request: Request,
    session: Session,
    settings: Settings,
    user: StaffUser,
    request_id: int,
    now: dt.datetime,
) -> dict[str, Any]:
    found = _request_of(session, user, request_id)
    tz = _zone(session, found.state_code)
    citizen = citizen_service.get(session=session, citizen_id=found.citizen_id)
    address = citizen_service.get_address(session=session, address_id=found.address_id)
    village = geography_service.get_village(session=session, village_id=address.village_id)
    district = geography_service.get_district(session=session, district_id=found.district_id)
    service = catalogue_service.get(session=session, service_id=found.service_id)
    agent = session.get(Agent, found.agent_id) if found.agent_id is not None else None
    pinned = session.get(Agent, found.pinned_agent_id) if found.pinned_agent_id else None
    today = now.astimezone(tz).date()
    changeable = found.status in visit_rules.CHANGEABLE
    may_change = can(request, "change_requests")
    may_dispatch = can(request, "dispatch")
    offers: list[WindowOffer] = []
    if may_change and changeable:
        offers = planning_service.offer_windows(
            session=session,
            settings=settings,
            address_id=found.address_id,
            service_id=found.service_id,
            language=found.language,
            now=now,
            limit=OFFERED_WINDOWS,
            priority=found.priority,
            excluding=visit_rules.current_window(found),  # the window it has is no change
        )
    choices: list[planning_reassign.Choice] = []
    not_movable = planning_reassign.movable(found)
    if may_dispatch and not_movable is None:
        every = planning_reassign.choices(session=session, request_id=request_id)
        # Those with a place first; the others shown, not choosable, so nobody wonders.
        choices = sorted((c for c in every if not c.current), key=lambda c: not c.fits)
    return {
        "r": found,
        "citizen": citizen,
        "address": address,
        "village": village,
        "district": district,
        "service": service,
        "agent": agent,
        # Numbers in full only for those who ring them: a citizen's for whoever rings callers
        # back (call agents, supervisors), an agent's for whoever runs the day (dispatch).
        "citizen_phone": citizen.phone
        if can(request, "callbacks")
        else validation.mask_phone(citizen.phone),
        "agent_phone": (agent.phone if may_dispatch else validation.mask_phone(agent.phone))
        if agent
        else "",
        "pinned_agent": pinned,
        "pinned_by": _staff_name(found.pinned_by),
        "overdue": search.is_overdue(found.status, found.due_date, today),
        "balance": ledger_service.balance(session=session, request_id=request_id),
        "has_visit_code": bool(found.visit_code),
        "entries": _history(session, found, LocalTime(tz), can(request, "callbacks")),
        "changeable": changeable,
        "may_change": may_change,
        "may_dispatch": may_dispatch,
        "offers": offers,
        "offer_value": lambda o: json.dumps(o.to_json(), sort_keys=True),
        "settlement": desk.settlement_if_cancelled(session=session, request_id=request_id),
        "choices": choices,
        "any_fits": any(c.fits for c in choices),
        "not_movable": not_movable,
        "priorities": [p for p in range(found.priority + 1, desk.MOST_URGENT + 1)],
        "keys": {action: str(uuid.uuid4()) for action in ACTIONS},
        "local": LocalTime(tz),
        "priority_label": priority_label,
        "horizon_days": settings.offer_horizon_days,
        "notice": "",
        "error": "",
    }


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_detail(
    request: Request,
    request_id: RequestId,
    user: RequestViewer,
    session: ReadSessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    done: str = "",
) -> HTMLResponse:
    context = _detail_context(request, session, settings, user, request_id, clock.now())
    context["notice"] = _notice(done, context)
    return templates.TemplateResponse(request, "requests/detail.html", context)


def _notice(done: str, context: dict[str, Any]) -> str:
    """The line shown after an action redirected back (from the request as it is now)."""
    r: DoorstepRequest = context["r"]
    local: LocalTime = context["local"]
    agent: Agent | None = context["agent"]
    texts = {
        "rescheduled": f"Rescheduled to {local.window(r.window_start, r.window_end)}; "
        "the citizen is sent an SMS.",
        "cancelled": "Cancelled; the ledger shows what was waived or refunded.",
        "reassigned": f"The visit is now with {agent.name if agent else 'another agent'}, "
        "and re-plans keep it with them.",
        "priority": f"Priority raised to {priority_label(r.priority)}; the day will be re-planned.",
    }
    return texts.get(done, "")


# --- the actions ----------------------------------------------------------------------------


def _key(action: str, key: str) -> str:
    """The domain's idempotency key for a console form's key (a uuid4 drawn with the page)."""
    try:
        parsed = uuid.UUID(key)
    except ValueError:
        raise InvalidInput("idempotency_key", key, "reload the page and try again") from None
    return f"console:{action}:{parsed}"


@dataclass(frozen=True)
class Acting:
    """What every action on a request needs besides its form: the database, the settings, the
    moment, the SMS sender and the answer's background tasks."""

    engine: Engine
    settings: Settings
    now: dt.datetime
    sender: SmsSender
    background: BackgroundTasks


def _acting(
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    sender: SenderDep,
    background: BackgroundTasks,
) -> Acting:
    return Acting(engine, settings, clock.now(), sender, background)


ActingDep = Annotated[Acting, Depends(_acting)]


def _act(
    request: Request,
    acting: Acting,
    user: StaffUser,
    request_id: int,
    what: str,
    command: Callable[[Session], tuple[str, int | None]],
) -> Response:
    """Run one command in its own transaction; then send the SMS it queued and go back to the
    request with a notice, or show the request again with the refusal."""
    engine, settings, now = acting.engine, acting.settings, acting.now
    try:
        with write_session(engine) as session:
            _request_of(session, user, request_id)
            done, message_id = command(session)
    except DispatchError as exc:
        status = status_for(exc)
        if status == 404:
            raise
        with read_session(engine) as session:
            context = _detail_context(request, session, settings, user, request_id, now)
        context["error"] = f"Could not {what}: {_readable(exc)}"
        return templates.TemplateResponse(
            request, "requests/detail.html", context, status_code=status
        )
    if message_id is not None:
        acting.background.add_task(_deliver, engine, acting.sender, message_id)
    return RedirectResponse(f"/requests/{request_id}?done={done}", status_code=303)


def _readable(exc: DispatchError) -> str:
    """The refusal in words for the person at the form (an input error's reason alone)."""
    return exc.reason if isinstance(exc, InvalidInput) else str(exc)


def _deliver(engine: Engine, sender: SmsSender, message_id: int) -> None:
    """Send the SMS a change queued, after its transaction committed; a failure stays in the
    outbox for the scheduled retry."""
    try:
        notification_service.send(engine=engine, message_id=message_id, sender=sender)
    except Exception as exc:
        # The type and where, not the message: it may quote the citizen's number.
        trace = "".join(traceback.format_tb(exc.__traceback__))
        log.error("could not deliver SMS %s: %s\n%s", message_id, type(exc).__name__, trace)


def _offer(text: str) -> WindowOffer:
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("not an object")
        return WindowOffer.from_json(data)
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("offer", "", "choose one of the windows offered") from None


@router.post("/requests/{request_id}/reschedule")
def reschedule(
    request: Request,
    request_id: RequestId,
    user: RequestChanger,
    acting: ActingDep,
    offer: Annotated[str, Form(max_length=1000)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    settings, now = acting.settings, acting.now

    def command(session: Session) -> tuple[str, int | None]:
        moved = visits.reschedule_visit(
            session=session,
            settings=settings,
            idempotency_key=_key("reschedule", key),
            actor=actor_of(user),
            request_id=request_id,
            proof=StaffActing(user.id or 0),
            offer=_offer(offer),
            now=now,
        )
        return "rescheduled", moved.message_id

    return _act(request, acting, user, request_id, "reschedule", command)


@router.post("/requests/{request_id}/cancel")
def cancel(
    request: Request,
    request_id: RequestId,
    user: RequestChanger,
    acting: ActingDep,
    reason: Annotated[str, Form(max_length=MOST_REASON_CHARS)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    settings, now = acting.settings, acting.now

    def command(session: Session) -> tuple[str, int | None]:
        why = " ".join(reason.split())
        if not why:
            raise InvalidInput("reason", reason, "say why the visit is cancelled")
        cancelled = visits.cancel_visit(
            session=session,
            settings=settings,
            idempotency_key=_key("cancel", key),
            actor=actor_of(user),
            request_id=request_id,
            proof=StaffActing(user.id or 0),
            reason=why,
            now=now,
        )
        return "cancelled", cancelled.message_id

    return _act(request, acting, user, request_id, "cancel", command)


@router.post("/requests/{request_id}/reassign")
def reassign(
    request: Request,
    request_id: RequestId,
    user: Dispatcher,
    acting: ActingDep,
    agent_id: Annotated[str, Form(max_length=9)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    now = acting.now

    def command(session: Session) -> tuple[str, int | None]:
        chosen = _int_or_none(agent_id)
        if chosen is None:
            raise InvalidInput("agent_id", agent_id, "choose an agent")
        desk.reassign(
            session=session,
            idempotency_key=_key("reassign", key),
            actor=actor_of(user),
            request_id=request_id,
            agent_id=chosen,
            now=now,
        )
        return "reassigned", None

    return _act(request, acting, user, request_id, "reassign", command)


@router.post("/requests/{request_id}/priority")
def raise_priority(
    request: Request,
    request_id: RequestId,
    user: Dispatcher,
    acting: ActingDep,
    priority: Annotated[str, Form(max_length=4)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    now = acting.now

    def command(session: Session) -> tuple[str, int | None]:
        level = _int_or_none(priority)
        if level is None:
            raise InvalidInput("priority", priority, "choose a priority")
        desk.raise_priority(
            session=session,
            idempotency_key=_key("priority", key),
            actor=actor_of(user),
            request_id=request_id,
            priority=level,
            now=now,
        )
        return "priority", None

    return _act(request, acting, user, request_id, "raise the priority", command)
