"""The supervision forms replayed: a re-plan asked from the board, an agent's route locked and
unlocked, a call-back claimed and released (left open), an alert acknowledged, a grievance
closed, the money an agent handed over recorded; and the agent's day page: a visit reported
arrived and done, the day's takings saved. Each POST sent again 1-3 times in order, shuffled
and a day later. The replays change nothing: one re-plan run, no route locked again after its
unlock, no call-back taken again after its release, one acknowledgement, one closing SMS, one
declaration, one charge collected."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch.alerts import service as alert_service
from dispatch.alerts.models import AlertKind
from dispatch.audit import service as audit
from dispatch.calls.models import Callback
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.fieldwork import access
from dispatch.geography import service as geography_service
from dispatch.grievances.models import Grievance
from dispatch.planning import locks as route_locks
from dispatch.requests.models import DoorstepRequest
from dispatch.staff.rules import Role
from tests import factories
from tests.console import Console, signed_in
from tests.ivr.conftest import FixedClock
from tests.replay import Mode, assert_replays_change_nothing, ok, record, waiting_callback

IST = ZoneInfo("Asia/Kolkata")
#: A Monday no other test books on, in a district few do.
DAY = dt.date(2049, 3, 1)
DISTRICT = "RSI"
COVERED = {
    "/board/replan",
    "/board/lock",
    "/callbacks/{callback_id}/claim",
    "/callbacks/{callback_id}/release",
    "/alerts/{alert_id}/acknowledge",
    "/grievances/{grievance_id}/close",
    "/fees/{agent_id}/{day}/handover",
    "/a/{token}/takings",
    "/a/{token}/report",
}
SEEDS = (7, 2049)


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), IST)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(_at(7))


def _booked(engine: Engine, clock: FixedClock) -> list[DoorstepRequest]:
    """Two visits booked at 07:00 (each read back whole)."""
    out = []
    for _ in range(2):
        with write_session(engine) as session:
            request, _offer = factories.booked_request(
                session, district_code=DISTRICT, now=clock.now()
            )
            session.refresh(request)
            session.expunge(request)
            out.append(request)
    return out


def _board(desk: Console, engine: Engine, agent_id: int) -> None:
    """A re-plan asked for; the agent's route locked, then unlocked."""
    query = f"district={DISTRICT}&day={DAY.isoformat()}"
    page = ok(desk.get(f"/board?{query}")).context
    form = {"district": DISTRICT, "day": DAY.isoformat()}
    ok(desk.submit("/board/replan", {**form, "idempotency_key": page["idempotency_key"]}))
    for action in ("lock", "unlock"):
        routes = ok(desk.get(f"/board?{query}")).context["lock_versions"]
        lock = {**form, "agent_id": str(agent_id), "action": action}
        ok(desk.submit("/board/lock", {**lock, "version": str(routes[agent_id])}))


def _callback(desk: Console, engine: Engine) -> None:
    """A call-back claimed and given back to the queue (left open for someone else)."""
    callback_id = waiting_callback(engine, district_code=DISTRICT)
    for action in ("claim", "release"):
        seen = ok(desk.get("/callbacks")).context["seen"][callback_id]
        ok(desk.submit(f"/callbacks/{callback_id}/{action}", {"seen": str(seen)}))


def _field_day(client: TestClient, settings: Settings, visit: DoorstepRequest) -> None:
    """The agent reports the visit arrived and done, then saves the day's takings."""
    assert visit.agent_id is not None
    link = f"/a/{access.day_token(settings=settings, agent_id=visit.agent_id, day=DAY)}"
    for action, fields in (("arrived", {}), ("done", {"code": visit.visit_code or ""})):
        form_id = ok(client.get(link)).context["form_id"]
        form = {"form_id": form_id, "request_id": str(visit.id), "action": action, **fields}
        answer = ok(client.post(f"{link}/report", data=form))
        assert "stale" not in answer.headers["location"]
    form_id = ok(client.get(link)).context["form_id"]
    ok(client.post(f"{link}/takings", data={"form_id": form_id, "cash": "120", "upi": ""}))


def _fresh(engine: Engine, visit: DoorstepRequest) -> DoorstepRequest:
    """The visit as it is now (a later booking may have moved it to another agent)."""
    with read_session(engine) as session:
        found = session.get(DoorstepRequest, visit.id)
        assert found is not None
        session.expunge(found)
        return found


def _grievance(engine: Engine, visit: DoorstepRequest) -> int:
    """The other visit done and rated one star: its grievance."""
    visit = _fresh(engine, visit)
    with write_session(engine) as session:
        factories.done_and_rated(
            session,
            visit,
            stars=1,
            comment="came late",
            channel="sms",
            key=f"test:replay-supervision:{visit.id}",
            done_after=dt.timedelta(minutes=20),
            rated_after=dt.timedelta(hours=1),
        )
    with read_session(engine) as session:
        found = session.exec(select(Grievance).where(Grievance.request_id == visit.id)).one()
        assert found.id is not None
        return found.id


