"""The field agent's day page: `GET /a/<token>`, the signed link of the morning itinerary.

The signed token (`dispatch.fieldwork.access.day_token`: one agent, one day) is the agent's
only proof: there is no other sign-in, so the page is served in production too. A forged,
mistyped or expired token gets a bare 404. The page lists the day in the plan's order (time,
reference, citizen's first name and phone, village, landmark, service, fee, documents,
status, an "at risk" mark) and, under each open visit, plain HTML forms for the reports —
arrived, done (the citizen's visit code and an optional UPI reference), failed (a reason),
no-show — posted to `POST /a/<token>/report`, which calls the domain's report in one
transaction, sends the SMS it queued after answering, and redirects back to the page with a
short result (`?m=<result key>&r=<reference>`). At the foot, the day's takings: the cash and
UPI the agent says they took in, typed in rupees, posted to `POST /a/<token>/takings` and
recorded as the day's fee declaration (`dispatch.ledger.service.declare`), which the
supervisors' fees pages compare with the ledger. Once a supervisor has counted the day's money
at a handover, the page shows that count instead of the form: the agent's own is refused.

Made for cheap phones on poor coverage: one small page (inline CSS, no script, no font, no
image; under 30 KB for a full day), each form works on its own, and a form sent twice (a
double tap, a retry after a timeout) maps to the same idempotency key, so it acts once.
Private: `no-store`, `noindex` (and `no-referrer` and a policy that lets nothing load or run
but its own stylesheet: `web.security`); neither the citizen's phone nor their name is
ever put in a URL or a log.

Not here: the reports themselves (`dispatch.fieldwork.service`), what a day holds
(`dispatch.fieldwork.day`), the signing (`dispatch.fieldwork.access`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import secrets
import traceback
from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from dispatch.agents.models import Agent
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.errors import Conflict, DispatchError, InvalidInput, InvalidTransition, NotFound
from dispatch.fieldwork import access, commands, day, notices
from dispatch.fieldwork import service as field
from dispatch.fieldwork.commands import UPI_RRN_DIGITS, FailReason
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind, FeeDeclaration, PaymentMethod
from dispatch.ledger.rules import MOST_DECLARED_PAISE, is_handover
from dispatch.money import paise_of
from dispatch.notifications import service as notification_service
from dispatch.ports import Clock, SmsSender
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.states import service as state_service
from dispatch.visits.models import UseCase
from dispatch.visits.once import KeyReused
from dispatch.visits.rules import CODE_DIGITS
from ivr.deps import get_clock, get_sms_sender
from web.deps import EngineDep, ReadSessionDep, SettingsDep
from web.templating import rupees, templates

log = logging.getLogger(__name__)
router = APIRouter(prefix="/a", tags=["agents"])

ClockDep = Annotated[Clock, Depends(get_clock)]
SenderDep = Annotated[SmsSender, Depends(get_sms_sender)]

#: Every answer of this page: never cached (a shared phone, a proxy), never indexed. That it is
#: never sent on as a Referer (the token is the agent's proof) and that nothing but its own
#: nonced stylesheet may load or run in it are `web.security`'s headers for `/a/`.
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}

ACTIONS = ("arrived", "done", "failed", "no_show")
_FORM_ID = re.compile(r"[A-Za-z0-9_-]{8,32}")
_REFERENCE = re.compile(r"[A-Z0-9-]{4,20}")
#: A UPI transaction ID (the RRN is 12 digits): the same rule as the SMS `DONE` command.
MOST_CODE_CHARS = 12
MOST_UPI_CHARS = 40

STATUS_LABELS = {
    RequestStatus.SCHEDULED: "planned",
    RequestStatus.ASSIGNED: "planned",
    RequestStatus.EN_ROUTE: "on the way",
    RequestStatus.ARRIVED: "at the door",
    RequestStatus.COMPLETED: "done",
    RequestStatus.FAILED: "failed",
    RequestStatus.NO_SHOW: "no-show",
}


@dataclass(frozen=True)
class Result:
    """The line at the top of the page after a report: what happened, good news or not."""

    text: str
    ok: bool


@dataclass(frozen=True)
class AgentDay:
    agent: Agent
    day: dt.date
    tz: ZoneInfo


def _private(response: Response) -> Response:
    response.headers.update(PRIVATE_HEADERS)
    return response


def _missing(request: Request) -> Response:
    """The same bare 404 for a forged, mistyped, expired or retired link: nothing to learn."""
    return _private(
        templates.TemplateResponse(request, "agent_day/missing.html", {}, status_code=404)
    )


def _agent_day(
    session: Session, settings: Settings, token: str, now: dt.datetime
) -> AgentDay | None:
    """The active agent and day the token was signed for, if it holds and has not expired."""
    # Links are dated in local days; every state served keeps India's time, so the default
    # state's zone tells today before we know whose link it is.
    home = ZoneInfo(state_service.get(session=session, code=settings.default_state).timezone)
    found = access.read_day_token(settings=settings, token=token, today=day.local_day(now, home))
    if found is None:
        return None
    agent_id, on = found
    agent = session.get(Agent, agent_id)
    if agent is None or not agent.active:
        return None
    return AgentDay(agent=agent, day=on, tz=notices.agent_zone(session, agent))


# --- the page ---------------------------------------------------------------------------------


@router.get("/{token}", response_class=HTMLResponse)
def day_page(
    request: Request,
    token: str,
    session: ReadSessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    m: str = "",
    r: str = "",
) -> Response:
    now = clock.now()
    found = _agent_day(session, settings, token, now)
    if found is None:
        return _missing(request)
    return _page(request, session, settings, token, found, now, m, r)


def _page(
    request: Request,
    session: Session,
    settings: Settings,
    token: str,
    found: AgentDay,
    now: dt.datetime,
    m: str,
    r: str,
    takings: Takings | None = None,
    status_code: int = 200,
) -> Response:
    """The page; `takings` is the takings form as typed when it is shown again (422)."""
    agent, tz = found.agent, found.tz
    assert agent.id is not None
    visits = day.visits(session=session, agent_id=agent.id, day=found.day, tz=tz)
    failures = access.recent_failures(
        session=session, settings=settings, agent_id=agent.id, now=now
    )
    tries_left = max(settings.agent_failures_allowed - failures, 0)
    today = day.local_day(now, tz)
    declared = ledger_service.counting_declaration(
        session=session, agent_id=agent.id, day=found.day
    )
    counted = declared if declared is not None and is_handover(declared.actor) else None
    if m == "takings":
        result: Result | None = _takings_saved(declared) if counted is None else None
    else:
        result = _result(session, settings, visits, m, r, tries_left)
    context = {
        "token": token,
        "first_name": day.first_name(agent.name),
        "day": found.day,
        "day_label": f"{found.day:%a} {found.day.day} {found.day:%b}",
        "today": found.day == today,
        "open": [v for v in visits if v.open],
        "finished": [v for v in visits if v.finished],
        "result": result,
        "paused": tries_left == 0,
        "form_id": secrets.token_urlsafe(9),
        "reasons": list(FailReason),
        "labels": STATUS_LABELS,
        "hhmm": lambda when: notices.hhmm(when, tz),
        "spaced": spaced_phone,
        "may_declare": found.day <= today,
        "declared": declared,
        "counted": counted,
        "counted_at": _when(counted.at, tz) if counted is not None else "",
        "takings": takings or Takings(),
    }
    return _private(
        templates.TemplateResponse(request, "agent_day/day.html", context, status_code=status_code)
    )


def spaced_phone(phone: str) -> str:
    """`+91 98765 43210`: an Indian mobile number as people read it out (others as they are)."""
    if phone.startswith("+91") and len(phone) == 13:
        return f"{phone[:3]} {phone[3:8]} {phone[8:]}"
    return phone


def _result(
    session: Session,
    settings: Settings,
    visits: list[day.DayVisit],
    key: str,
    reference: str,
    tries_left: int,
) -> Result | None:
    """The words for the result key a report redirected with (`None` for none or unknown)."""
    ref = reference if _REFERENCE.fullmatch(reference) else ""
    visit = next((v for v in visits if v.reference == ref), None)
    lead = f"{ref}: " if ref else ""
    paused = f"too many wrong codes: paused for up to {settings.agent_lockout_minutes} minutes"
    if key == "done":
        return Result(f"{lead}done, {_collected(session, visit)}", ok=True)
    if key == "arrived":
        return Result(f"{lead}arrived", ok=True)
    if key == "failed":
        return Result(f"{lead}marked failed", ok=True)
    if key == "no_show":
        return Result(f"{lead}marked no-show", ok=True)
    if key == "wrong_code":
        if tries_left == 0:
            return Result(f"{lead}visit code does not match; {paused}", ok=False)
        tries = "1 try" if tries_left == 1 else f"{tries_left} tries"
        return Result(f"{lead}visit code does not match: {tries} left", ok=False)
    if key == "closed":
        label = STATUS_LABELS.get(visit.status, "closed") if visit else "closed"
        said = {"done": "completed", "failed": "marked failed", "no-show": "marked no-show"}
        return Result(f"{lead}already {said.get(label, 'closed')}", ok=False)
    fixed = {
        "locked": paused,
        "not_yours": "not one of your visits",
        "not_today": f"{lead}not today's visit",
        "code_missing": f"type the citizen's {CODE_DIGITS}-digit visit code",
        "bad_upi": (
            f"UPI ref: the {UPI_RRN_DIGITS}-digit number on the payment (or its transaction "
            "ID); leave it empty if paid in cash"
        ),
        "reason_missing": "choose why the visit failed",
        "stale": "this page was out of date: check the visit and try again",
        "counted": "not saved: a supervisor has already counted this day's money",
        "error": "could not save that: please press again",
    }
    return Result(fixed[key], ok=False) if key in fixed else None


def _collected(session: Session, visit: day.DayVisit | None) -> str:
    """`collected ₹50 cash` from the ledger (the truth, whatever the form said)."""
    if visit is None:
        return "recorded"
    collections = [
        e
        for e in ledger_service.entries(session=session, request_id=visit.request_id)
        if e.kind is EntryKind.COLLECT
    ]
    amount = sum(e.amount_paise for e in collections)
    if amount == 0:
        return "nothing to collect"
    how = "by UPI" if collections[-1].method is PaymentMethod.UPI else "cash"
    return f"collected {rupees(amount)} {how}"


# --- the day's takings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Takings:
    """The takings form as typed, with a message per field it could not use."""

    cash: str = ""
    upi: str = ""
    errors: dict[str, str] = dataclasses.field(default_factory=dict)


def _counted(session: Session, agent_id: int, on: dt.date) -> FeeDeclaration | None:
    """The supervisor's count of the day's money at a handover, if there is one: it stands,
    and the page shows it instead of the form."""
    declared = ledger_service.counting_declaration(session=session, agent_id=agent_id, day=on)
    return declared if declared is not None and is_handover(declared.actor) else None


def _when(at: dt.datetime, tz: ZoneInfo) -> str:
    """`Tue 5 May, 10:00` in the agent's zone (a handover is often the next day)."""
    local = at.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


