"""The admin's forms replayed: a staff account made, its role changed, a locked-out account
unlocked; a field agent made, edited and edited back, put on leave, the leave taken back and
put in again; an e-service made, its fee changed and changed back; an API client made and
revoked. Each POST sent again 1-3 times in order, shuffled and a day later, as a double click,
a browser's retry or a form left open in another tab would. The replays change nothing: no
second account, agent, service or client, no audit entry twice, and no later change undone by
an earlier form (an old edit, an old "take the leave back")."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from dispatch.audit import service as audit
from dispatch.db import read_session, write_session
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import Role
from tests.console import Console, make_user, signed_in
from tests.ivr.conftest import FixedClock
from tests.replay import Mode, assert_replays_change_nothing, ok, record

IST = ZoneInfo("Asia/Kolkata")
#: 08:00 on a Tuesday no other test uses; the leave is taken on the Friday after.
TUESDAY = dt.datetime(2050, 3, 1, 8, 0, tzinfo=IST)
LEAVE_DAY = dt.date(2050, 3, 4)
COVERED = {
    "/admin/staff",
    "/admin/staff/{user_id}",
    "/admin/agents/new",
    "/admin/agents/{agent_id}",
    "/admin/agents/{agent_id}/leave",
    "/admin/agents/{agent_id}/leave/remove",
    "/admin/services/new",
    "/admin/services/{service_id}",
    "/admin/api-clients",
    "/admin/api-clients/{client_id}/revoke",
}
SEEDS = (7, 2050)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TUESDAY)


def _context(response: Any) -> dict[str, Any]:
    context: dict[str, Any] = ok(response).context
    return context


def _locked_out(engine: Engine, settings: Any) -> StaffUser:
    """A call agent's account locked by as many wrong passwords as are allowed."""
    locked = make_user(engine, Role.CALL_AGENT)
    with write_session(engine) as session:
        for _ in range(settings.staff_failures_allowed):
            attempt = staff_service.Attempt(locked.username, None, "password")
            staff_service.record(session=session, settings=settings, attempt=attempt)
    return locked


def _agent_page(admin: Console, *, name: str, working_days: list[str]) -> str:
    """A field agent made through the form: the URL of their page."""
    key = _context(admin.get("/admin/agents/new"))["form_key"]
    form: dict[str, Any] = {
        "csc_id": f"8{uuid.uuid4().int % 10**11:011d}",
        "name": name,
        "phone": f"+91700{uuid.uuid4().int % 10**7:07d}",
        "block": "KTH01",
        "skills": ["biometric"],
        "languages": ["hi"],
        "working_days": working_days,
        "shift_start": "09:00",
        "shift_end": "17:00",
        "break_start": "13:00",
        "break_minutes": "30",
        "daily_cap": "8",
        "travel_mode": "two_wheeler",
        "key": key,
    }
    made = ok(admin.submit("/admin/agents/new", form))
    url: str = made.headers["location"].split("?")[0]
    return url


def _service_page(admin: Console, **fields: str) -> str:
    """An e-service made through the form (`fields` over a Revenue certificate's): the URL of
    its page."""
    key = _context(admin.get("/admin/services/new"))["form_key"]
    form: dict[str, Any] = {
        "code": f"SVC_{uuid.uuid4().hex[:8]}",
        "name_en": "Service",
        "name_hi": "सेवा",
        "department": "Revenue",
        "category": "citizen",
        "government_fee": "30",
        "time_limit_days": "15",
        "visit_minutes": "30",
        "documents_en": "Aadhaar",
        "key": key,
        **fields,
    }
    made = ok(admin.submit("/admin/services/new", form))
    url: str = made.headers["location"].split("?")[0]
    return url


def _staff(admin: Console, engine: Engine, settings: Any) -> None:
    """An account made and made a dispatcher; another, locked out, unlocked."""
    page = _context(admin.get("/admin/staff"))
    username = f"replay_{uuid.uuid4().hex[:8]}"
    form = {
        "username": username,
        "name": "Replay Test",
        "role": Role.CALL_AGENT.value,
        "password": "a long enough password",
        "key": page["form_key"],
    }
    ok(admin.submit("/admin/staff", form))
    page = _context(admin.get("/admin/staff"))
    (made,) = [u for u in page["users"] if u.username == username]
    form = {"role": Role.DISPATCHER.value, "active": "on", "key": page["row_keys"][made.id]}
    ok(admin.submit(f"/admin/staff/{made.id}", form))
    locked = _locked_out(engine, settings)
    ok(admin.submit(f"/admin/staff/{locked.id}", {"unlock": "1"}))


