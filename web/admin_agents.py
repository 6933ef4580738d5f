"""The admin's field agents (permission: administer).

- `GET /admin/agents` — the state's agents (filters: district, switched on or off, a name or
  CSC id), each with block and district, skills, languages, shift and break, working days,
  today's load against the daily cap, and whether they are on leave today.
- `GET /admin/agents/new`, `POST /admin/agents/new` — a new agent (`agent_service.create`); a
  form sent twice finds the agent it made (its hidden token) rather than a "CSC id exists".
- `GET /admin/agents/{id}`, `POST /admin/agents/{id}` — the agent's form: name, phone, block,
  skills, languages, working days, shift and break as HH:MM, daily cap, travel mode, switched
  on; `dispatch.visits.roster.update_agent` (switching off is refused while visits are
  planned; a change that touches planning has their days re-planned). Every bad field gets
  its message beside it and the form comes back as typed (422).
- the leave section of that page: upcoming leave; `POST /admin/agents/{id}/leave` puts the
  agent on leave for a day or a range with a reason (`roster.put_on_leave`, its idempotency
  key drawn with the page) and comes back with what happened to the visits (`?leave=<key>`);
  `POST /admin/agents/{id}/leave/remove` takes a day back (`roster.end_leave`). SMS to
  citizens whose visit got a new time are sent after the commit (the outbox retries them).
- the agent's history from the audit log, each change before → after.

Not here: the checks and use cases (`dispatch.agents`, `dispatch.visits.roster`).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.agents import rules as agent_rules
from dispatch.agents import service as agent_service
from dispatch.agents.models import WEEKDAYS, Agent, TravelMode
from dispatch.agents.rules import InvalidAgent, hhmm
from dispatch.audit.models import AuditEntry
from dispatch.catalogue.service import SKILLS
from dispatch.errors import InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.notifications import service as notification_service
from dispatch.ports import Clock, SmsSender
from dispatch.staff.models import StaffUser
from dispatch.staff.service import actor_of
from dispatch.states import service as state_service
from dispatch.visits import roster
from dispatch.visits.once import KeyReused
from ivr.deps import get_clock, get_sms_sender
from web import admin_history
from web.auth import Administrator
from web.callbacks import LANGUAGE_NAMES
from web.deps import EngineDep, ReadSessionDep, RowId, WriteSessionDep
from web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter()

ClockDep = Annotated[Clock, Depends(get_clock)]
SenderDep = Annotated[SmsSender, Depends(get_sms_sender)]
IdChoice = Annotated[str, Query(max_length=9, pattern=r"^\d*$")]
Text = Annotated[str, Form(max_length=200)]
Choices = Annotated[list[str] | None, Form()]

WEEKDAY_NAMES = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
TRAVEL_NAMES = {
    TravelMode.TWO_WHEELER: "two-wheeler",
    TravelMode.ON_FOOT: "on foot",
    TravelMode.FOUR_WHEEL_DRIVE: "four-wheel drive",
}
#: The form's labels of the fields, also naming them in the history.
LABELS = {
    "csc_id": "CSC id",
    "name": "Name",
    "phone": "Phone",
    "block": "Block",
    "lat": "Latitude",
    "lon": "Longitude",
    "skills": "Skills",
    "languages": "Languages",
    "working_days": "Working days",
    "shift_start": "Shift starts",
    "shift_end": "Shift ends",
    "break_start": "Break starts",
    "break_minutes": "Break minutes",
    "daily_cap": "Visits a day at most",
    "travel_mode": "Travels",
    "active": "Switched on",
    "days": "Days",
    "reason": "Reason",
}
NOTICES = {
    "created": "The agent is added; they are planned from their first working day.",
    "saved": "Saved.",
    "unchanged": "Nothing was changed.",
    "leave_removed": "The leave is taken back: the agent is on duty those days again (visits "
    "moved away stay where they went; the day's re-plan may give them new ones).",
}


def _zone(session: Session, state_code: str) -> ZoneInfo:
    return ZoneInfo(state_service.get(session=session, code=state_code).timezone)


def _agent_of(session: Session, user: StaffUser, agent_id: int) -> Agent:
    """The agent, if of the admin's state (others do not exist for them)."""
    agent = session.get(Agent, agent_id)
    if agent is None or agent.state_code != user.state_code:
        raise NotFound("agent", agent_id)
    return agent


