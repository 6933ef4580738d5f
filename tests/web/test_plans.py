"""The plan board shows each agent's visits in order with ETAs."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch.config import Settings
from dispatch.db import write_session
from dispatch.planning import service as planning
from dispatch.staff.rules import Role
from tests import factories
from tests.console import signed_in
from web.app import create_app


def test_board_lists_booked_visits_by_agent(engine: Engine, settings: Settings) -> None:
    now = dt.datetime(2026, 12, 9, 7, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    planning.clear_cache()
    with write_session(engine) as s:
        booked, _ = factories.booked_request(s, district_code="RSI", now=now)
    client = signed_in(create_app(settings=settings, engine=engine), engine, Role.DISPATCHER)
    response = client.get("/plans", params={"district": "RSI", "day": "2026-12-09"})
    assert response.status_code == 200
    ctx = response.context  # type: ignore[attr-defined]
    board = ctx["board"]
    assert ctx["district"].code == "RSI" and board.version >= 1
    rows = {row.reference: (r.agent.id, row) for r in board.routes for row in r.rows}
    agent_id, row = rows[booked.reference]
    assert agent_id == booked.agent_id and row.status == "assigned"
    assert row.eta == booked.planned_arrival
    eta = booked.planned_arrival.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%H:%M")  # type: ignore[union-attr]
    assert booked.reference in response.text and f"<td>{eta}</td>" in response.text


def test_board_rejects_a_malformed_day_readably(engine: Engine, settings: Settings) -> None:
    client = signed_in(create_app(settings=settings, engine=engine), engine, Role.DISPATCHER)
    response = client.get("/plans", params={"day": "tomorrow"})
    assert response.status_code == 422
    assert "day" in response.text


def test_a_browser_gets_the_error_as_a_page(engine: Engine, settings: Settings) -> None:
    client = signed_in(create_app(settings=settings, engine=engine), engine, Role.DISPATCHER)
    response = client.get("/plans", params={"day": "tomorrow"}, headers={"accept": "text/html"})
    assert response.status_code == 422
    assert response.template.name == "error.html"  # type: ignore[attr-defined]
    assert "day: Input should be a valid date" in response.text


def test_board_opens_on_the_first_day_with_visits(engine: Engine, settings: Settings) -> None:
    from dispatch.geography.models import District
    from dispatch.planning import board as plan_board

    client = signed_in(create_app(settings=settings, engine=engine), engine, Role.DISPATCHER)
    response = client.get("/plans")
    assert response.status_code == 200
    ctx = response.context  # type: ignore[attr-defined]
    with write_session(engine) as s:
        today = dt.datetime.now(ZoneInfo("Asia/Kolkata")).date()
        expected = plan_board.next_day_with_visits(session=s, state_code="JK", from_day=today)
        assert expected is not None  # other tests booked days ahead
        district = s.exec(select(District).where(District.code == expected[0])).one()
    assert (ctx["district"].code, ctx["day"]) == expected
    assert ctx["board"].planned >= 1 and district.name in response.text
