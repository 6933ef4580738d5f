"""The feedback and grievance pages (permission: supervise).

- `GET /feedback` — citizens' ratings over the last weeks (4 to 52, 12 by default), narrowed by
  district, service and agent: tiles (average, count, share of 1-2, open grievances), charts
  drawn on the server (`web.charts`: the average per week by district, the average by service,
  the 1-5 distribution) each with its numbers in a table, tables by service, agent and
  district, and the latest ratings with the citizens' comments (escaped; shown only here).
- `GET /feedback/export/<table>.csv` — every table of the page as CSV, with the same filters.
- `GET /grievances` — the grievances, open first and the oldest first (overdue after 7 days),
  filtered by status, district and agent.
- `GET /grievances/{id}` — one grievance: its request (a link), rating, comment, agent, the
  SMS about the request, and the close form (an internal note, and the outcome the citizen is
  told, each outcome shown as the SMS the citizen would get in their language).
- `POST /grievances/{id}/close` — closes it (`dispatch.grievances.service.close`); the form
  carries the version it was drawn at, so a form sent twice closes once and a grievance closed
  meanwhile by someone else is said so (409). A refused note or outcome shows the page again
  with what was typed (422). The citizen's SMS is sent after the commit.

Not here: what is counted or changed (`dispatch.grievances`), how charts are drawn.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.catalogue import service as catalogue_service
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.errors import Conflict, DispatchError, InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.grievances import ratings, rules
from dispatch.grievances import service as grievances
from dispatch.grievances.models import GrievanceStatus
from dispatch.notifications import service as notification_service
from dispatch.notifications import texts as message_texts
from dispatch.ports import Clock, SmsSender
from dispatch.staff.models import StaffUser
from dispatch.staff.service import actor_of
from dispatch.states import service as state_service
from ivr.deps import get_clock, get_sms_sender
from web import charts, export
from web import feedback_export as exports
from web.auth import Supervisor
from web.deps import EngineDep, ReadSessionDep, SettingsDep
from web.errors import status_for
from web.requests import LocalTime
from web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter()

ClockDep = Annotated[Clock, Depends(get_clock)]
SenderDep = Annotated[SmsSender, Depends(get_sms_sender)]
#: An id chosen in a filter's list: empty for "any", else at most nine digits.
IdChoice = Annotated[str, Query(max_length=9, pattern=r"^\d*$")]
GrievanceId = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: Districts drawn as lines in the weekly chart (the most rated; the table has them all).
CHARTED_DISTRICTS = 6
#: Services drawn as bars (the most rated; the table has them all).
CHARTED_SERVICES = 10
LANGUAGE_NAMES = {"hi": "Hindi", "en": "English", "ur": "Urdu"}
STAR_NAMES = {1: "1 (poor)", 2: "2", 3: "3", 4: "4", 5: "5 (excellent)"}


def _id(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def _zone(session: Session, state_code: str) -> ZoneInfo:
    return ZoneInfo(state_service.get(session=session, code=state_code).timezone)


def _agents(session: Session, state_code: str) -> list[Agent]:
    return list(
        session.exec(select(Agent).where(Agent.state_code == state_code).order_by(col(Agent.name)))
    )


def average_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def share_text(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def without_code(body: str, code: str | None) -> str:
    """An SMS's words with the citizen's visit code hidden (it is their proof at the door;
    no console page shows it)."""
    return body.replace(code, "•" * len(code)) if code else body


def week_label(monday: dt.date) -> str:
    return f"{monday.day} {monday:%b}"


def stars(rating: int) -> Markup:
    """★★☆☆☆ with its number for those who cannot see the stars."""
    return Markup(
        '<span class="stars r{0}" aria-label="{0} of 5" title="{0} of 5">{1}</span>'
    ).format(rating, "★" * rating + "☆" * (5 - rating))


# --- the ratings page ------------------------------------------------------------------------


def _ratings_filters(district: str, service: str, agent: str) -> ratings.Filters:
    return ratings.Filters(district_id=_id(district), service_id=_id(service), agent_id=_id(agent))


def _report(
    session: Session, user: StaffUser, filters: ratings.Filters, weeks: int, now: dt.datetime
) -> ratings.Report:
    return ratings.report(
        session=session, state_code=user.state_code, filters=filters, weeks=weeks, now=now
    )


def _charted_districts(report: ratings.Report) -> list[ratings.Group]:
    rated = [g for g in report.by_district if g.tally.count and g.id in report.district_weekly]
    return rated[:CHARTED_DISTRICTS]


def _charts(report: ratings.Report) -> dict[str, Markup | None]:
    labels = [week_label(w) for w in report.weeks]
    if not report.overall.count:
        return {"weekly": None, "services": None, "distribution": None}
    series: dict[str, list[float | None]] = {"All": [t.average for t in report.weekly]}
    for group in _charted_districts(report):
        assert group.id is not None
        series[group.name] = [t.average for t in report.district_weekly[group.id]]
    services = [g for g in report.by_service if g.tally.count][:CHARTED_SERVICES]
    return {
        "weekly": charts.lines(
            title="Average rating per week",
            labels=labels,
            series=series,
            y_range=(1, 5),
            description="Average rating (1 to 5) per week, for all districts and for the "
            "most rated districts; the table below has the numbers.",
        ),
        "services": charts.bars(
            title="Average rating by service",
            labels=[g.name for g in services],
            series={"Average": [g.tally.average for g in services]},
            horizontal=True,
            value_range=(0, 5),
            description="Average rating (1 to 5) of the most rated services; the services "
            "table has every service.",
        ),
        "distribution": charts.bars(
            title="Ratings 1 to 5",
            labels=[STAR_NAMES[s] for s in rules.STARS],
            series={"Ratings": list(report.overall.by_star)},
            description="How many ratings of each value from 1 (poor) to 5 (excellent).",
        ),
    }


@router.get("/feedback", response_class=HTMLResponse)
def feedback_page(
    request: Request,
    user: Supervisor,
    session: ReadSessionDep,
    clock: ClockDep,
    district: IdChoice = "",
    service: IdChoice = "",
    agent: IdChoice = "",
    weeks: Annotated[str, Query(max_length=3)] = "",
) -> HTMLResponse:
    chosen_weeks = rules.weeks_choice(weeks)
    filters = _ratings_filters(district, service, agent)
    now = clock.now()
    report = _report(session, user, filters, chosen_weeks, now)
    form = {"district": district, "service": service, "agent": agent, "weeks": str(chosen_weeks)}
    kept = {k: v for k, v in form.items() if v and not (k == "weeks" and v == "12")}
    query = urlencode(kept)
    open_query = urlencode(
        {"status": "open", **{k: v for k, v in kept.items() if k in ("district", "agent")}}
    )
    context = {
        "report": report,
        "charts": _charts(report),
        "charted": _charted_districts(report),
        "form": form,
        "query": f"?{query}" if query else "",
        "open_query": open_query,
        "week_choices": rules.WEEK_CHOICES,
        "districts": geography_service.districts(session=session, state_code=user.state_code),
        "services": catalogue_service.list_active(session=session, state_code=user.state_code),
        "agents": _agents(session, user.state_code),
        "local": LocalTime(_zone(session, user.state_code)),
        "week_label": week_label,
        "average_text": average_text,
        "share_text": share_text,
        "stars": stars,
        "star_names": STAR_NAMES,
        "now_local": f"{now.astimezone(_zone(session, user.state_code)):%a %d %b %Y, %H:%M}",
    }
    return templates.TemplateResponse(request, "feedback/page.html", context)


@router.get("/feedback/export/{table}.csv")
def feedback_export(
    table: Annotated[str, Path(max_length=20)],
    user: Supervisor,
    session: ReadSessionDep,
    clock: ClockDep,
    district: IdChoice = "",
    service: IdChoice = "",
    agent: IdChoice = "",
    weeks: Annotated[str, Query(max_length=3)] = "",
    status: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    """One table of the page (or the grievance list) as CSV, with the page's filters."""
    if table not in exports.TABLES:
        raise NotFound("table", table)
    now = clock.now()
    tz = _zone(session, user.state_code)
    filters = _ratings_filters(district, service, agent)
    chosen_weeks = rules.weeks_choice(weeks)
    report = _report(session, user, filters, chosen_weeks, now)
    listed = None
    if table == "grievances":
        listed = grievances.find(
            session=session,
            state_code=user.state_code,
            filters=_grievance_filters(status, district, agent, service),
            now=now,
            per_page=None,
        )
    header, rows = exports.rows(table, report, LocalTime(tz), listed)
    day = now.astimezone(tz).date().isoformat()
    return export.csv_response(f"feedback-{table}-{day}.csv", header, rows)