def _day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
    return start, start + dt.timedelta(days=1)


def shift_text(agent: Agent) -> str:
    text = f"{hhmm(agent.shift_start_min)}–{hhmm(agent.shift_end_min)}"
    if agent.break_start_min is not None:
        text += f", break {hhmm(agent.break_start_min)} ({agent.break_minutes} min)"
    return text


def days_text(days: list[str]) -> str:
    """Working days in short: "Mon–Sat", or each one."""
    ordered = [d for d in WEEKDAYS if d in days]
    indexes = [WEEKDAYS.index(d) for d in ordered]
    if len(indexes) >= 3 and indexes == list(range(indexes[0], indexes[-1] + 1)):
        return f"{WEEKDAY_NAMES[ordered[0]]}–{WEEKDAY_NAMES[ordered[-1]]}"
    return ", ".join(WEEKDAY_NAMES[d] for d in ordered) or "—"


# --- the list -----------------------------------------------------------------------------------


@router.get("/admin/agents", response_class=HTMLResponse)
def agent_list(
    request: Request,
    user: Administrator,
    session: ReadSessionDep,
    clock: ClockDep,
    district: IdChoice = "",
    active: Annotated[str, Query(pattern=r"^(|yes|no)$")] = "",
    q: Annotated[str, Query(max_length=60)] = "",
) -> HTMLResponse:
    tz = _zone(session, user.state_code)
    today = clock.now().astimezone(tz).date()
    rows = agent_service.roster(
        session=session,
        state_code=user.state_code,
        district_id=int(district) if district else None,
        active={"yes": True, "no": False}.get(active),
        text=q,
    )
    ids = [r.agent.id or 0 for r in rows]
    start, end = _day_bounds(today, tz)
    context = {
        "rows": rows,
        "load": agent_service.load_on(session=session, agent_ids=ids, start=start, end=end),
        "on_leave": agent_service.on_leave(session=session, agent_ids=ids, day=today),
        "districts": geography_service.districts(session=session, state_code=user.state_code),
        "form": {"district": district, "active": active, "q": q},
        "today": today,
        "shift_text": shift_text,
        "days_text": days_text,
        "language_names": LANGUAGE_NAMES,
        "travel_names": TRAVEL_NAMES,
    }
    return templates.TemplateResponse(request, "admin_agents/list.html", context)


# --- the form -----------------------------------------------------------------------------------


def _form_of(agent: Agent, block_code: str) -> dict[str, Any]:
    """The form's fields as the agent has them."""
    return {
        "csc_id": agent.csc_id,
        "name": agent.name,
        "phone": agent.phone,
        "block": block_code,
        "lat": f"{agent.lat}",
        "lon": f"{agent.lon}",
        "skills": list(agent.skills),
        "languages": list(agent.languages),
        "working_days": list(agent.working_days),
        "shift_start": hhmm(agent.shift_start_min),
        "shift_end": hhmm(agent.shift_end_min),
        "break_start": hhmm(agent.break_start_min),
        "break_minutes": str(agent.break_minutes if agent.break_start_min is not None else 30),
        "daily_cap": str(agent.daily_cap),
        "travel_mode": TravelMode(agent.travel_mode).value,
        "active": agent.active,
    }


NEW_FORM: dict[str, Any] = {
    "csc_id": "",
    "name": "",
    "phone": "",
    "block": "",
    "lat": "",
    "lon": "",
    "skills": ["biometric"],
    "languages": ["hi"],
    "working_days": list(WEEKDAYS[:6]),
    "shift_start": "09:00",
    "shift_end": "17:00",
    "break_start": "13:00",
    "break_minutes": "30",
    "daily_cap": "8",
    "travel_mode": TravelMode.TWO_WHEELER.value,
    "active": True,
}