def _agents(admin: Console) -> None:
    """An agent made, their shift lengthened then put back; leave put in, taken back, put in
    again (a replayed "take it back" must not take the second one back)."""
    workdays = ["mon", "tue", "wed", "thu", "fri"]
    url = _agent_page(admin, name="Replay Agent", working_days=workdays)
    for shift_end in ("18:00", "17:00"):
        page = _context(admin.get(url))
        edit = {**page["form"], "shift_end": shift_end, "active": "on", "version": page["version"]}
        assert ok(admin.submit(url, edit)).headers["location"].endswith("done=saved")
    for turn in range(2):
        page = _context(admin.get(url))
        leave = {"first": LEAVE_DAY.isoformat(), "reason": "wedding", "key": page["leave_key"]}
        ok(admin.submit(f"{url}/leave", leave))
        if turn == 0:
            page = _context(admin.get(url))
            assert [x.day for x in page["leave"]] == [LEAVE_DAY]
            version = page["leave_versions"][LEAVE_DAY]
            remove = {"day": LEAVE_DAY.isoformat(), "leave_version": str(version)}
            ok(admin.submit(f"{url}/leave/remove", remove))


def _services(admin: Console) -> None:
    """A service made, its government fee raised then put back."""
    url = _service_page(
        admin,
        code=f"RPL_{uuid.uuid4().hex[:8]}",
        name_en="Replay Service",
        name_hi="रीप्ले सेवा",
        doorstep_fee="",
        government_fee="30.50",
    )
    for fee in ("40", "30.50"):
        page = _context(admin.get(url))
        edit = {**page["form"], "government_fee": fee, "version": page["version"]}
        edit["active"] = "on" if edit.get("active") else ""
        assert ok(admin.submit(url, edit)).headers["location"].endswith("done=saved")


def _api_clients(admin: Console) -> None:
    """A client made, then revoked."""
    key = _context(admin.get("/admin/api-clients"))["form_key"]
    name = f"Replay kiosk {uuid.uuid4().hex[:6]}"
    made = _context(
        admin.submit("/admin/api-clients", {"name": name, "rate_per_minute": "30", "key": key})
    )["made"]
    assert made is not None
    ok(admin.submit(f"/admin/api-clients/{made.client.id}/revoke"))


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("seed", SEEDS)
def test_every_admin_form_replayed_changes_nothing(
    app: FastAPI, engine: Engine, clock: FixedClock, mode: Mode, seed: int
) -> None:
    recorder = record(app)
    admin = signed_in(app, engine, Role.ADMIN)
    _staff(admin, engine, app.state.settings)
    _agents(admin)
    _services(admin)
    _api_clients(admin)
    assert_replays_change_nothing(
        app, engine, clock, recorder, covered=COVERED, mode=mode, seed=seed
    )


def _conflict_agent(admin: Console) -> str:
    return _agent_page(admin, name="Conflict Agent", working_days=["mon", "tue"])


def test_an_agent_form_left_open_while_another_admin_saved_changes_nothing(
    app: FastAPI, engine: Engine
) -> None:
    """Two admins open the same agent; the second to save gets a 409 page with the agent as
    the first left them, and nothing of the stale form is saved."""
    first, second = signed_in(app, engine, Role.ADMIN), signed_in(app, engine, Role.ADMIN)
    url = _conflict_agent(first)
    mine, theirs = _context(first.get(url)), _context(second.get(url))
    saved = {**mine["form"], "shift_end": "18:00", "active": "on", "version": mine["version"]}
    assert ok(first.submit(url, saved)).headers["location"].endswith("done=saved")
    stale = {**theirs["form"], "name": "Renamed", "active": "on", "version": theirs["version"]}

    answer = second.submit(url, stale)

    assert answer.status_code == 409
    shown = answer.context
    assert "changed by someone else" in shown["conflict"] and 'id="agent-conflict"' in answer.text
    assert shown["form"]["shift_end"] == "18:00" and shown["form"]["name"] == "Conflict Agent"
    assert shown["version"] != theirs["version"]
    again = {**shown["form"], "name": "Renamed", "active": "on", "version": shown["version"]}
    assert ok(second.submit(url, again)).headers["location"].endswith("done=saved")
    final = _context(second.get(url))["form"]
    assert (final["name"], final["shift_end"]) == ("Renamed", "18:00")


