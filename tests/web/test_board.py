"""The dispatch board: each agent's route in order with planned times, the visits left out with
why, the map's data, re-plan now (one run per submit, run by the worker's function, its result
in the panel), locks, visits kept with their agent, and the poll that answers 204 while nothing
changed; nothing of another state, and odd days or ids refused with a readable page."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatch import scheduled
from dispatch.audit import service as audit
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.geography import service as geography_service
from dispatch.planning import board as plan_board
from dispatch.planning import reassign, runs, store
from dispatch.planning.models import ReplanRun, ReplanStatus, RouteLock
from dispatch.requests import service as request_service
from dispatch.requests.rules import RequestStatus
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import Role
from ivr.deps import get_clock
from tests import factories
from tests.console import PASSWORD, Console, make_user, signed_in
from tests.ivr.conftest import FixedClock
from web.app import create_app

IST = ZoneInfo("Asia/Kolkata")
#: The product's clock in these tests: the days they plan are within a year of it.
NOW = dt.datetime(2032, 3, 15, 7, 0, tzinfo=IST)


def _app(settings: Settings, engine: Engine, now: dt.datetime = NOW) -> FastAPI:
    fast = settings.model_copy(update={"replan_seconds": 0.2})
    app = create_app(settings=fast, engine=engine)
    app.dependency_overrides[get_clock] = lambda: FixedClock(now)
    return app


def _console(
    settings: Settings, engine: Engine, role: Role = Role.DISPATCHER, now: dt.datetime = NOW
) -> Console:
    return signed_in(_app(settings, engine, now), engine, role)


def _console_of(app: FastAPI, user: StaffUser) -> Console:
    client = Console(app, follow_redirects=False, headers={"accept": "text/html"})
    response = client.submit("/login", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 303, response.text
    client.user = user
    return client


def _left_out(engine: Engine, *, service_code: str | None, start: dt.datetime) -> str:
    """A request of Pulwama scheduled for a window but put in no route; its reference."""
    with write_session(engine) as s:
        request = factories.request(s, district_code="PLW", service_code=service_code)
        request_service.transition(
            session=s,
            request_id=request.id or 0,
            to=RequestStatus.SCHEDULED,
            actor="test",
            window_start=start,
            window_end=start + dt.timedelta(hours=1),
        )
        return request.reference


def test_anonymous_board_goes_to_sign_in(app: FastAPI) -> None:
    browser = Console(app, follow_redirects=False, headers={"accept": "text/html"})
    response = browser.get("/board")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fboard")


def test_a_call_agent_may_not_open_the_board(settings: Settings, engine: Engine) -> None:
    response = _console(settings, engine, Role.CALL_AGENT).get("/board")
    assert response.status_code == 403


def test_board_shows_routes_in_order_and_what_is_left_out_with_why(
    settings: Settings, engine: Engine
) -> None:
    morning = dt.datetime(2032, 3, 16, 7, 0, tzinfo=IST)  # a Tuesday nobody else plans
    with write_session(engine) as s:
        booked = [
            factories.booked_request(s, district_code="PLW", now=morning, choice=i % 3)[0]
            for i in range(4)
        ]
    day = morning.date()
    # Nobody in Pulwama holds a driving licence skill; nobody works at 05:00.
    no_skill = _left_out(engine, service_code="DL_RENEWAL", start=morning.replace(hour=11))
    too_early = _left_out(engine, service_code=None, start=morning.replace(hour=5))
    client = _console(settings, engine)

    response = client.get("/board", params={"district": "PLW", "day": day.isoformat()})

    assert response.status_code == 200
    assert response.template.name == "board/page.html"  # type: ignore[attr-defined]
    ctx = response.context  # type: ignore[attr-defined]
    board = ctx["board"]
    assert ctx["district"].code == "PLW" and ctx["day"] == day and board.version >= 4
    with read_session(engine) as s:
        stops = store.current_stops(session=s, district_id=board.district.id, day=day)
    shown = [(r.agent.id, row.request_id) for r in board.routes for row in r.stops]
    assert shown == [(s.agent_id, s.request_id) for s in stops]  # each route in order
    rows = {row.reference: (route, row) for route in board.routes for row in route.stops}
    for request in booked:
        route, row = rows[request.reference]
        assert route.agent.id == request.agent_id and route.on_duty
        assert row.eta == request.planned_arrival and row.status == "assigned"
        assert route.distance_m and route.leaves is not None and route.back is not None
        eta = row.eta.astimezone(IST).strftime("%H:%M")  # type: ignore[union-attr]
        assert f'<td data-label="Planned">{eta}</td>' in response.text
        assert f'href="/requests/{request.id}"' in response.text
    reasons = {left.row.reference: left.reason for left in board.left_out}
    assert reasons == {no_skill: "no_agent_with_skill", too_early: "window_unreachable"}
    assert "No agent on duty has the skill it needs." in response.text
    assert board.area.outline and len(board.area.blocks) >= 3

    data = json.loads(
        response.text.split('id="board-data">')[1].split("</script>")[0]
    )  # the map's data rides in the page
    assert data == ctx["map"]


def test_map_data_has_bases_visits_and_routes_with_coordinates(
    settings: Settings, engine: Engine
) -> None:
    morning = dt.datetime(2032, 3, 17, 7, 0, tzinfo=IST)
    with write_session(engine) as s:
        booked, _ = factories.booked_request(s, district_code="PLW", now=morning)
    client = _console(settings, engine)

    response = client.get("/board/data", params={"district": "PLW", "day": "2032-03-17"})

    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    assert {"stamp", "area", "bases", "visits", "routes"} <= set(data)
    assert len(data["area"]["outline"]) >= 3
    mine = next(v for v in data["visits"] if v["reference"] == booked.reference)
    assert mine["agent_id"] == booked.agent_id and mine["position"] == 1
    assert not mine["left_out"] and 32 < mine["lat"] < 35 and 73 < mine["lon"] < 76
    base = next(b for b in data["bases"] if b["agent_id"] == booked.agent_id)
    route = next(r for r in data["routes"] if r["agent_id"] == booked.agent_id)
    assert route["points"][0] == route["points"][-1] == [base["lat"], base["lon"]]
    assert route["points"][1] == [mine["lat"], mine["lon"]]
    assert route["colour"] == base["colour"] == mine["colour"]


def test_the_poll_answers_204_until_the_board_changes(settings: Settings, engine: Engine) -> None:
    morning = dt.datetime(2032, 3, 18, 7, 0, tzinfo=IST)
    with write_session(engine) as s:
        factories.booked_request(s, district_code="PLW", now=morning)
    client = _console(settings, engine)
    page = client.get("/board", params={"district": "PLW", "day": "2032-03-18"})
    stamp = page.context["board"].stamp  # type: ignore[attr-defined]
    params = {"district": "PLW", "day": "2032-03-18", "seen": stamp}

    assert client.htmx("GET", "/board/routes", params=params).status_code == 204
    with write_session(engine) as s:
        factories.booked_request(s, district_code="PLW", now=morning)
    changed = client.htmx("GET", "/board/routes", params=params)
    assert changed.status_code == 200
    assert changed.template.name == "board/_routes.html"  # type: ignore[attr-defined]
    assert changed.context["board"].stamp != stamp  # type: ignore[attr-defined]
    assert changed.context["board"].planned == 2  # type: ignore[attr-defined]


def test_replan_now_starts_one_run_and_shows_its_result(settings: Settings, engine: Engine) -> None:
    morning = dt.datetime(2032, 3, 19, 7, 0, tzinfo=IST)
    with write_session(engine) as s:
        for i in range(3):
            factories.booked_request(s, district_code="PLW", now=morning, choice=i % 2)
    client = _console(settings, engine)
    form = {"district": "PLW", "day": "2032-03-19", "idempotency_key": uuid.uuid4().hex}

    first = client.htmx("POST", "/board/replan", data={**form, "csrftoken": client.csrf()})
    second = client.htmx("POST", "/board/replan", data={**form, "csrftoken": client.csrf()})

    assert first.status_code == second.status_code == 200
    assert first.template.name == "board/_replan.html"  # type: ignore[attr-defined]
    run = first.context["run"]  # type: ignore[attr-defined]
    assert second.context["run"].id == run.id  # type: ignore[attr-defined]
    assert run.status is ReplanStatus.QUEUED and run.time_limit_s == 0.2
    assert first.context["active"] and 'hx-trigger="every 1s"' in first.text  # type: ignore[attr-defined]
    with read_session(engine) as s:
        district = geography_service.get_district_by_code(session=s, code="PLW")
        runs = s.exec(
            select(ReplanRun).where(
                ReplanRun.district_id == district.id, ReplanRun.day == dt.date(2032, 3, 19)
            )
        ).all()
    assert [r.id for r in runs] == [run.id] and runs[
        0
    ].requested_by == f"staff:{client.user.username}"

    scheduled.run_replans(engine=engine, only=[run.id])  # what the worker does
    panel = client.htmx("GET", f"/board/runs/{run.id}")

    assert panel.status_code == 200 and panel.headers["HX-Trigger"] == "board-changed"
    done = panel.context["run"]  # type: ignore[attr-defined]
    assert done.status is ReplanStatus.DONE and not panel.context["active"]  # type: ignore[attr-defined]
    assert 'id="replan-figures"' in panel.text and "every 1s" not in panel.text
    page = client.get("/board", params={"district": "PLW", "day": "2032-03-19"})
    assert page.context["run"].id == run.id  # type: ignore[attr-defined]
    assert page.context["board"].version == done.version  # type: ignore[attr-defined]


def test_replan_without_htmx_goes_back_to_the_board(settings: Settings, engine: Engine) -> None:
    client = _console(settings, engine)
    form = {"district": "PLW", "day": "2032-03-22", "idempotency_key": uuid.uuid4().hex}
    response = client.submit("/board/replan", form)
    assert response.status_code == 303
    assert response.headers["location"] == "/board?district=PLW&day=2032-03-22"


def test_lock_and_unlock_a_route(settings: Settings, engine: Engine) -> None:
    morning = dt.datetime(2032, 3, 23, 7, 0, tzinfo=IST)
    with write_session(engine) as s:
        booked, offer = factories.booked_request(s, district_code="PLW", now=morning)
    client = _console(settings, engine)
    form = {"district": "PLW", "day": "2032-03-23", "agent_id": str(booked.agent_id)}

    locked = client.htmx(
        "POST", "/board/lock", data={**form, "action": "lock", "csrftoken": client.csrf()}
    )

    assert locked.status_code == 200
    assert locked.template.name == "board/_routes.html"  # type: ignore[attr-defined]
    route = next(
        r
        for r in locked.context["board"].routes  # type: ignore[attr-defined]
        if r.agent.id == booked.agent_id
    )
    assert route.locked and route.lock.locked_by == f"staff:{client.user.username}"
    assert "Unlock route" in locked.text
    entity = f"{offer.district_id}/2032-03-23/{booked.agent_id}"
    unlocked = client.submit("/board/lock", {**form, "action": "unlock"})
    assert unlocked.status_code == 303
    assert unlocked.headers["location"].startswith("/board?district=PLW&day=2032-03-23")
    with read_session(engine) as s:
        trail = audit.history(session=s, entity="route", entity_id=entity)
        assert [e.action for e in trail] == ["lock", "unlock"]
        assert not s.exec(select(RouteLock).where(col(RouteLock.agent_id) == booked.agent_id)).all()


def test_the_board_rejects_an_unknown_district_and_a_malformed_day(
    settings: Settings, engine: Engine
) -> None:
    client = _console(settings, engine)
    assert client.get("/board", params={"district": "NOPE", "day": "2032-03-16"}).status_code == 404
    bad = client.get("/board", params={"day": "tomorrow"})
    assert bad.status_code == 422 and bad.template.name == "error.html"  # type: ignore[attr-defined]
    assert "day: Input should be a valid date" in bad.text


def test_board_opens_on_the_first_day_with_visits(settings: Settings, engine: Engine) -> None:
    now = dt.datetime.now(IST)
    client = _console(settings, engine, now=now)
    with write_session(engine) as s:  # at least one planned day ahead
        factories.booked_request(s, district_code="PLW", now=now + dt.timedelta(days=1))
    response = client.get("/board")
    assert response.status_code == 200
    ctx = response.context  # type: ignore[attr-defined]
    with read_session(engine) as s:
        today = now.date()
        expected = plan_board.next_day_with_visits(
            session=s, state_code="JK", from_day=today, to_day=plan_board.day_range(today)[1]
        )
    assert expected is not None and (ctx["district"].code, ctx["day"]) == expected
    assert ctx["board"].planned >= 1


def test_nothing_of_another_state_is_found(settings: Settings, engine: Engine) -> None:
    """A supervisor of Punjab sees Punjab's board, and of Jammu and Kashmir's neither its
    districts, its agents nor its re-plan runs (not even that they exist)."""
    morning = dt.datetime(2032, 3, 24, 7, 0, tzinfo=IST)
    with write_session(engine) as s:
        booked, offer = factories.booked_request(s, district_code="PLW", now=morning)
        run = runs.request(
            session=s,
            district_id=offer.district_id,
            day=offer.day,
            actor="staff:jk-dispatcher",
            time_limit_s=0.2,
            idempotency_key=uuid.uuid4().hex,
        )
    app = _app(settings, engine)
    punjab = _console_of(app, make_user(engine, Role.SUPERVISOR, state_code="PB"))
    jk = _console_of(app, make_user(engine, Role.DISPATCHER))
    day = {"day": "2032-03-24"}

    assert jk.get(f"/board/runs/{run.id}").status_code == 200
    own = punjab.get("/board", params={"district": "ASR", **day})
    assert own.status_code == 200 and own.context["state"].code == "PB"  # type: ignore[attr-defined]
    assert [d.code for d in own.context["districts"]] == ["ASR", "JAL", "LDH", "PTL"]  # type: ignore[attr-defined]

    seen = punjab.get(f"/board/runs/{run.id}")
    assert seen.status_code == 404 and seen.template.name == "error.html"  # type: ignore[attr-defined]
    assert "jk-dispatcher" not in seen.text and "PLW" not in seen.text
    assert punjab.htmx("GET", f"/board/runs/{run.id}").status_code == 404
    for url in ("/board", "/board/routes", "/board/data"):
        assert punjab.get(url, params={"district": "PLW", **day}).status_code == 404, url
    lock = {**day, "agent_id": str(booked.agent_id), "action": "lock"}
    assert punjab.submit("/board/lock", {**lock, "district": "PLW"}).status_code == 404
    theirs = punjab.submit("/board/lock", {**lock, "district": "ASR"})  # a JK agent on a PB board
    assert theirs.status_code == 404 and "does not work" not in theirs.text
    replan = {**day, "district": "PLW", "idempotency_key": uuid.uuid4().hex}
    assert punjab.submit("/board/replan", replan).status_code == 404
    with read_session(engine) as s:
        assert s.exec(select(RouteLock).where(RouteLock.agent_id == booked.agent_id)).all() == []
        assert runs.latest(session=s, district_id=offer.district_id, day=offer.day) == run


def test_odd_days_and_ids_get_a_readable_refusal(settings: Settings, engine: Engine) -> None:
    """Days more than a year from today (the product's clock) and ids no database integer
    holds are refused with a 422 page saying why, never a server error; nothing is queued."""
    client = _console(settings, engine)
    for day in ("0001-01-01", "9999-12-31", "2031-03-14", "2033-03-16"):
        page = client.get("/board", params={"district": "PLW", "day": day})
        assert page.status_code == 422, day
        assert page.template.name == "error.html"  # type: ignore[attr-defined]
        assert "the board shows days from 2031-03-15 to 2033-03-15" in page.text
        assert client.get("/board", params={"day": day}).status_code == 422
        for url in ("/board/routes", "/board/data"):
            assert client.get(url, params={"district": "PLW", "day": day}).status_code == 422
        key = uuid.uuid4().hex
        queued = client.submit(
            "/board/replan", {"district": "PLW", "day": day, "idempotency_key": key}
        )
        assert queued.status_code == 422
        with read_session(engine) as s:
            mine = col(ReplanRun.idempotency_key).endswith(key)
            assert not s.exec(select(ReplanRun).where(mine)).all()
    data = client.get(
        "/board/data",
        params={"district": "PLW", "day": "9999-12-31"},
        headers={"accept": "application/json"},
    )
    assert data.status_code == 422 and data.json()["error"] == "InvalidInput"
    # The edges of the year are shown.
    for day in ("2031-03-15", "2033-03-15"):
        assert client.get("/board", params={"district": "PLW", "day": day}).status_code == 200

    lock = {"district": "PLW", "day": "2032-03-24", "action": "lock"}
    for agent_id in ("0", "-1", str(2**31), str(2**63), "9" * 40):
        assert client.submit("/board/lock", {**lock, "agent_id": agent_id}).status_code == 422
    assert client.submit("/board/lock", {**lock, "agent_id": str(2**31 - 1)}).status_code == 404
    for run_id in ("0", str(2**31), str(2**63), "9" * 40):
        assert client.get(f"/board/runs/{run_id}").status_code == 422, run_id
    assert client.get(f"/board/runs/{2**31 - 1}").status_code == 404
    assert client.get("/board", params={"district": "X" * 500}).status_code == 422


def test_a_visit_kept_with_its_agent_says_so_and_who_kept_it(
    settings: Settings, engine: Engine
) -> None:
    morning = dt.datetime(2032, 3, 25, 7, 0, tzinfo=IST)
    with write_session(engine) as s:
        kept, _ = factories.booked_request(s, district_code="PLW", now=morning)
        free, _ = factories.booked_request(s, district_code="PLW", now=morning)
        assert kept.id is not None and kept.agent_id is not None
        reassign.keep_with(
            session=s, request_id=kept.id, agent_id=kept.agent_id, actor="staff:keeper"
        )
    client = _console(settings, engine)

    page = client.get("/board", params={"district": "PLW", "day": "2032-03-25"})

    assert page.status_code == 200
    rows = {
        row.reference: row
        for route in page.context["board"].routes  # type: ignore[attr-defined]
        for row in route.stops
    }
    assert rows[kept.reference].kept_with == kept.agent_id
    assert rows[kept.reference].kept_by == "staff:keeper"
    assert rows[free.reference].kept_with is None
    assert f'id="kept-{kept.id}"' in page.text and f'id="kept-{free.id}"' not in page.text
    agent = next(
        r.agent
        for r in page.context["board"].routes  # type: ignore[attr-defined]
        if r.agent.id == kept.agent_id
    )
    assert f'title="Kept with {agent.name} by keeper' in page.text
    visits = {v["reference"]: v for v in page.context["map"]["visits"]}  # type: ignore[attr-defined]
    assert visits[kept.reference]["kept_by"] == "keeper"
    assert visits[free.reference]["kept_by"] is None
