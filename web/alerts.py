"""The alerts page (permission: supervise): what the scheduled tasks raised for the state's
supervisors and nobody has acknowledged yet (`dispatch.alerts`).

- `GET /alerts` — open alerts, newest first, 50 a page, filtered by kind and district: a legal
  time limit near, reached (escalated) or passed (the request marked for the state's appeal),
  each linking to its request's page (`/requests/{id}`, with the request's status now when it
  has since been delivered or cancelled); an agent's day whose fees do not reconcile, linking
  to that agent-day's fees page (`/fees/{agent}/{day}`). No citizen's name or number: a
  reference, a service, a district.
- `GET /alerts/count` — the navigation's badge (empty with none open); loaded with each page,
  not polled.
- `POST /alerts/{id}/acknowledge` — a form with its CSRF token; without JavaScript it answers
  with a redirect back to the list (its filters kept) and a notice; with htmx, the row in its
  acknowledged state and the counts (out of band). Audited once: acknowledging twice, or two
  supervisors at once, is fine and says who did it first. Another state's alert is not found.

Not here: raising alerts (`dispatch.alerts.deadlines`, `dispatch.alerts.fees`).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from dispatch.alerts import service as alert_service
from dispatch.alerts.models import Alert, AlertKind
from dispatch.pendency import service as pendency
from dispatch.ports import Clock
from dispatch.requests.rules import TERMINAL
from dispatch.staff.models import StaffUser
from dispatch.staff.service import actor_of
from dispatch.states import service as state_service
from ivr.deps import get_clock
from web.auth import Supervisor
from web.deps import ReadSessionDep, RowId, WriteSessionDep
from web.requests import LocalTime
from web.templating import templates

router = APIRouter()
ClockDep = Annotated[Clock, Depends(get_clock)]
IdChoice = Annotated[str, Query(max_length=9, pattern=r"^\d*$")]
KindChoice = Annotated[str, Query(max_length=24)]

#: Each kind as the page names it, in the filter's order.
KIND_LABELS = {
    AlertKind.APPEAL: "Marked for appeal",
    AlertKind.DEADLINE_REACHED: "Due today: escalated",
    AlertKind.DEADLINE_NEAR: "Time limit near",
    AlertKind.FEES: "Fees do not reconcile",
}
KIND_HELP = {
    AlertKind.APPEAL: "the legal time limit passed undelivered: the request is listed for the "
    "state's appeal",
    AlertKind.DEADLINE_REACHED: "the due date has come and the request is not delivered",
    AlertKind.DEADLINE_NEAR: "most of the legal time limit has gone (working days)",
    AlertKind.FEES: "yesterday's money of an agent differs from the ledger",
}


def _zone(session: Session, state_code: str) -> ZoneInfo:
    return ZoneInfo(state_service.get(session=session, code=state_code).timezone)


def subject_url(alert: Alert) -> str:
    """Where an alert's subject is: its request's page, or its agent-day's fees."""
    if alert.request_id is not None:
        return f"/requests/{alert.request_id}"
    if alert.agent_id is not None and alert.day is not None:
        return f"/fees/{alert.agent_id}/{alert.day.isoformat()}"
    return "/alerts"


def what(alert: Alert) -> str:
    """The alert's detail as the row shows it: a request's reference, service and district
    have their own columns, so only what is said of them ("6 of 7 working days gone, ...").
    The last dash ends the subject: a service's or district's name may hold one, what is said
    never does."""
    _subject, said, rest = alert.detail.rpartition(" — ")  # `dispatch.alerts.deadlines`' form
    if alert.request_id is None or not said:
        return alert.detail
    return rest[:1].upper() + rest[1:]


def _filters(kind: str, district: str) -> tuple[AlertKind | None, int | None, dict[str, str]]:
    """The filters read from the address (an unknown kind is left out, as a stale link's)."""
    chosen = AlertKind(kind) if kind in set(AlertKind) else None
    district_id = int(district) if district else None
    kept = {"kind": chosen.value if chosen else "", "district": district}
    return chosen, district_id, {k: v for k, v in kept.items() if v}


def _list_url(kept: dict[str, str], **more: object) -> str:
    merged = {**kept, **{k: str(v) for k, v in more.items() if v not in (None, "")}}
    return f"/alerts?{urlencode(merged)}" if merged else "/alerts"


def _context(
    session: Session, user: StaffUser, kind: str, district: str, page: int
) -> dict[str, Any]:
    chosen, district_id, kept = _filters(kind, district)
    found = alert_service.open_alerts(
        session=session,
        state_code=user.state_code,
        kind=chosen,
        district_id=district_id,
        page=page,
    )
    known = pendency.names(session=session, state_code=user.state_code)
    return {
        "page": found,
        "open_total": alert_service.count_open(session=session, state_code=user.state_code),
        "kinds": [(k, KIND_LABELS[k], KIND_HELP[k]) for k in KIND_LABELS],
        "kind_labels": KIND_LABELS,
        "districts": list(known.districts.values()),
        "form": kept,
        "kept": kept,
        "local": LocalTime(_zone(session, user.state_code)),
        "subject_url": subject_url,
        "what": what,
        "closed_statuses": TERMINAL,
        "page_url": lambda n: _list_url(kept, page=n),
    }


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    user: Supervisor,
    session: ReadSessionDep,
    kind: KindChoice = "",
    district: IdChoice = "",
    page: Annotated[int, Query(ge=1, le=2**31 - 1)] = 1,
    done: Annotated[str, Query(max_length=12)] = "",
    alert: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    context = _context(session, user, kind, district, page)
    if done == "ack" and alert:
        context["notice"] = f"Alert #{alert} acknowledged."
    elif done == "already" and alert:
        context["notice"] = f"Alert #{alert} was already acknowledged."
    return templates.TemplateResponse(request, "alerts/index.html", context)


@router.get("/alerts/count", response_class=HTMLResponse)
def alerts_count(request: Request, user: Supervisor, session: ReadSessionDep) -> Response:
    count = alert_service.count_open(session=session, state_code=user.state_code)
    return templates.TemplateResponse(request, "alerts/_count.html", {"count": count})


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(
    request: Request,
    alert_id: RowId,
    user: Supervisor,
    session: WriteSessionDep,
    clock: ClockDep,
    kind: Annotated[str, Form(max_length=24)] = "",
    district: Annotated[str, Form(max_length=9, pattern=r"^\d*$")] = "",
) -> Response:
    done = alert_service.acknowledge(
        session=session,
        state_code=user.state_code,
        alert_id=alert_id,
        actor=actor_of(user),
        now=clock.now(),
    )
    chosen, district_id, kept = _filters(kind, district)
    if request.headers.get("hx-request") == "true":
        context = {
            "line": alert_service.line_of(
                session=session, state_code=user.state_code, alert_id=alert_id
            ),
            "changed": done.changed,
            "count": alert_service.count_open(session=session, state_code=user.state_code),
            "listed": alert_service.count_open(
                session=session, state_code=user.state_code, kind=chosen, district_id=district_id
            ),
            "filtered": bool(kept),
            "local": LocalTime(_zone(session, user.state_code)),
            "kind_labels": KIND_LABELS,
            "subject_url": subject_url,
            "what": what,
            "closed_statuses": TERMINAL,
        }
        return templates.TemplateResponse(request, "alerts/_acknowledged.html", context)
    said = "ack" if done.changed else "already"
    return RedirectResponse(_list_url(kept, done=said, alert=alert_id), status_code=303)