def _takings_saved(declared: FeeDeclaration | None) -> Result | None:
    if declared is None:
        return None
    return Result(
        f"Takings saved: cash {rupees(declared.cash_paise)}, UPI {rupees(declared.upi_paise)}",
        ok=True,
    )


def _read_takings(cash: str, upi: str) -> tuple[dict[str, int], dict[str, str]]:
    """Paise of the two amounts typed in rupees, and what is wrong with them."""
    amounts: dict[str, int] = {}
    errors: dict[str, str] = {}
    for name, typed in (("cash", cash), ("upi", upi)):
        try:
            amounts[name] = paise_of(typed, field=name, most=MOST_DECLARED_PAISE)
        except InvalidInput as exc:
            errors[name] = exc.reason
    if not errors and not (cash.strip() or upi.strip()):
        errors["cash"] = "type the cash you took in (0 if none)"
    return amounts, errors


@router.post("/{token}/takings")
def record_takings(
    request: Request,
    token: str,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    cash: Annotated[str, Form(max_length=40)] = "",
    upi: Annotated[str, Form(max_length=40)] = "",
    form_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """The agent's own count of what they took in on the link's day (cash and UPI, typed in
    rupees): recorded as the day's declaration (actor `agent:<id>`), then back to the page
    (303). A form that cannot be used is shown again with what was typed (422). The same form
    sent twice with the same amounts records once, also when both arrive at the same moment.
    Refused (back to the page, which shows the count) once a supervisor has counted the day's
    money at a handover."""
    now = clock.now()
    with read_session(engine) as session:
        found = _agent_day(session, settings, token, now)
    if found is None:
        return _missing(request)
    agent_id = found.agent.id
    assert agent_id is not None
    today = day.local_day(now, found.tz)
    if not _FORM_ID.fullmatch(form_id) or found.day > today:  # no form is drawn for a day to come
        return _back(token, "stale", "")
    amounts, errors = _read_takings(cash, upi)
    if not errors:
        key = f"day-page:takings:{agent_id}:{form_id}:{amounts['cash']}:{amounts['upi']}"
        try:
            with write_session(engine) as session:
                ledger_service.declare(
                    session=session,
                    agent_id=agent_id,
                    day=found.day,
                    cash_paise=amounts["cash"],
                    upi_paise=amounts["upi"],
                    actor=field.actor_of(agent_id),
                    today=today,
                    idempotency_key=key,
                    now=now,
                )
        except InvalidInput as exc:  # the checks above leave none: said, not a crash
            errors["cash"] = exc.reason
        except ledger_service.CountedAtHandover:  # the page shows the supervisor's count
            return _back(token, "counted", "")
        except OperationalError as exc:  # the database busy or unreachable: nothing was saved
            log.error("day page: agent %s could not declare takings: %s", agent_id, _trace(exc))
            return _back(token, "error", "")
    if errors:
        with read_session(engine) as session:
            if _counted(session, agent_id, found.day) is not None:  # no form to show again
                return _back(token, "counted", "")
            return _page(
                request,
                session,
                settings,
                token,
                found,
                now,
                "",
                "",
                Takings(cash=cash, upi=upi, errors=errors),
                status_code=422,
            )
    log.info("day page: agent %s declared the takings of %s", agent_id, found.day)
    return _private(RedirectResponse(f"/a/{token}?m=takings#takings", status_code=303))


# --- the reports ------------------------------------------------------------------------------


@router.post("/{token}/report")
def report(
    request: Request,
    token: str,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    sender: SenderDep,
    background: BackgroundTasks,
    request_id: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    upi: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    form_id: Annotated[str, Form()] = "",
) -> Response:
    """Record one report and go back to the page (303) with what happened."""
    now = clock.now()
    with read_session(engine) as session:
        found = _agent_day(session, settings, token, now)
    if found is None:
        return _missing(request)
    agent_id = found.agent.id
    assert agent_id is not None
    problem = _check(request_id, action, code, upi, reason, form_id)
    if problem:
        return _back(token, problem, "")
    key = f"day-page:{agent_id}:{form_id}:{request_id}:{action}"
    message_ids: tuple[int, ...] = ()
    try:
        with write_session(engine) as session:
            outcome, reference, message_ids = _report(
                session, settings, agent_id, key, int(request_id), action, code, upi, reason, now
            )
    except Exception as exc:
        # Nothing was saved (one transaction); the form may simply be sent again.
        log.error(
            "day page: agent %s could not report %s on request %s: %s",
            agent_id,
            action,
            request_id,
            _trace(exc),
        )
        return _back(token, "error", "")
    log.info("day page: agent %s %s request %s: %s", agent_id, action, request_id, outcome)
    if message_ids:
        # Sending claims each message first, so a replayed report's ids send nothing twice.
        background.add_task(_deliver, engine, sender, list(message_ids))
    return _back(token, outcome, reference)


def _check(request_id: str, action: str, code: str, upi: str, reason: str, form_id: str) -> str:
    """The result key of a form the domain need not see, or "" when it may go on."""
    if not (request_id.isascii() and request_id.isdigit() and len(request_id) < 12):
        return "stale"
    if action not in ACTIONS or not _FORM_ID.fullmatch(form_id):
        return "stale"
    if action == "done":
        if not code.strip() or len(code) > MOST_CODE_CHARS:
            return "code_missing"
        if upi.strip() and not _upi_ok(upi):
            return "bad_upi"
    if action == "failed" and reason not in set(FailReason):
        return "reason_missing"
    return ""


def _upi_ok(upi: str) -> bool:
    return len(upi) <= MOST_UPI_CHARS and commands.upi_reference_ok(upi)


def _outcome(action: str, code: str, upi: str, reason: str) -> field.Outcome:
    """The report a form's button asks for (the form was checked before)."""
    if action == "done":
        return field.Outcome(
            UseCase.COMPLETE, visit_code=code.strip(), upi_reference=" ".join(upi.split()) or None
        )
    if action == "failed":
        return field.Outcome(UseCase.FAIL, reason=FailReason(reason))
    return field.Outcome(UseCase.ARRIVE if action == "arrived" else UseCase.NO_SHOW)


def _report(
    session: Session,
    settings: Settings,
    agent_id: int,
    key: str,
    request_id: int,
    action: str,
    code: str,
    upi: str,
    reason: str,
    now: dt.datetime,
) -> tuple[str, str, tuple[int, ...]]:
    """Call the domain's report; returns the result key, the reference to show and the
    messages to send. Errors the agent can act on become result keys *inside* the
    transaction, so it commits: a wrong visit code is counted before it is refused."""
    try:
        done = field.report(
            session=session,
            settings=settings,
            idempotency_key=key,
            agent_id=agent_id,
            request_id=request_id,
            outcome=_outcome(action, code, upi, reason),
            now=now,
        )
    except field.WrongVisitCode as wrong:
        return "wrong_code", wrong.reference, ()
    except access.AgentLockedOut:
        return "locked", "", ()
    except field.NotToday as other_day:
        return "not_today", other_day.reference, ()
    except NotFound:
        return "not_yours", "", ()
    except InvalidTransition:
        return "closed", _own_reference(session, agent_id, request_id), ()
    except (KeyReused, Conflict, InvalidInput):
        return "stale", "", ()
    except DispatchError:
        return "error", "", ()
    return action, done.reference, done.message_ids


def _own_reference(session: Session, agent_id: int, request_id: int) -> str:
    request = session.get(DoorstepRequest, request_id)
    return request.reference if request is not None and request.agent_id == agent_id else ""


def _back(token: str, key: str, reference: str) -> Response:
    query = f"?m={key}&r={reference}" if reference else f"?m={key}"
    return _private(RedirectResponse(f"/a/{token}{query}", status_code=303))


def _deliver(engine: Engine, sender: SmsSender, message_ids: list[int]) -> None:
    """Send the SMS a report queued, after the answer went out and its transaction committed.
    A failure stays in the outbox for the scheduled retry; the agent never waits for it."""
    for message_id in message_ids:
        try:
            notification_service.send(engine=engine, message_id=message_id, sender=sender)
        except Exception as exc:
            log.error("could not deliver SMS %s: %s", message_id, _trace(exc))


def _trace(exc: BaseException) -> str:
    """The error's type and where it was raised, without its message: a database or provider
    error's message may quote a citizen's phone number, which no log may hold."""
    return type(exc).__name__ + "\n" + "".join(traceback.format_tb(exc.__traceback__))
