"""The field agents' menu on the same number: report from the door on any phone.

Inbound SMS to a long code is not delivered in India, so this is the way that works
everywhere. A caller whose caller ID is an active agent's phone is asked for their PIN (keys
then #; 0 alone goes on to the citizens' menu: agents have families too); three wrong PINs end
the call, and wrong PINs and visit codes lock the agent out for a while
(`dispatch.fieldwork.access`). Then: 1 the next visit, or 2 key a reference; then the outcome —
1 arrived, 2 done and paid in cash, 3 done and paid by UPI (key its reference), 4 could not be
done (a reason), 5 nobody at home. "Done" needs the citizen's visit code. Every report is the
domain's (`dispatch.fieldwork.service`) under the webhook's idempotency key, so a retried
webhook reports nothing twice; the messages it queues go out after the commit.
"""

from __future__ import annotations

from dispatch.agents.models import Agent
from dispatch.errors import InvalidReference, InvalidTransition, NotFound
from dispatch.fieldwork import access, commands, day
from dispatch.fieldwork import service as field
from dispatch.requests.rules import KEYPAD_DIGITS, keypad_digits
from dispatch.visits import rules as visit_rules
from dispatch.visits.models import UseCase
from ivr.flow import Ctx, Said, answers, asks, need
from ivr.prompts import P
from ivr.steps import words
from ivr.twiml import Reply

#: What the agent hears once a report is recorded (done says what was collected).
_NOTED = {
    UseCase.ARRIVE: P.AGENT_ARRIVED,
    UseCase.FAIL: P.AGENT_FAILED,
    UseCase.NO_SHOW: P.AGENT_NO_SHOW,
}
#: Wrong PINs on one call before it ends.
MAX_PIN_TRIES = 3
UPI_DIGITS = 12


def agent_calling(ctx: Ctx) -> Agent | None:
    """The active agent whose phone the caller ID is, if any (a keyed number is not proof)."""
    return access.by_phone(session=ctx.session, phone=ctx.caller_id())


def start(ctx: Ctx) -> Reply:
    ctx.call.language = ctx.settings.agent_language
    return ctx.goto("agent_pin")


@asks("agent_pin")
def ask_pin(ctx: Ctx) -> Reply:
    return ctx.gather("agent_pin", ctx.words(P.AGENT_PIN_ASK), num_digits=None, timeout=10)