# --- grievances ----------------------------------------------------------------------------


def _grievance_filters(
    status: str, district: str, agent: str, service: str = ""
) -> grievances.Filters:
    chosen = GrievanceStatus(status) if status in set(GrievanceStatus) else None
    return grievances.Filters(
        status=chosen, district_id=_id(district), agent_id=_id(agent), service_id=_id(service)
    )


@router.get("/grievances", response_class=HTMLResponse)
def grievance_list(
    request: Request,
    user: Supervisor,
    session: ReadSessionDep,
    clock: ClockDep,
    status: Annotated[str, Query(max_length=8)] = "",
    district: IdChoice = "",
    agent: IdChoice = "",
    page: Annotated[int, Query(ge=1, le=2**31 - 1)] = 1,
) -> HTMLResponse:
    now = clock.now()
    filters = _grievance_filters(status, district, agent)
    found = grievances.find(
        session=session, state_code=user.state_code, filters=filters, now=now, page=page
    )
    form = {"status": filters.status.value if filters.status else "", "district": district}
    form["agent"] = agent
    kept = {k: v for k, v in form.items() if v}
    context = {
        "page": found,
        "form": form,
        "statuses": list(GrievanceStatus),
        "districts": geography_service.districts(session=session, state_code=user.state_code),
        "agents": _agents(session, user.state_code),
        "open_total": grievances.open_count(
            session=session, state_code=user.state_code, filters=grievances.Filters()
        ),
        "local": LocalTime(_zone(session, user.state_code)),
        "stars": stars,
        "page_url": lambda n: "/grievances?" + urlencode({**kept, "page": n}),
        "export_url": "/feedback/export/grievances.csv" + (f"?{urlencode(kept)}" if kept else ""),
        "overdue_days": rules.OVERDUE_AFTER.days,
    }
    return templates.TemplateResponse(request, "feedback/grievances.html", context)