def _coordinate(text: str, field: str, errors: dict[str, str]) -> float | None:
    """A latitude or longitude as typed ("" for none)."""
    if not text.strip():
        return None
    try:
        return float(text.strip())
    except ValueError:
        errors.setdefault(field, "a number of degrees, like 34.0764")
        return None


def _form_context(
    session: Session,
    user: StaffUser,
    now: dt.datetime,
    agent: Agent | None,
    form: dict[str, Any],
    errors: dict[str, str],
    **extra: Any,
) -> dict[str, Any]:
    state = state_service.get(session=session, code=user.state_code)
    tz = ZoneInfo(state.timezone)
    today = now.astimezone(tz).date()
    districts = geography_service.districts(session=session, state_code=user.state_code)
    context: dict[str, Any] = {
        "agent": agent,
        "form": form,
        "errors": errors,
        "labels": LABELS,
        "districts": [
            (d, geography_service.blocks(session=session, district_id=d.id or 0)) for d in districts
        ],
        "skills": sorted(SKILLS),
        "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in state.languages],
        "weekdays": [(d, WEEKDAY_NAMES[d]) for d in WEEKDAYS],
        "travel_modes": [(m.value, TRAVEL_NAMES[m]) for m in TravelMode],
        "most_visits": agent_rules.MOST_VISITS,
        "form_key": str(uuid.uuid4()),
        "today": today,
        "notice": "",
        "error": "",
        "leave": [],
        "leave_form": {"first": today.isoformat(), "last": "", "reason": ""},
        "leave_errors": {},
        "leave_key": str(uuid.uuid4()),
        "leave_result": None,
        "longest_leave": agent_rules.LONGEST_LEAVE_DAYS,
        "history": [],
        "ahead": [],
        "version": 0,
        "conflict": "",
        "leave_versions": {},
        "tz": tz,
    }
    if agent is not None and agent.id is not None:
        context["version"] = agent_service.agent_version(session=session, agent_id=agent.id)
        start, _ = _day_bounds(today, tz)
        context["leave"] = agent_service.leave_from(session=session, agent_id=agent.id, day=today)
        context["leave_versions"] = {
            leave.day: agent_service.leave_version(
                session=session, agent_id=agent.id, day=leave.day
            )
            for leave in context["leave"]
        }
        context["history"] = admin_history.rows(
            agent_service.history(session=session, agent_id=agent.id), tz, LABELS, _note
        )
        context["ahead"] = roster.planned_visits(
            session=session, agent_id=agent.id, start=start, end=start + dt.timedelta(days=366)
        )
    context.update(extra)
    return context


def _note(entry: AuditEntry) -> str:
    """A leave's outcome in a few words, for the history."""
    if entry.action != roster.LEAVE_VISITS:
        return ""
    result = roster.LeaveResult.from_json(entry.detail["outcome"])
    return leave_summary(result)


def leave_summary(result: roster.LeaveResult) -> str:
    """ "3 visits moved to other agents, 1 needs a new time: JK-26-…" """
    parts = []
    if result.moved:
        n = len(result.moved)
        parts.append(f"{n} visit{'s' if n != 1 else ''} moved to other agents")
    timed = [v for v in result.new_time if v.window_start is not None]
    if timed:
        refs = ", ".join(v.reference for v in timed)
        parts.append(f"{len(timed)} moved to a new time, the citizen told by SMS: {refs}")
    if result.waiting:
        n, refs = len(result.waiting), ", ".join(v.reference for v in result.waiting)
        parts.append(f"{n} need{'s' if n == 1 else ''} a new time: {refs}")
    if result.under_way:
        refs = ", ".join(v.reference for v in result.under_way)
        parts.append(f"{len(result.under_way)} already under way, left with the agent: {refs}")
    return "; ".join(parts) or "no visits were planned for them those days"


def _page(request: Request, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "admin_agents/edit.html", context, status_code=status_code
    )