def test_a_stale_agent_form_asking_for_what_is_there_answers_unchanged(
    app: FastAPI, engine: Engine
) -> None:
    """A double click on "save": the second, drawn before the first saved, asks for the agent
    as they now are, so it is no conflict: nothing changed, nothing audited."""
    admin = signed_in(app, engine, Role.ADMIN)
    url = _conflict_agent(admin)
    page = _context(admin.get(url))
    form = {**page["form"], "daily_cap": "6", "active": "on", "version": page["version"]}
    assert ok(admin.submit(url, form)).headers["location"].endswith("done=saved")
    history = len(_context(admin.get(url))["history"])
    assert ok(admin.submit(url, form)).headers["location"].endswith("done=unchanged")
    assert len(_context(admin.get(url))["history"]) == history


def test_a_take_back_form_does_not_take_back_leave_put_in_again_since(
    app: FastAPI, engine: Engine
) -> None:
    admin = signed_in(app, engine, Role.ADMIN)
    url = _conflict_agent(admin)
    page = _context(admin.get(url))
    leave = {"first": LEAVE_DAY.isoformat(), "reason": "fever", "key": page["leave_key"]}
    ok(admin.submit(f"{url}/leave", leave))
    page = _context(admin.get(url))
    remove = {
        "day": LEAVE_DAY.isoformat(),
        "leave_version": str(page["leave_versions"][LEAVE_DAY]),
    }
    assert 'name="leave_version"' in admin.get(url).text
    assert ok(admin.submit(f"{url}/leave/remove", remove)).status_code == 303
    assert _context(admin.get(url))["leave"] == []
    again = ok(admin.submit(f"{url}/leave/remove", remove))  # sent twice: done already
    assert again.headers["location"].endswith("done=leave_removed#leave")
    key = _context(admin.get(url))["leave_key"]
    ok(admin.submit(f"{url}/leave", {**leave, "reason": "wedding", "key": key}))

    late = admin.submit(f"{url}/leave/remove", remove)

    assert late.status_code == 409 and "put in again" in late.context["conflict"]
    assert [(x.day, x.reason) for x in _context(admin.get(url))["leave"]] == [
        (LEAVE_DAY, "wedding")
    ]


def test_a_service_form_left_open_while_another_admin_saved_changes_nothing(
    app: FastAPI, engine: Engine
) -> None:
    first, second = signed_in(app, engine, Role.ADMIN), signed_in(app, engine, Role.ADMIN)
    url = _service_page(first, code=f"CNF_{uuid.uuid4().hex[:8]}", name_en="Conflict Service")
    mine, theirs = _context(first.get(url)), _context(second.get(url))
    saved = {**mine["form"], "government_fee": "45", "active": "on", "version": mine["version"]}
    assert ok(first.submit(url, saved)).headers["location"].endswith("done=saved")
    stale = {**theirs["form"], "name_en": "Renamed", "active": "on"}

    answer = second.submit(url, {**stale, "version": theirs["version"]})

    assert answer.status_code == 409 and 'id="service-conflict"' in answer.text
    assert answer.context["form"]["government_fee"] == "45"
    assert answer.context["form"]["name_en"] == "Conflict Service"


def test_an_unlock_sent_again_audits_once(app: FastAPI, engine: Engine) -> None:
    admin = signed_in(app, engine, Role.ADMIN)
    settings = app.state.settings
    locked = _locked_out(engine, settings)
    for _ in range(3):
        answer = ok(admin.submit(f"/admin/staff/{locked.id}", {"unlock": "1"}))
        assert answer.headers["location"].startswith("/admin/staff?done=unlocked")
    with read_session(engine) as session:
        assert not staff_service.locked(
            session=session, settings=settings, username=locked.username
        )
        unlocks = [
            e
            for e in audit.history(session=session, entity="staff_user", entity_id=locked.username)
            if e.action == "unlocked"
        ]
    assert len(unlocks) == 1
