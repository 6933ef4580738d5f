"""The feedback call: the line calls a citizen who did not answer the feedback SMS and asks
for the same rating, 1 to 5, by keypad (`dispatch.fieldwork.feedback` places the call)."""

from __future__ import annotations

from dispatch.fieldwork import feedback, replies
from dispatch.fieldwork.models import Feedback
from ivr.flow import Ctx, Said, answers, asks, need
from ivr.prompts import P
from ivr.twiml import Reply


def is_feedback_call(ctx: Ctx) -> bool:
    return ctx.form.get("Direction", "").startswith("outbound")


def start(ctx: Ctx) -> Reply:
    phone = ctx.caller_id()
    found = feedback.called_about(session=ctx.session, phone=phone) if phone else None
    if found is None:  # answered by SMS meanwhile, or not ours to ask
        return ctx.goodbye()
    ctx.progress.feedback_id = found.id
    return ctx.goto("feedback")


@asks("feedback")
def ask_feedback(ctx: Ctx) -> Reply:
    return ctx.gather("feedback", ctx.words(P.FEEDBACK_ASK, service_name=ctx.state.service_name))


@answers("feedback")
def on_feedback(ctx: Ctx, said: Said) -> Reply:
    if not (said.digits.isdigit() and 1 <= int(said.digits) <= 5):
        return ctx.unclear(said)
    asked = ctx.session.get(Feedback, need(ctx.progress.feedback_id, "the feedback request"))
    if asked is not None and asked.rating is None:
        sent = replies.record_rating(
            session=ctx.session,
            settings=ctx.settings,
            feedback=asked,
            stars=int(said.digits),
            comment="",
            channel="call",
            now=ctx.now,
        )
        if sent is not None:
            ctx.outbox.append(sent)
    return ctx.say(P.FEEDBACK_THANKS) + ctx.goodbye()
