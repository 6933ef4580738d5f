"""Field agents: validated creation and change (audited with before and after), leave put in
and taken back, the admin's roster with each agent's load of a day, and who can work in a
district on a day.

What leave does to the live plan (the agent's visits moved to others or to a new time) is not
here but in the use case `dispatch.visits.roster`, which calls these. The checks of a form are
the pure `dispatch.agents.rules`; uniqueness and the state's places are checked here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from dispatch import validation
from dispatch.agents import rules
from dispatch.agents.models import Agent, AgentLeave, TravelMode
from dispatch.agents.rules import AgentForm, InvalidAgent, LeaveDays, Problems, hhmm
from dispatch.audit import service as audit
from dispatch.audit.models import AuditEntry
from dispatch.catalogue.service import SKILLS
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.geography.models import Block, District
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.states import service as state_service
from dispatch.states.models import State

ENTITY = "agent"
TRAVEL_MODES = rules.TRAVEL_MODES
#: The fields an admin may change, as the audit log names them (times as HH:MM).
CHANGEABLE = (
    "name",
    "phone",
    "block",
    "lat",
    "lon",
    "skills",
    "languages",
    "working_days",
    "shift_start",
    "shift_end",
    "break_start",
    "break_minutes",
    "daily_cap",
    "travel_mode",
    "active",
)
#: Fields whose change may alter the plans the agent is in (the roster re-plans their days).
PLANNING_FIELDS = frozenset(CHANGEABLE) - {"name", "phone"}
#: A day's visits counted as the agent's load: planned for them, or done or tried that day.
LOAD_STATUSES = frozenset(
    {
        RequestStatus.ASSIGNED,
        RequestStatus.EN_ROUTE,
        RequestStatus.ARRIVED,
        RequestStatus.COMPLETED,
        RequestStatus.FAILED,
        RequestStatus.NO_SHOW,
    }
)


def create(
    *,
    session: Session,
    state_code: str,
    csc_id: str,
    name: str,
    phone: str,
    block_code: str,
    lat: float | None,
    lon: float | None,
    skills: list[str],
    languages: list[str],
    working_days: list[str],
    shift_start: str,
    shift_end: str,
    daily_cap: int | str,
    travel_mode: str,
    break_start: str | None = None,
    break_minutes: int | str = 30,
    actor: str = "system",
    form_key: str | None = None,
) -> Agent:
    """A new agent. Every bad field is named at once (`InvalidAgent`). Without `lat`/`lon`
    the agent starts from their block's centre; without `break_start` a shift of six hours or
    more gets a break mid-shift (`rules.default_break`), "" means no break. `form_key` (a
    console form's random token) is kept with the creation, so that a form sent twice finds the
    agent it made (`made_by_form`) instead of being refused as a duplicate."""
    state = state_service.get(session=session, code=state_code)
    problems = Problems()
    try:
        csc_id = validation.text(csc_id, field="csc_id", max_length=16)
        if not csc_id.isdigit():
            problems.add("csc_id", "digits only")
        elif session.exec(select(Agent).where(Agent.csc_id == csc_id)).first():
            problems.add("csc_id", "an agent with this CSC id exists")
    except InvalidInput as exc:
        problems.caught(exc)
    block = _block(session, state.code, block_code, problems)
    form = AgentForm(
        name=name,
        phone=phone,
        skills=skills,
        languages=languages,
        working_days=working_days,
        shift_start=shift_start,
        shift_end=shift_end,
        break_start=break_start if break_start is not None else "",
        break_minutes=break_minutes,
        daily_cap=daily_cap,
        travel_mode=travel_mode,
    )
    values = _checked(form, state.languages, problems)
    if _phone_taken(session, phone, None):
        problems.add("phone", "an agent with this phone exists")
    place = _place(state, block, lat, lon, problems)
    if problems.found or values is None or block is None or place is None:
        raise InvalidAgent(problems.found)
    assert block.id is not None
    brk = values.break_start_min
    if break_start is None:
        brk = rules.default_break(values.shift_start_min, values.shift_end_min)
    agent = Agent(
        state_code=state.code,
        csc_id=csc_id,
        name=values.name,
        phone=values.phone,
        block_id=block.id,
        lat=place[0],
        lon=place[1],
        skills=values.skills,
        languages=values.languages,
        working_days=values.working_days,
        shift_start_min=values.shift_start_min,
        shift_end_min=values.shift_end_min,
        break_start_min=brk,
        break_minutes=values.break_minutes if break_start else 30,
        daily_cap=values.daily_cap,
        travel_mode=values.travel_mode,
    )
    session.add(agent)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        entity=ENTITY,
        entity_id=agent.id,
        action="create",
        csc_id=csc_id,
        after=snapshot(session, agent),
        key=form_key,
    )
    return agent


def made_by_form(*, session: Session, csc_id: str, form_key: str) -> Agent | None:
    """The agent a form with this token created (a retried form), if it was that form."""
    agent = session.exec(select(Agent).where(Agent.csc_id == (csc_id or "").strip())).first()
    if agent is None or not form_key:
        return None
    created = [e for e in history(session=session, agent_id=agent.id) if e.action == "create"]
    return agent if any(e.detail.get("key") == form_key for e in created) else None


def update(
    *,
    session: Session,
    agent_id: int,
    actor: str,
    name: str | None = None,
    phone: str | None = None,
    block_code: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    skills: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    working_days: Sequence[str] | None = None,
    shift_start: str | None = None,
    shift_end: str | None = None,
    break_start: str | None = None,
    break_minutes: int | str | None = None,
    daily_cap: int | str | None = None,
    travel_mode: str | None = None,
    active: bool | None = None,
    version: int | None = None,
) -> Changes:
    """Change what is given (None keeps a field; `break_start=""` removes the break), after
    checking the agent as it would be: every bad field named at once (`InvalidAgent`), nothing
    changed then. A new block without coordinates moves the agent's start to its centre.
    Audited with the changed fields' values before and after (a phone masked there only: two
    numbers may mask alike). A failure once fields are set (the phone taken by another save
    since it was checked: `InvalidAgent` too) leaves the agent as it was.

    `version` is the agent's `version` a form was drawn at: if the agent was changed since
    and this would change anything, `EditedMeanwhile` and nothing changed (a form sent
    again, or left open while another admin saved, cannot undo a later change); one that
    asks for the agent as they are now changes nothing either way."""
    agent = get(session=session, agent_id=agent_id)
    current = None
    if version is not None:
        # Held until the commit on PostgreSQL (SQLite's writes are serial): two saves drawn
        # at the same version cannot both pass the check.
        session.exec(select(Agent.id).where(Agent.id == agent_id).with_for_update()).one()
        current = agent_version(session=session, agent_id=agent_id)
    state = state_service.get(session=session, code=agent.state_code)
    before = _fields(session, agent)
    problems = Problems()
    block = session.get(Block, agent.block_id)
    if block_code is not None and (block is None or block_code != block.code):
        block = _block(session, state.code, block_code, problems)
        if block is not None and lat is None and lon is None:
            lat, lon = block.lat, block.lon
    form = AgentForm(
        name=agent.name if name is None else name,
        phone=agent.phone if phone is None else phone,
        skills=list(agent.skills) if skills is None else skills,
        languages=list(agent.languages) if languages is None else languages,
        working_days=list(agent.working_days) if working_days is None else working_days,
        shift_start=hhmm(agent.shift_start_min) if shift_start is None else shift_start,
        shift_end=hhmm(agent.shift_end_min) if shift_end is None else shift_end,
        break_start=hhmm(agent.break_start_min) if break_start is None else break_start,
        break_minutes=agent.break_minutes if break_minutes is None else break_minutes,
        daily_cap=agent.daily_cap if daily_cap is None else daily_cap,
        travel_mode=agent.travel_mode.value if travel_mode is None else travel_mode,
    )
    values = _checked(form, state.languages, problems)
    if _phone_taken(session, form.phone, agent_id):
        problems.add("phone", "another agent has this phone")
    place = _place(
        state, block, agent.lat if lat is None else lat, agent.lon if lon is None else lon, problems
    )
    if problems.found or values is None or block is None or place is None:
        raise InvalidAgent(problems.found)
    assert block.id is not None
    try:
        # Set inside a savepoint: if anything below fails (the phone taken meanwhile by
        # another admin's save), its rollback expires the agent, so no half-made change is
        # left on it for the caller's commit to write.
        with session.begin_nested():
            agent.name, agent.phone = values.name, values.phone
            agent.block_id, agent.lat, agent.lon = block.id, place[0], place[1]
            agent.skills, agent.languages = values.skills, values.languages
            agent.working_days = values.working_days
            agent.shift_start_min = values.shift_start_min
            agent.shift_end_min = values.shift_end_min
            agent.break_start_min = values.break_start_min
            if values.break_start_min is not None:
                agent.break_minutes = values.break_minutes
            agent.daily_cap, agent.travel_mode = values.daily_cap, values.travel_mode
            if active is not None:
                agent.active = active
            after = _fields(session, agent)
            # Compared as they are (two numbers may mask alike), masked only in the audit.
            changed = [k for k in CHANGEABLE if before[k] != after[k]]
            old = _masked({k: before[k] for k in changed})
            new = _masked({k: after[k] for k in changed})
            if changed and current is not None and version != current:
                raise EditedMeanwhile(agent_id, current)  # the savepoint undoes what was set
            if changed:
                session.add(agent)
                audit.record(
                    session=session,
                    actor=actor,
                    entity=ENTITY,
                    entity_id=agent_id,
                    action="update",
                    before=old,
                    after=new,
                )
            session.flush()
    except sa.exc.IntegrityError:
        # The one unique field an update sets: the phone, taken since it was checked.
        taken = select(Agent.id).where(Agent.phone == values.phone, Agent.id != agent_id)
        if session.exec(taken).first() is None:
            raise
        raise InvalidAgent({"phone": "another agent has this phone"}) from None
    return Changes(agent, old, new)


class EditedMeanwhile(Conflict):
    """An edit drawn at an older version of the agent that would change something: nothing
    was changed; `current` is the version the form must be drawn at again."""

    def __init__(self, agent_id: int, current: int) -> None:
        self.current = current
        super().__init__(ENTITY, agent_id, "changed by someone else since this form was drawn")


def agent_version(*, session: Session, agent_id: int) -> int:
    """The agent's version as an edit form carries it: the id of the latest audit entry that
    made or changed the agent's own fields (0 before any). Leave is not part of it: a form left
    open while the agent was put on leave still saves."""
    return audit.latest_id(
        session=session, entity=ENTITY, entity_id=agent_id, actions=("create", "update")
    )


@dataclass(frozen=True)
class Changes:
    """An agent as an update left them, and the fields it changed (as audited)."""

    agent: Agent
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def changes_plans(self) -> bool:
        return bool(PLANNING_FIELDS & set(self.after))


def snapshot(session: Session, agent: Agent) -> dict[str, Any]:
    """The agent's changeable fields as the audit log records them (the phone masked)."""
    return _masked(_fields(session, agent))


