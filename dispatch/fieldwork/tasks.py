"""Scheduled tasks of field work, as plain functions (`web.worker` schedules them).

Each takes an engine, the settings and the time, works one agent (or one state) at a time in
its own transaction, logs a failed unit and carries on, and can run again without harm: every
message it queues has an idempotency key. They return the ids of the messages queued; the
outbox sender sends them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dispatch.clock import time_of_day
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.fieldwork import feedback, itinerary, notices
from dispatch.fieldwork.models import Itinerary
from dispatch.geography.models import District
from dispatch.ports import CallPlacer
from dispatch.states.models import State

log = logging.getLogger(__name__)


def _timezones(engine: Engine) -> dict[str, ZoneInfo]:
    with read_session(engine) as session:
        return {s.code: ZoneInfo(s.timezone) for s in session.exec(select(State))}


def _each(
    engine: Engine, units: list[int], what: str, work: Callable[[Session, int], list[int]]
) -> list[int]:
    queued: list[int] = []
    for unit in units:
        try:
            with write_session(engine) as session:
                queued += work(session, unit)
        except Exception:
            log.exception("%s failed for %s", what, unit)
    return queued


def itineraries(
    *,
    engine: Engine,
    settings: Settings,
    on: dt.date,
    now: dt.datetime,
    district_id: int | None = None,
) -> list[int]:
    """Every agent with visits on `on` (in `district_id`) gets their day, or — when they had
    it already — what has changed since (`doorstep itineraries`, and the morning task)."""
    tz = ZoneInfo("Asia/Kolkata")
    with read_session(engine) as session:
        if district_id is not None:
            district = session.get(District, district_id)
            state = session.get(State, district.state_code) if district else None
            tz = ZoneInfo(state.timezone) if state else tz
        agents = itinerary.agents_with_visits(
            session=session, on=on, tz=tz, district_id=district_id
        )
        told = set(session.exec(select(Itinerary.agent_id).where(Itinerary.day == on)).all())

    def inform(session: Session, agent_id: int) -> list[int]:
        if agent_id in told:
            return itinerary.send_changes(
                session=session, settings=settings, agent_id=agent_id, on=on, now=now
            )
        return itinerary.send_day(
            session=session, settings=settings, agent_id=agent_id, on=on, now=now
        )

    queued = _each(engine, agents, "itinerary", inform)
    # Agents told earlier whose every visit has since gone still hear of it.
    gone = sorted(told - set(agents))
    return queued + _each(
        engine,
        gone,
        "itinerary changes",
        lambda session, agent_id: itinerary.send_changes(
            session=session, settings=settings, agent_id=agent_id, on=on, now=now
        ),
    )


def inform_agents(*, engine: Engine, settings: Settings, now: dt.datetime) -> list[int]:
    """From `settings.itinerary_at` (local) on, each state's agents get today's itinerary,
    then its changes once they settle. Run every minute: a missed run is made up by the next."""
    queued: list[int] = []
    days = {
        now.astimezone(tz).date()
        for tz in _timezones(engine).values()
        if now.astimezone(tz).time() >= time_of_day(settings.itinerary_at)
    }
    for on in sorted(days):
        queued += itineraries(engine=engine, settings=settings, on=on, now=now)
    return queued


def set_off_due(*, engine: Engine, settings: Settings, now: dt.datetime) -> list[int]:
    """The first visit of an agent's day: its citizen hears "on the way" shortly before it
    (later visits are set off by the agent's report from the one before)."""
    lead = dt.timedelta(minutes=settings.on_the_way_lead_minutes)
    with read_session(engine) as session:
        agents = notices.agents_due(session=session, now=now, lead=lead)

    def go(session: Session, agent_id: int) -> list[int]:
        departure = notices.set_off(
            session=session,
            settings=settings,
            agent_id=agent_id,
            now=now,
            not_later_than=now + lead,
        )
        return [departure.message_id] if departure and departure.message_id else []

    return _each(engine, agents, "on the way", go)


def _remind(
    settings: Settings,
    tomorrow: dt.date,
    tz: ZoneInfo,
    now: dt.datetime,
    session: Session,
    district_id: int,
) -> list[int]:
    return notices.reminders(
        session=session,
        settings=settings,
        district_ids=[district_id],
        day_=tomorrow,
        tz=tz,
        now=now,
    )


def send_reminders(*, engine: Engine, settings: Settings, now: dt.datetime) -> list[int]:
    """From `settings.reminder_at` (local), the day-before reminder to each citizen with a
    visit tomorrow; once per request and day, however often this runs."""
    queued: list[int] = []
    for code, tz in _timezones(engine).items():
        local = now.astimezone(tz)
        if local.time() < time_of_day(settings.reminder_at):
            continue
        tomorrow = local.date() + dt.timedelta(days=1)
        with read_session(engine) as session:
            districts = [
                d.id
                for d in session.exec(select(District).where(District.state_code == code))
                if d.id is not None
            ]

        queued += _each(
            engine, districts, "reminders", partial(_remind, settings, tomorrow, tz, now)
        )
    return queued


def place_feedback_calls(
    *, engine: Engine, settings: Settings, placer: CallPlacer, now: dt.datetime, most: int = 50
) -> int:
    """A call to each citizen who left a feedback request unanswered for
    `settings.feedback_call_after_hours` (not to those who said STOP): claimed in a short
    transaction (so two runs never both call), placed with no transaction open, unclaimed
    again if placing failed. Returns the calls placed."""
    due = now - dt.timedelta(hours=settings.feedback_call_after_hours)
    with read_session(engine) as session:
        ids = feedback.awaiting_call(session=session, asked_before=due, most=most)
    placed = 0
    for feedback_id in ids:
        try:
            with write_session(engine) as session:
                phone = feedback.claim_call(session=session, feedback_id=feedback_id, now=now)
            if phone is None:
                continue
            try:
                placer.place(to=phone)
            except Exception:
                log.exception("feedback call for %s could not be placed", feedback_id)
                with write_session(engine) as session:
                    feedback.unclaim_call(session=session, feedback_id=feedback_id)
                continue
            placed += 1
        except Exception:
            log.exception("feedback call for %s failed", feedback_id)
    return placed