def _detail_context(
    request: Request,
    session: Session,
    settings: Settings,
    user: StaffUser,
    grievance_id: int,
    now: dt.datetime,
) -> dict[str, Any]:
    shown = grievances.detail(
        session=session,
        settings=settings,
        state_code=user.state_code,
        grievance_id=grievance_id,
        now=now,
    )
    previews = (
        grievances.close_previews(session=session, settings=settings, request=shown.request)
        if shown.grievance.status is GrievanceStatus.OPEN
        else {}
    )
    return {
        "g": shown.grievance,
        "d": shown,
        "outcomes": list(rules.Outcome),
        "previews": previews,
        "english": {o: _english_words(settings, o) for o in rules.Outcome},
        "local": LocalTime(_zone(session, user.state_code)),
        "stars": stars,
        "closer": (shown.grievance.closed_by or "").removeprefix("staff:"),
        "typed": {"note": "", "outcome": ""},
        "errors": {},
        "error": "",
        "notice": "",
        "most_note": rules.MOST_NOTE_CHARS,
        "language_name": LANGUAGE_NAMES.get(shown.language, shown.language),
        "words": lambda body: without_code(body, shown.request.visit_code),
        "overdue_days": rules.OVERDUE_AFTER.days,
    }


def _english_words(settings: Settings, outcome: rules.Outcome) -> str:
    return message_texts.load(settings.seed_dir / "messages").text(outcome.message_key, "en")


@router.get("/grievances/{grievance_id}", response_class=HTMLResponse)
def grievance_detail(
    request: Request,
    grievance_id: GrievanceId,
    user: Supervisor,
    session: ReadSessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    done: Annotated[str, Query(max_length=10)] = "",
) -> HTMLResponse:
    context = _detail_context(request, session, settings, user, grievance_id, clock.now())
    if done == "closed" and context["g"].status is GrievanceStatus.CLOSED:
        context["notice"] = "Closed. " + (
            "The citizen's SMS is on its way."
            if context["d"].closed_message is not None
            else "No SMS could go to the citizen: call them."
        )
    return templates.TemplateResponse(request, "feedback/grievance.html", context)


def _deliver(engine: Engine, sender: SmsSender, message_id: int) -> None:
    """Send the citizen's SMS after the close committed; a failure stays in the outbox for the
    scheduled retry."""
    try:
        notification_service.send(engine=engine, message_id=message_id, sender=sender)
    except Exception as exc:
        # The type and where, not the message: it may quote the citizen's number.
        trace = "".join(traceback.format_tb(exc.__traceback__))
        log.error("could not deliver SMS %s: %s\n%s", message_id, type(exc).__name__, trace)


@router.post("/grievances/{grievance_id}/close")
def grievance_close(
    request: Request,
    grievance_id: GrievanceId,
    user: Supervisor,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    sender: SenderDep,
    background: BackgroundTasks,
    note: Annotated[str, Form(max_length=4000)] = "",
    outcome: Annotated[str, Form(max_length=40)] = "",
    version: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    now = clock.now()
    try:
        with write_session(engine) as session:
            closed = grievances.close(
                session=session,
                settings=settings,
                state_code=user.state_code,
                grievance_id=grievance_id,
                version=version,
                note=note,
                outcome=outcome,
                actor=actor_of(user),
                now=now,
            )
    except DispatchError as exc:
        if isinstance(exc, NotFound):
            raise
        with read_session(engine) as session:
            context = _detail_context(request, session, settings, user, grievance_id, now)
        context["typed"] = {"note": note, "outcome": outcome}
        if isinstance(exc, InvalidInput):
            context["errors"] = {exc.field: exc.reason}
            context["error"] = "The grievance is not closed: see below."
        elif isinstance(exc, Conflict):
            context["error"] = (
                f"Not closed: {exc}. The page now shows the grievance as it is; your note is "
                "kept below if it is still open."
            )
        else:
            context["error"] = f"Not closed: {exc}"
        return templates.TemplateResponse(
            request, "feedback/grievance.html", context, status_code=status_for(exc)
        )
    if closed.message_id is not None and not closed.replayed:
        background.add_task(_deliver, engine, sender, closed.message_id)
    return RedirectResponse(f"/grievances/{grievance_id}?done=closed", status_code=303)