def _conflict(
    request: Request,
    session: Session,
    user: StaffUser,
    now: dt.datetime,
    agent: Agent,
    message: str,
) -> HTMLResponse:
    """The agent's page as it is now, saying why nothing was done (409)."""
    block = geography_service.get_block(session=session, block_id=agent.block_id)
    context = _form_context(
        session, user, now, agent, _form_of(agent, block.code), {}, conflict=message
    )
    return _page(request, context, 409)


@router.get("/admin/agents/new", response_class=HTMLResponse)
def agent_new(
    request: Request, user: Administrator, session: ReadSessionDep, clock: ClockDep
) -> HTMLResponse:
    return _page(request, _form_context(session, user, clock.now(), None, dict(NEW_FORM), {}))


@router.post("/admin/agents/new", response_class=HTMLResponse)
def agent_create(
    request: Request,
    user: Administrator,
    session: WriteSessionDep,
    clock: ClockDep,
    csc_id: Annotated[str, Form(max_length=16)] = "",
    name: Annotated[str, Form(max_length=120)] = "",
    phone: Annotated[str, Form(max_length=24)] = "",
    block: Annotated[str, Form(max_length=12)] = "",
    lat: Annotated[str, Form(max_length=20)] = "",
    lon: Annotated[str, Form(max_length=20)] = "",
    skills: Choices = None,
    languages: Choices = None,
    working_days: Choices = None,
    shift_start: Annotated[str, Form(max_length=5)] = "",
    shift_end: Annotated[str, Form(max_length=5)] = "",
    break_start: Annotated[str, Form(max_length=5)] = "",
    break_minutes: Annotated[str, Form(max_length=4)] = "",
    daily_cap: Annotated[str, Form(max_length=4)] = "",
    travel_mode: Annotated[str, Form(max_length=24)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    typed = {
        "csc_id": csc_id,
        "name": name,
        "phone": phone,
        "block": block,
        "lat": lat,
        "lon": lon,
        "skills": skills or [],
        "languages": languages or [],
        "working_days": working_days or [],
        "shift_start": shift_start,
        "shift_end": shift_end,
        "break_start": break_start,
        "break_minutes": break_minutes,
        "daily_cap": daily_cap,
        "travel_mode": travel_mode,
        "active": True,
    }
    made = agent_service.made_by_form(session=session, csc_id=csc_id, form_key=key)
    if made is not None and made.state_code == user.state_code:  # the same form sent again
        return RedirectResponse(f"/admin/agents/{made.id}?done=created", status_code=303)
    errors: dict[str, str] = {}
    latitude, longitude = _coordinate(lat, "lat", errors), _coordinate(lon, "lon", errors)
    try:
        with session.begin_nested():
            created = agent_service.create(
                session=session,
                state_code=user.state_code,
                csc_id=csc_id,
                name=name,
                phone=phone,
                block_code=block,
                lat=latitude,
                lon=longitude,
                skills=skills or [],
                languages=languages or [],
                working_days=working_days or [],
                shift_start=shift_start,
                shift_end=shift_end,
                break_start=break_start,
                break_minutes=break_minutes or "30",
                daily_cap=daily_cap,
                travel_mode=travel_mode,
                actor=actor_of(user),
                form_key=key or None,
            )
            if errors:
                raise InvalidAgent(errors)
    except InvalidAgent as exc:
        errors = {**errors, **exc.problems}
        context = _form_context(session, user, clock.now(), None, typed, errors, form_key=key)
        return _page(request, context, 422)
    return RedirectResponse(f"/admin/agents/{created.id}?done=created", status_code=303)


@router.get("/admin/agents/{agent_id}", response_class=HTMLResponse)
def agent_edit(
    request: Request,
    agent_id: RowId,
    user: Administrator,
    session: ReadSessionDep,
    clock: ClockDep,
    done: Annotated[str, Query(max_length=20)] = "",
    leave: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    agent = _agent_of(session, user, agent_id)
    block = geography_service.get_block(session=session, block_id=agent.block_id)
    result = roster.leave_result(session=session, agent_id=agent_id, key=leave) if leave else None
    context = _form_context(
        session,
        user,
        clock.now(),
        agent,
        _form_of(agent, block.code),
        {},
        notice=NOTICES.get(done, ""),
        leave_result=result,
        leave_text=leave_summary(result) if result is not None else "",
    )
    return _page(request, context)


@router.post("/admin/agents/{agent_id}", response_class=HTMLResponse)
def agent_update(
    request: Request,
    agent_id: RowId,
    user: Administrator,
    session: WriteSessionDep,
    clock: ClockDep,
    name: Annotated[str, Form(max_length=120)] = "",
    phone: Annotated[str, Form(max_length=24)] = "",
    block: Annotated[str, Form(max_length=12)] = "",
    lat: Annotated[str, Form(max_length=20)] = "",
    lon: Annotated[str, Form(max_length=20)] = "",
    skills: Choices = None,
    languages: Choices = None,
    working_days: Choices = None,
    shift_start: Annotated[str, Form(max_length=5)] = "",
    shift_end: Annotated[str, Form(max_length=5)] = "",
    break_start: Annotated[str, Form(max_length=5)] = "",
    break_minutes: Annotated[str, Form(max_length=4)] = "",
    daily_cap: Annotated[str, Form(max_length=4)] = "",
    travel_mode: Annotated[str, Form(max_length=24)] = "",
    active: Annotated[str, Form(max_length=3)] = "",
    version: Annotated[int | None, Form(ge=0, le=2**63 - 1)] = None,
) -> Response:
    agent = _agent_of(session, user, agent_id)
    now = clock.now()
    typed: dict[str, Any] = {
        "csc_id": agent.csc_id,
        "name": name,
        "phone": phone,
        "block": block,
        "lat": lat,
        "lon": lon,
        "skills": skills or [],
        "languages": languages or [],
        "working_days": working_days or [],
        "shift_start": shift_start,
        "shift_end": shift_end,
        "break_start": break_start,
        "break_minutes": break_minutes,
        "daily_cap": daily_cap,
        "travel_mode": travel_mode,
        "active": active == "on",
    }
    errors: dict[str, str] = {}
    latitude, longitude = _coordinate(lat, "lat", errors), _coordinate(lon, "lon", errors)
    old_block = geography_service.get_block(session=session, block_id=agent.block_id)
    if block != old_block.code and lat == f"{agent.lat}" and lon == f"{agent.lon}":
        latitude = longitude = None  # a new block, the old place untouched: its centre
    try:
        with session.begin_nested():
            made = roster.update_agent(
                session=session,
                actor=actor_of(user),
                agent_id=agent_id,
                now=now,
                name=name,
                phone=phone,
                block_code=block,
                lat=latitude,
                lon=longitude,
                skills=skills or [],
                languages=languages or [],
                working_days=working_days or [],
                shift_start=shift_start,
                shift_end=shift_end,
                break_start=break_start,
                break_minutes=break_minutes or "30",
                daily_cap=daily_cap,
                travel_mode=travel_mode,
                active=active == "on",
                version=version,
            )
            if errors:
                raise InvalidAgent(errors)
    except agent_service.EditedMeanwhile:
        # A form drawn before another save (sent again, or left open): nothing changed; the
        # agent as they are now, to start again from.
        session.expire_all()
        return _conflict(
            request,
            session,
            user,
            now,
            _agent_of(session, user, agent_id),
            "Nothing was saved: this agent was changed by someone else since this form was "
            "opened. Here is the agent as they are now; make your change again if it is "
            "still needed.",
        )
    except InvalidAgent as exc:
        session.expire_all()
        agent = _agent_of(session, user, agent_id)
        errors = {**errors, **exc.problems}
        context = _form_context(session, user, now, agent, typed, errors)
        return _page(request, context, 422)
    done = "saved" if made.after else "unchanged"
    return RedirectResponse(f"/admin/agents/{agent_id}?done={done}", status_code=303)


# --- leave --------------------------------------------------------------------------------------


def _date(text: str, field: str, errors: dict[str, str]) -> dt.date | None:
    if not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        errors.setdefault(field, "a date like 2026-12-01")
        return None


def _deliver(engine: Engine, sender: SmsSender, message_ids: list[int]) -> None:
    """Send the SMS the leave queued, after its transaction committed; a failure stays in the
    outbox for the scheduled retry."""
    for message_id in message_ids:
        try:
            notification_service.send(engine=engine, message_id=message_id, sender=sender)
        except Exception as exc:
            # The type only (its words may quote the citizen's number); the outbox retries.
            log.error("could not deliver SMS %s: %s", message_id, type(exc).__name__)


@router.post("/admin/agents/{agent_id}/leave", response_class=HTMLResponse)
def agent_leave(
    request: Request,
    agent_id: RowId,
    user: Administrator,
    session: WriteSessionDep,
    engine: EngineDep,
    clock: ClockDep,
    sender: SenderDep,
    background: BackgroundTasks,
    first: Annotated[str, Form(max_length=10)] = "",
    last: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=agent_rules.MOST_REASON_CHARS)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    agent = _agent_of(session, user, agent_id)
    now = clock.now()
    errors: dict[str, str] = {}
    first_day, last_day = _date(first, "first", errors), _date(last, "last", errors)
    try:
        parsed = uuid.UUID(key)
    except ValueError:
        errors["reason"] = "the form is out of date: reload the page and try again"
        parsed = None
    try:
        if errors:
            raise InvalidAgent(errors)
        result = roster.put_on_leave(
            session=session,
            settings=request.app.state.settings,
            idempotency_key=f"console:leave:{parsed}",
            actor=actor_of(user),
            agent_id=agent_id,
            first=first_day,
            last=last_day,
            reason=reason,
            now=now,
        )
    except (InvalidAgent, KeyReused) as exc:
        problems = exc.problems if isinstance(exc, InvalidAgent) else {"reason": str(exc)}
        block = geography_service.get_block(session=session, block_id=agent.block_id)
        context = _form_context(
            session,
            user,
            now,
            agent,
            _form_of(agent, block.code),
            {},
            leave_form={"first": first, "last": last, "reason": reason},
            leave_errors=problems,
            leave_key=key if parsed is not None else str(uuid.uuid4()),
        )
        return _page(request, context, 422)
    if result.message_ids:
        background.add_task(_deliver, engine, sender, result.message_ids)
    return RedirectResponse(
        f"/admin/agents/{agent_id}?leave=console:leave:{parsed}#leave", status_code=303
    )


@router.post("/admin/agents/{agent_id}/leave/remove", response_class=HTMLResponse)
def agent_leave_remove(
    request: Request,
    agent_id: RowId,
    user: Administrator,
    session: WriteSessionDep,
    clock: ClockDep,
    day: Annotated[str, Form(max_length=10)] = "",
    leave_version: Annotated[int | None, Form(ge=0, le=2**63 - 1)] = None,
) -> Response:
    agent = _agent_of(session, user, agent_id)
    try:
        chosen = dt.date.fromisoformat(day)
    except ValueError:
        raise InvalidInput("day", day, "choose a day of leave") from None
    gone = f"/admin/agents/{agent_id}?done=leave_removed#leave"
    if leave_version is not None and leave_version != agent_service.leave_version(
        session=session, agent_id=agent_id, day=chosen
    ):
        # The form names the leave it was drawn for: that leave taken back already (the form
        # sent again), it does not take back leave put in since for the same day.
        on_leave = agent_service.leave_from(session=session, agent_id=agent_id, day=chosen)
        if not any(leave.day == chosen for leave in on_leave):
            return RedirectResponse(gone, status_code=303)
        return _conflict(
            request,
            session,
            user,
            clock.now(),
            agent,
            "Nothing was taken back: the leave on this day was put in again since this page "
            "was opened. Here it is as it stands now.",
        )
    today = clock.now().astimezone(_zone(session, agent.state_code)).date()
    if chosen < today:
        raise InvalidInput("day", day, "leave already taken cannot be taken back")
    roster.end_leave(session=session, actor=actor_of(user), agent_id=agent_id, days=[chosen])
    return RedirectResponse(gone, status_code=303)
