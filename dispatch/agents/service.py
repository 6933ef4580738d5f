"""Field agents: validated creation, leave, and who can work in a district on a day."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.agents.models import WEEKDAYS, Agent, AgentLeave, TravelMode
from dispatch.audit import service as audit
from dispatch.catalogue.service import SKILLS
from dispatch.errors import InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.geography.models import Block
from dispatch.states import service as state_service

TRAVEL_MODES = frozenset(m.value for m in TravelMode)


def create(
    *,
    session: Session,
    state_code: str,
    csc_id: str,
    name: str,
    phone: str,
    block_code: str,
    lat: float,
    lon: float,
    skills: list[str],
    languages: list[str],
    working_days: list[str],
    shift_start: str,
    shift_end: str,
    daily_cap: int,
    travel_mode: str,
    actor: str = "system",
) -> Agent:
    state = state_service.get(session=session, code=state_code)
    block = geography_service.get_block_by_code(session=session, code=block_code)
    state_service.check_inside(state, lat, lon)
    csc_id = validation.text(csc_id, field="csc_id", max_length=16)
    if not csc_id.isdigit():
        raise InvalidInput("csc_id", csc_id, "digits only")
    if session.exec(select(Agent).where(Agent.csc_id == csc_id)).first():
        raise InvalidInput("csc_id", csc_id, "an agent with this CSC id exists")
    e164 = validation.phone(phone)
    if session.exec(select(Agent).where(Agent.phone == e164)).first():
        raise InvalidInput("phone", phone, "an agent with this phone exists")
    for skill in skills:
        validation.choice(skill, field="skills", allowed=SKILLS)
    for language in languages:
        validation.choice(language, field="languages", allowed=set(state.languages))
    for day in working_days:
        validation.choice(day, field="working_days", allowed=set(WEEKDAYS))
    start = validation.minutes_of_day(shift_start, field="shift_start")
    end = validation.minutes_of_day(shift_end, field="shift_end")
    if end - start < 60:
        raise InvalidInput("shift_end", shift_end, "the shift must be at least an hour long")
    assert block.id is not None
    agent = Agent(
        state_code=state.code,
        csc_id=csc_id,
        name=validation.text(name, field="name"),
        phone=e164,
        block_id=block.id,
        lat=lat,
        lon=lon,
        skills=sorted(set(skills)),
        languages=sorted(set(languages)),
        working_days=list(dict.fromkeys(working_days)),
        shift_start_min=start,
        shift_end_min=end,
        break_start_min=(start + end) // 2 if end - start >= 6 * 60 else None,
        daily_cap=validation.integer(daily_cap, field="daily_cap", low=1, high=40),
        travel_mode=TravelMode(
            validation.choice(travel_mode, field="travel_mode", allowed=TRAVEL_MODES)
        ),
    )
    session.add(agent)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        entity="agent",
        entity_id=agent.id,
        action="create",
        csc_id=csc_id,
    )
    return agent


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


def add_leave(
    *, session: Session, agent_id: int, day: dt.date, reason: str = "", actor: str = "system"
) -> AgentLeave:
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
        entity="agent",
        entity_id=agent_id,
        action="leave",
        day=day.isoformat(),
    )
    return leave


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
    on_leave = set(session.exec(select(AgentLeave.agent_id).where(AgentLeave.day == day)))
    return [
        a
        for a in in_district(session=session, district_id=district_id)
        if a.works_on(day) and a.id not in on_leave
    ]


def count(*, session: Session, state_code: str) -> int:
    return len(
        list(
            session.exec(select(Agent.id).where(Agent.state_code == state_code, col(Agent.active)))
        )
    )