def _supervise(
    desk: Console, engine: Engine, visits: list[DoorstepRequest], grievance_id: int
) -> None:
    """An alert acknowledged, the grievance closed, the agent's handover recorded."""
    with read_session(engine) as session:
        district_id = geography_service.get_district_by_code(session=session, code=DISTRICT).id
    with write_session(engine) as session:
        alert_id = alert_service.raise_once(
            session=session,
            key=f"test-replay:{uuid.uuid4().hex}",
            kind=AlertKind.DEADLINE_NEAR,
            state_code="JK",
            detail="to acknowledge",
            now=_at(18),
            district_id=district_id,
            request_id=visits[0].id,
        )
    assert alert_id is not None
    ok(desk.submit(f"/alerts/{alert_id}/acknowledge", {"kind": "deadline_near"}))
    page = ok(desk.get(f"/grievances/{grievance_id}")).context
    close = {
        "note": "spoke to the agent",
        "outcome": "agent_spoken_to",
        "version": str(page["g"].version),
    }
    ok(desk.submit(f"/grievances/{grievance_id}/close", close))
    agent_id = _fresh(engine, visits[1]).agent_id
    key = ok(desk.get(f"/fees/{agent_id}/{DAY}")).context["key"]
    form = {"cash": "200", "upi": "", "note": "at the block office", "key": key}
    ok(desk.submit(f"/fees/{agent_id}/{DAY}/handover", form))


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("seed", SEEDS)
def test_every_supervision_form_replayed_changes_nothing(
    app: FastAPI, engine: Engine, clock: FixedClock, mode: Mode, seed: int
) -> None:
    visits = _booked(engine, clock)
    grievance_id = _grievance(engine, visits[1])  # done in its window, rated that evening
    recorder = record(app)
    visit = _fresh(engine, visits[0])
    assert visit.agent_id is not None and visit.window_start is not None
    clock.at = visit.window_start + dt.timedelta(minutes=5)  # the agent at the door
    _field_day(TestClient(app, follow_redirects=False), app.state.settings, visit)
    clock.at = _at(18).astimezone(dt.UTC)
    desk = signed_in(app, engine, Role.SUPERVISOR)
    _board(desk, engine, visit.agent_id)
    _callback(desk, engine)
    _supervise(desk, engine, visits, grievance_id)
    assert_replays_change_nothing(
        app, engine, clock, recorder, covered=COVERED, mode=mode, seed=seed
    )


def test_a_lock_form_drawn_before_an_unlock_does_not_lock_again(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """Lock, unlock, then the lock form sent again: the route stays unlocked and the board
    answers 409 with the routes as they are, saying so (htmx: the same routes, with a 200)."""
    (visit,) = [_fresh(engine, v) for v in _booked(engine, clock)][:1]
    assert visit.agent_id is not None
    desk = signed_in(app, engine, Role.SUPERVISOR)
    query = f"district={DISTRICT}&day={DAY.isoformat()}"
    form = {"district": DISTRICT, "day": DAY.isoformat(), "agent_id": str(visit.agent_id)}
    version = ok(desk.get(f"/board?{query}")).context["lock_versions"][visit.agent_id]
    assert f'name="version" value="{version}"' in desk.get(f"/board?{query}").text
    lock = {**form, "action": "lock", "version": str(version)}
    ok(desk.submit("/board/lock", lock))
    version = ok(desk.get(f"/board?{query}")).context["lock_versions"][visit.agent_id]
    ok(desk.submit("/board/lock", {**form, "action": "unlock", "version": str(version)}))

    stale = desk.submit("/board/lock", lock)

    assert stale.status_code == 409 and 'id="board-conflict"' in stale.text
    route = next(r for r in stale.context["board"].routes if r.agent.id == visit.agent_id)
    assert not route.locked
    htmx = desk.htmx("POST", "/board/lock", data=lock)
    assert htmx.status_code == 200 and "someone else" in htmx.context["conflict"]
    with read_session(engine) as session:
        assert visit.agent_id not in route_locks.locked_agents(
            session=session, district_id=visit.district_id, day=DAY
        )


def test_a_claim_sent_again_after_the_release_leaves_the_call_back_in_the_queue(
    app: FastAPI, engine: Engine
) -> None:
    desk = signed_in(app, engine, Role.CALL_AGENT)
    callback_id = waiting_callback(engine, district_code=DISTRICT)
    seen = ok(desk.get("/callbacks")).context["seen"][callback_id]
    claim = {"seen": str(seen)}
    ok(desk.submit(f"/callbacks/{callback_id}/claim", claim))
    again = desk.htmx("POST", f"/callbacks/{callback_id}/claim", data=claim)  # a double click
    assert again.status_code == 200
    seen = ok(desk.get("/callbacks")).context["seen"][callback_id]
    ok(desk.submit(f"/callbacks/{callback_id}/release", {"seen": str(seen)}))

    late = desk.submit(f"/callbacks/{callback_id}/claim", claim)

    assert late.status_code == 409 and "claimed or released since" in late.text
    with read_session(engine) as session:
        held = session.get(Callback, callback_id)
        assert held is not None and held.claimed_by is None
        actions = [
            e.action
            for e in audit.history(session=session, entity="callback", entity_id=callback_id)
        ]
    assert actions == ["claimed", "released"]