def _fields(session: Session, agent: Agent) -> dict[str, Any]:
    """The agent's changeable fields as they are (the phone in full: for comparing)."""
    block = session.get(Block, agent.block_id)
    return {
        "name": agent.name,
        "phone": agent.phone,
        "block": block.code if block is not None else agent.block_id,
        "lat": agent.lat,
        "lon": agent.lon,
        "skills": list(agent.skills),
        "languages": list(agent.languages),
        "working_days": list(agent.working_days),
        "shift_start": hhmm(agent.shift_start_min),
        "shift_end": hhmm(agent.shift_end_min),
        "break_start": hhmm(agent.break_start_min),
        "break_minutes": agent.break_minutes if agent.break_start_min is not None else 0,
        "daily_cap": agent.daily_cap,
        "travel_mode": TravelMode(agent.travel_mode).value,
        "active": agent.active,
    }


def _masked(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with a phone number in them masked (personal data stays out of the log)."""
    if "phone" in fields:
        return {**fields, "phone": validation.mask_phone(fields["phone"])}
    return fields


def _checked(
    form: AgentForm, languages: Sequence[str], problems: Problems
) -> rules.AgentValues | None:
    try:
        return rules.check_agent(form, skills=SKILLS, languages=languages)
    except InvalidAgent as exc:
        for field, reason in exc.problems.items():
            problems.add(field, reason)
        return None


def _block(session: Session, state_code: str, code: str, problems: Problems) -> Block | None:
    """The block of the state with this code, or the problem noted."""
    block = session.exec(
        select(Block)
        .join(District, col(District.id) == col(Block.district_id))
        .where(Block.code == (code or "").strip(), District.state_code == state_code)
    ).first()
    if block is None:
        problems.add(
            "block", f"block {(code or '').strip()!r} not found: choose one of the state's"
        )
    return block


def _place(
    state: State, block: Block | None, lat: float | None, lon: float | None, problems: Problems
) -> tuple[float, float] | None:
    """Where the agent starts: the coordinates given (inside the state), else the block's."""
    if lat is None and lon is None:
        return (block.lat, block.lon) if block is not None else None
    if lat is None or lon is None:
        problems.add("lat", "give both latitude and longitude, or neither")
        return None
    if not state.contains(lat, lon):
        problems.add("lat", f"outside {state.name}")
        return None
    return (lat, lon)


def _phone_taken(session: Session, phone: str, agent_id: int | None) -> bool:
    """Whether another agent has this number (as typed: nothing for one that is not valid)."""
    try:
        e164 = validation.phone(phone or "")
    except InvalidInput:
        return False
    stmt = select(Agent.id).where(Agent.phone == e164)
    if agent_id is not None:
        stmt = stmt.where(Agent.id != agent_id)
    return session.exec(stmt).first() is not None


def get(*, session: Session, agent_id: int) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("agent", agent_id)
    return agent


def find_by_phone(*, session: Session, phone: str) -> Agent | None:
    try:
        e164 = validation.phone(phone)
    except InvalidInput:
        return None
    return session.exec(select(Agent).where(Agent.phone == e164)).first()


def history(*, session: Session, agent_id: int | None) -> list[AuditEntry]:
    """The agent's audit entries, newest first."""
    return list(reversed(audit.history(session=session, entity=ENTITY, entity_id=agent_id)))


# --- leave -------------------------------------------------------------------------------------


def leave_version(*, session: Session, agent_id: int, day: dt.date) -> int:
    """The id of the audit entry that put in the agent's leave on `day` (the latest naming the
    day; 0 if none): a form to take that leave back carries it, so that, sent again after the
    leave was taken back and put in anew, it does not take back the new leave."""
    entries = audit.history(session=session, entity=ENTITY, entity_id=agent_id)
    for entry in reversed(entries):
        if entry.action == "leave" and day.isoformat() in entry.detail.get("after", {}).get(
            "days", []
        ):
            return entry.id or 0
    return 0


def add_leave(
    *, session: Session, agent_id: int, day: dt.date, reason: str = "", actor: str = "system"
) -> AgentLeave:
    """One day of leave (nothing new if the agent has it already). Only the roster's use case
    (`dispatch.visits.roster.put_on_leave`) also moves the day's visits: this does not."""
    get(session=session, agent_id=agent_id)
    existing = session.exec(
        select(AgentLeave).where(AgentLeave.agent_id == agent_id, AgentLeave.day == day)
    ).first()
    if existing is not None:
        return existing
    leave = AgentLeave(agent_id=agent_id, day=day, reason=reason)
    session.add(leave)
    audit.record(
        session=session,
        actor=actor,
        entity=ENTITY,
        entity_id=agent_id,
        action="leave",
        after={"days": [day.isoformat()], "reason": reason},
    )
    session.flush()
    return leave


def add_leave_days(
    *,
    session: Session,
    agent_id: int,
    leave: LeaveDays,
    actor: str,
    at: dt.datetime | None = None,
) -> list[dt.date]:
    """Every day of `leave` the agent did not have off yet, recorded (one audit entry); the
    days added, in order."""
    get(session=session, agent_id=agent_id)
    had = set(
        session.exec(
            select(col(AgentLeave.day)).where(
                AgentLeave.agent_id == agent_id,
                col(AgentLeave.day) >= leave.first,
                col(AgentLeave.day) <= leave.last,
            )
        )
    )
    added = [d for d in leave.days() if d not in had]
    for day in added:
        session.add(AgentLeave(agent_id=agent_id, day=day, reason=leave.reason))
    if added:
        audit.record(
            session=session,
            actor=actor,
            entity=ENTITY,
            entity_id=agent_id,
            action="leave",
            at=at,
            after={"days": [d.isoformat() for d in added], "reason": leave.reason},
        )
    session.flush()
    return added


def remove_leave(
    *, session: Session, agent_id: int, days: Sequence[dt.date], actor: str
) -> list[dt.date]:
    """Take back the agent's leave on `days` (those they have; nothing for the others): the
    days given back, in order, audited with what they were."""
    rows = list(
        session.exec(
            select(AgentLeave)
            .where(AgentLeave.agent_id == agent_id, col(AgentLeave.day).in_(list(days)))
            .order_by(col(AgentLeave.day))
        )
    )
    if not rows:
        return []
    before = {
        "days": [r.day.isoformat() for r in rows],
        "reasons": sorted({r.reason for r in rows}),
    }
    for row in rows:
        session.delete(row)
    audit.record(
        session=session,
        actor=actor,
        entity=ENTITY,
        entity_id=agent_id,
        action="leave_removed",
        before=before,
        after={"days": []},
    )
    session.flush()
    return [r.day for r in rows]


def leave_from(*, session: Session, agent_id: int, day: dt.date) -> list[AgentLeave]:
    """The agent's leave from `day` on, in order."""
    stmt = (
        select(AgentLeave)
        .where(AgentLeave.agent_id == agent_id, col(AgentLeave.day) >= day)
        .order_by(col(AgentLeave.day))
    )
    return list(session.exec(stmt))


def on_leave(*, session: Session, agent_ids: Sequence[int], day: dt.date) -> set[int]:
    """Which of `agent_ids` are on leave on `day`."""
    if not agent_ids:
        return set()
    stmt = select(AgentLeave.agent_id).where(
        AgentLeave.day == day, col(AgentLeave.agent_id).in_(list(agent_ids))
    )
    return set(session.exec(stmt))


# --- the roster ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterRow:
    agent: Agent
    block: Block
    district: District


def roster(
    *,
    session: Session,
    state_code: str,
    district_id: int | None = None,
    active: bool | None = None,
    text: str = "",
) -> list[RosterRow]:
    """The state's agents with their block and district, by district then name; narrowed to
    a district, to those switched on or off, and to a name or CSC id holding `text`."""
    stmt = (
        select(Agent, Block, District)
        .join(Block, col(Block.id) == col(Agent.block_id))
        .join(District, col(District.id) == col(Block.district_id))
        .where(Agent.state_code == state_code)
    )
    if district_id is not None:
        stmt = stmt.where(District.id == district_id)
    if active is not None:
        stmt = stmt.where(col(Agent.active) == active)
    typed = " ".join(text.split())
    if typed:
        pattern = f"%{typed.lower()}%"
        stmt = stmt.where(
            func.lower(col(Agent.name)).like(pattern) | col(Agent.csc_id).like(f"%{typed}%")
        )
    stmt = stmt.order_by(col(District.name), col(Agent.name), col(Agent.id))
    return [RosterRow(a, b, d) for a, b, d in session.exec(stmt)]


def load_on(
    *, session: Session, agent_ids: Sequence[int], start: dt.datetime, end: dt.datetime
) -> dict[int, int]:
    """How many visits each agent has with a window starting in [start, end) (one local day):
    planned for them, or done or tried. Agents with none are left out."""
    if not agent_ids:
        return {}
    stmt = (
        select(col(DoorstepRequest.agent_id), func.count())
        .where(
            col(DoorstepRequest.agent_id).in_(list(agent_ids)),
            col(DoorstepRequest.status).in_([s.value for s in LOAD_STATUSES]),
            col(DoorstepRequest.window_start) >= start,
            col(DoorstepRequest.window_start) < end,
        )
        .group_by(col(DoorstepRequest.agent_id))
    )
    return {int(agent_id): int(n) for agent_id, n in session.exec(stmt) if agent_id is not None}


# --- who works where and when ---------------------------------------------------------------------


def in_district(*, session: Session, district_id: int) -> list[Agent]:
    stmt = (
        select(Agent)
        .join(Block, col(Block.id) == col(Agent.block_id))
        .where(Block.district_id == district_id, col(Agent.active))
        .order_by(col(Agent.id))
    )
    return list(session.exec(stmt))


def available(*, session: Session, district_id: int, day: dt.date) -> list[Agent]:
    """Active agents of the district who work on `day` and are not on leave."""
    on_leave_ids = set(session.exec(select(AgentLeave.agent_id).where(AgentLeave.day == day)))
    return [
        a
        for a in in_district(session=session, district_id=district_id)
        if a.works_on(day) and a.id not in on_leave_ids
    ]


def count(*, session: Session, state_code: str) -> int:
    return len(
        list(
            session.exec(select(Agent.id).where(Agent.state_code == state_code, col(Agent.active)))
        )
    )


def district_of(*, session: Session, agent: Agent) -> District:
    block = geography_service.get_block(session=session, block_id=agent.block_id)
    return geography_service.get_district(session=session, district_id=block.district_id)