@answers("agent_pin")
def on_pin(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "0":
        return ctx.goto("main_menu")
    if said.empty:
        return ctx.unclear(said)
    agent = agent_calling(ctx)
    if agent is None or agent.id is None:  # the caller ID changed mid-call: start again
        return ctx.goto("main_menu")
    try:
        proven = access.check_pin(
            session=ctx.session, settings=ctx.settings, agent=agent, pin=said.digits, now=ctx.now
        )
    except access.AgentLockedOut:
        return ctx.say(P.AGENT_LOCKED, minutes=ctx.settings.agent_lockout_minutes) + ctx.goodbye()
    if not proven:
        ctx.progress.failures += 1
        if ctx.progress.failures >= MAX_PIN_TRIES:
            return ctx.say(P.AGENT_PIN_WRONG) + ctx.goodbye()
        return ctx.say(P.AGENT_PIN_WRONG) + ctx.goto("agent_pin")
    ctx.progress.agent_id = agent.id
    ctx.progress.failures = 0
    return ctx.goto("agent_menu")


def _agent_id(ctx: Ctx) -> int:
    return need(ctx.progress.agent_id, "the agent's PIN")


@asks("agent_menu")
def ask_menu(ctx: Ctx) -> Reply:
    _agent_id(ctx)
    return ctx.gather("agent_menu", ctx.words(P.AGENT_MENU))


@answers("agent_menu")
def on_menu(ctx: Ctx, said: Said) -> Reply:
    agent_id = _agent_id(ctx)
    if said.digits == "1":
        tz = day.timezone_of_state(ctx.session, ctx.state.code)
        nxt = day.next_open(
            day.visits(
                session=ctx.session, agent_id=agent_id, day=day.local_day(ctx.now, tz), tz=tz
            )
        )
        if nxt is None:
            return ctx.say(P.AGENT_NO_VISITS) + ctx.goto("agent_menu")
        ctx.progress.visit_id = nxt.request_id
        return _describe(ctx, nxt) + ctx.goto("agent_outcome")
    if said.digits == "2":
        return ctx.goto("agent_reference")
    if said.digits == "0":
        return ctx.goodbye()
    return ctx.unclear(said)


def _describe(ctx: Ctx, visit: day.DayVisit) -> Reply:
    reference = ctx.speech.digits(keypad_digits(visit.reference))
    time = ctx.speech.clock(visit.eta or visit.window_start)
    village = words.place_name(ctx, visit.village_names)
    if not visit.first_name:  # a caller who never gave a name
        return ctx.say(P.AGENT_VISIT_PLACE, reference=reference, village=village, time=time)
    return ctx.say(
        P.AGENT_VISIT, reference=reference, name=visit.first_name, village=village, time=time
    )


@asks("agent_reference")
def ask_reference(ctx: Ctx) -> Reply:
    return ctx.gather(
        "agent_reference", ctx.words(P.AGENT_REFERENCE_ASK), num_digits=KEYPAD_DIGITS, timeout=12
    )


@answers("agent_reference")
def on_reference(ctx: Ctx, said: Said) -> Reply:
    agent_id = _agent_id(ctx)
    if said.empty:
        return ctx.unclear(said)
    try:
        request = field.find_visit(
            session=ctx.session,
            agent_id=agent_id,
            reference=said.digits,
            default_state=ctx.state.code,
        )
    except (InvalidReference, NotFound):
        return ctx.retry(P.AGENT_NOT_YOURS)
    assert request.id is not None
    ctx.progress.visit_id = request.id
    return ctx.goto("agent_outcome")


@asks("agent_outcome")
def ask_outcome(ctx: Ctx) -> Reply:
    need(ctx.progress.visit_id, "the visit")
    return ctx.gather("agent_outcome", ctx.words(P.AGENT_OUTCOME_ASK))


@answers("agent_outcome")
def on_outcome(ctx: Ctx, said: Said) -> Reply:
    _agent_id(ctx), need(ctx.progress.visit_id, "the visit")  # proven, and a visit chosen
    if said.digits == "1":
        return _reporting(ctx, field.Outcome(UseCase.ARRIVE))
    if said.digits == "2":
        ctx.progress.paid_by, ctx.progress.upi = "cash", None
        return ctx.goto("agent_code")
    if said.digits == "3":
        ctx.progress.paid_by = "upi"
        return ctx.goto("agent_upi")
    if said.digits == "4":
        return ctx.goto("agent_reason")
    if said.digits == "5":
        return _reporting(ctx, field.Outcome(UseCase.NO_SHOW))
    return ctx.unclear(said)


@asks("agent_upi")
def ask_upi(ctx: Ctx) -> Reply:
    return ctx.gather("agent_upi", ctx.words(P.AGENT_UPI_ASK), num_digits=UPI_DIGITS, timeout=15)


@answers("agent_upi")
def on_upi(ctx: Ctx, said: Said) -> Reply:
    if len(said.digits) != UPI_DIGITS:
        return ctx.unclear(said)
    ctx.progress.upi = said.digits
    return ctx.goto("agent_code")


@asks("agent_code")
def ask_code(ctx: Ctx) -> Reply:
    digits = visit_rules.CODE_DIGITS
    return ctx.gather("agent_code", ctx.words(P.AGENT_CODE_ASK), num_digits=digits, timeout=10)


@answers("agent_code")
def on_code(ctx: Ctx, said: Said) -> Reply:
    _agent_id(ctx), need(ctx.progress.visit_id, "the visit")  # proven, and a visit chosen
    if said.empty:
        return ctx.unclear(said)
    upi = ctx.progress.upi if ctx.progress.paid_by == "upi" else None
    return _reporting(
        ctx, field.Outcome(UseCase.COMPLETE, visit_code=said.digits, upi_reference=upi)
    )


@asks("agent_reason")
def ask_reason(ctx: Ctx) -> Reply:
    return ctx.gather("agent_reason", ctx.words(P.AGENT_REASON_ASK))


@answers("agent_reason")
def on_reason(ctx: Ctx, said: Said) -> Reply:
    _agent_id(ctx), need(ctx.progress.visit_id, "the visit")  # proven, and a visit chosen
    reason = commands.fail_reason_for_keypad(said.digits)
    if reason is None:
        return ctx.unclear(said)
    return _reporting(ctx, field.Outcome(UseCase.FAIL, reason=reason))


def _reporting(ctx: Ctx, outcome: field.Outcome) -> Reply:
    """Report `outcome` on the visit chosen and say what happened; then back to the menu."""
    try:
        done = field.report(
            session=ctx.session,
            settings=ctx.settings,
            idempotency_key=ctx.key(),
            agent_id=_agent_id(ctx),
            request_id=need(ctx.progress.visit_id, "the visit"),
            outcome=outcome,
            now=ctx.now,
        )
    except field.WrongVisitCode as wrong:
        if wrong.tries_left <= 0:
            return (
                ctx.say(P.AGENT_LOCKED, minutes=ctx.settings.agent_lockout_minutes) + ctx.goodbye()
            )
        return ctx.say(P.AGENT_CODE_WRONG, left=wrong.tries_left) + ctx.goto("agent_code")
    except access.AgentLockedOut:
        return ctx.say(P.AGENT_LOCKED, minutes=ctx.settings.agent_lockout_minutes) + ctx.goodbye()
    except field.NotToday:
        return ctx.say(P.AGENT_NOT_TODAY) + ctx.goto("agent_menu")
    except (NotFound, InvalidTransition):
        return ctx.say(P.AGENT_CLOSED) + ctx.goto("agent_menu")
    ctx.outbox.extend(done.message_ids)
    ctx.progress.visit_id = ctx.progress.upi = ctx.progress.paid_by = None
    if done.use_case is UseCase.COMPLETE:
        said = ctx.say(P.AGENT_DONE, amount=ctx.speech.money(done.collected_paise))
    else:
        said = ctx.say(_NOTED[done.use_case])
    return said + ctx.goto("agent_menu")
