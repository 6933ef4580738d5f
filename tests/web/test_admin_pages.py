"""The admin's pages for field agents and e-services, and the staff page's audit: lists with
their filters, forms that name each bad field beside it and come back as typed (422), a form
sent twice that creates once, changes shown in the history before → after, leave put in with
what happened to the visits shown, leave taken back, and nobody but an admin let in."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from dispatch.agents import service as agent_service
from dispatch.agents.models import Agent, AgentLeave
from dispatch.audit.models import AuditEntry
from dispatch.catalogue.models import Service
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.geography.models import Block, District
from dispatch.planning import service as planning
from dispatch.planning import zone
from dispatch.planning.models import ZonePlan
from dispatch.requests.models import DoorstepRequest
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import Role
from ivr.deps import get_clock
from tests import factories
from tests.console import Console, make_user, signed_in
from tests.ivr.conftest import FixedClock
from web.app import create_app

IST = ZoneInfo("Asia/Kolkata")
#: The product's clock here: a Monday nobody else plans on (Kathua's agents).
DAY = dt.date(2043, 6, 1)
NOW = dt.datetime.combine(DAY, dt.time(7, 0), IST)


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), IST)


def _app(settings: Settings, engine: Engine) -> FastAPI:
    app = create_app(settings=settings, engine=engine)
    app.dependency_overrides[get_clock] = lambda: FixedClock(NOW)
    return app


def _admin(settings: Settings, engine: Engine, role: Role = Role.ADMIN) -> Console:
    return signed_in(_app(settings, engine), engine, role)


def _ctx(response: Any) -> dict[str, Any]:
    context: dict[str, Any] = response.context
    return context


def _csc() -> str:
    return f"8{uuid.uuid4().int % 10**11:011d}"


def _phone() -> str:
    return f"+91700{uuid.uuid4().int % 10**7:07d}"


def _agent_form(**changes: object) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csc_id": _csc(),
        "name": "Web Test Agent",
        "phone": _phone(),
        "block": "KTH01",
        "lat": "",
        "lon": "",
        "skills": ["biometric"],
        "languages": ["hi", "doi"],
        "working_days": ["mon", "tue", "wed"],
        "shift_start": "09:00",
        "shift_end": "17:00",
        "break_start": "13:00",
        "break_minutes": "30",
        "daily_cap": "8",
        "travel_mode": "two_wheeler",
    }
    form.update(changes)
    return form


def _new_agent(client: Console, **changes: object) -> int:
    page = client.get("/admin/agents/new")
    key = _ctx(page)["form_key"]
    response = client.submit("/admin/agents/new", {**_agent_form(**changes), "key": key})
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/admin/agents/(\d+)\?done=created", response.headers["location"])
    assert match is not None
    return int(match.group(1))


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/admin/agents", "/admin/agents/new", "/admin/services", "/admin/services/new"]
)
def test_a_supervisor_is_refused_the_admin_pages(
    settings: Settings, engine: Engine, url: str
) -> None:
    client = _admin(settings, engine, Role.SUPERVISOR)
    assert client.get(url).status_code == 403
    assert client.submit(url if url.endswith("new") else f"{url}/new", {}).status_code == 403


def test_agents_of_another_state_do_not_exist_here(settings: Settings, engine: Engine) -> None:
    with read_session(engine) as s:
        punjab = s.exec(select(Agent).where(Agent.state_code == "PB")).first()
    assert punjab is not None
    assert _admin(settings, engine).get(f"/admin/agents/{punjab.id}").status_code == 404


# --- agents -------------------------------------------------------------------------------------


def test_the_agents_list_filters_by_district_and_shows_todays_load(
    settings: Settings, engine: Engine
) -> None:
    with write_session(engine) as s:
        booked, _ = factories.booked_request(s, district_code="KTH", now=NOW)
        s.refresh(booked)
        busy = booked.agent_id
        district = s.exec(select(District).where(District.code == "KTH")).one()
    client = _admin(settings, engine)

    response = client.get("/admin/agents", params={"district": district.id, "active": "yes"})

    assert response.status_code == 200
    assert response.template.name == "admin_agents/list.html"  # type: ignore[attr-defined]
    ctx = _ctx(response)
    assert ctx["rows"] and {r.district.code for r in ctx["rows"]} == {"KTH"}
    assert all(r.agent.active for r in ctx["rows"])
    assert ctx["load"][busy] >= 1 and ctx["today"] == DAY
    busy_row = next(r for r in ctx["rows"] if r.agent.id == busy)
    assert busy_row.agent.name in response.text and "09:00–17:00" in response.text
    assert f"{ctx['load'][busy]} / {busy_row.agent.daily_cap}" in response.text
    found = client.get("/admin/agents", params={"q": busy_row.agent.csc_id})
    assert [r.agent.id for r in _ctx(found)["rows"]] == [busy]


def test_a_new_agent_with_bad_fields_comes_back_as_typed_with_each_message(
    settings: Settings, engine: Engine
) -> None:
    client = _admin(settings, engine)
    form = _agent_form(
        name="",
        phone="12345",
        working_days=[],
        shift_start="17:00",
        shift_end="09:00",
        daily_cap="50",
        lat="north",
    )

    response = client.submit("/admin/agents/new", {**form, "key": str(uuid.uuid4())})

    assert response.status_code == 422
    assert response.template.name == "admin_agents/edit.html"  # type: ignore[attr-defined]
    ctx = _ctx(response)
    assert set(ctx["errors"]) == {"name", "phone", "working_days", "shift_end", "daily_cap", "lat"}
    assert ctx["form"]["phone"] == "12345" and ctx["form"]["daily_cap"] == "50"
    assert ctx["form"]["languages"] == ["hi", "doi"]
    assert 'id="daily_cap-error"' in response.text and "at most 30" in response.text
    assert 'value="12345"' in response.text
    with read_session(engine) as s:
        assert s.exec(select(Agent).where(Agent.csc_id == form["csc_id"])).first() is None


def test_a_new_agent_sent_twice_is_created_once(settings: Settings, engine: Engine) -> None:
    client = _admin(settings, engine)
    key = _ctx(client.get("/admin/agents/new"))["form_key"]
    form = {**_agent_form(), "key": key}

    first = client.submit("/admin/agents/new", form)
    again = client.submit("/admin/agents/new", form)

    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    with read_session(engine) as s:
        made = s.exec(select(Agent).where(Agent.csc_id == form["csc_id"])).all()
        block = s.exec(select(Block).where(Block.code == "KTH01")).one()
    assert len(made) == 1 and (made[0].lat, made[0].lon) == (block.lat, block.lon)
    # Another form (another key) with the same CSC id is a duplicate, said beside the field.
    other = client.submit("/admin/agents/new", {**form, "key": str(uuid.uuid4())})
    assert other.status_code == 422 and "csc_id" in _ctx(other)["errors"]


def test_an_edit_is_saved_and_shown_in_the_history_before_and_after(
    settings: Settings, engine: Engine
) -> None:
    client = _admin(settings, engine)
    agent_id = _new_agent(client)
    form = _ctx(client.get(f"/admin/agents/{agent_id}"))["form"]
    changed = {
        **form,
        "shift_end": "18:00",
        "skills": ["biometric", "land_records"],
        "active": "on",
    }

    response = client.submit(f"/admin/agents/{agent_id}", changed)

    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/agents/{agent_id}?done=saved"
    page = client.get(response.headers["location"])
    ctx = _ctx(page)
    assert ctx["notice"] == "Saved."
    latest = ctx["history"][0]
    assert latest.what == "changed" and latest.who == client.user.username
    shown = {(c.field, c.before, c.after) for c in latest.changes}
    assert shown == {
        ("Shift ends", "17:00", "18:00"),
        ("Skills", "biometric", "biometric, land_records"),
    }
    assert "→ 18:00" in page.text
    again = client.submit(f"/admin/agents/{agent_id}", changed)
    assert again.headers["location"].endswith("done=unchanged")


def test_a_bad_edit_changes_nothing_and_keeps_what_was_typed(
    settings: Settings, engine: Engine
) -> None:
    client = _admin(settings, engine)
    agent_id = _new_agent(client)
    form = _ctx(client.get(f"/admin/agents/{agent_id}"))["form"]

    response = client.submit(
        f"/admin/agents/{agent_id}",
        {**form, "break_start": "19:00", "name": "Renamed", "active": "on"},
    )

    assert response.status_code == 422
    ctx = _ctx(response)
    assert set(ctx["errors"]) == {"break_start"}
    assert ctx["form"]["name"] == "Renamed" and ctx["form"]["break_start"] == "19:00"
    assert ctx["agent"].id == agent_id
    with read_session(engine) as s:
        agent = agent_service.get(session=s, agent_id=agent_id)
        assert agent.name == "Web Test Agent" and agent.break_start_min == 13 * 60


def test_leave_moves_the_visits_and_the_page_says_what_happened(
    settings: Settings, engine: Engine
) -> None:
    with write_session(engine) as s:
        booked = [
            factories.booked_request(s, district_code="KTH", now=NOW, choice=i)[0] for i in range(2)
        ]
        for r in booked:
            s.refresh(r)
        away = booked[0].agent_id
        # Every visit of theirs that day (other tests book there too, on other days as well).
        theirs = set(
            s.exec(
                select(DoorstepRequest.id).where(
                    DoorstepRequest.agent_id == away,
                    col(DoorstepRequest.status).in_(["scheduled", "assigned"]),
                    col(DoorstepRequest.window_start) >= _start_of(DAY),
                    col(DoorstepRequest.window_start) < _start_of(DAY + dt.timedelta(days=1)),
                )
            )
        )
    assert away is not None
    client = _admin(settings, engine)
    page = client.get(f"/admin/agents/{away}")
    key = _ctx(page)["leave_key"]
    leave = {"first": DAY.isoformat(), "last": "", "reason": "fever", "key": key}

    response = client.submit(f"/admin/agents/{away}/leave", leave)

    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"/admin/agents/{away}?leave=") and location.endswith("#leave")
    shown = client.get(location.split("#")[0])
    ctx = _ctx(shown)
    result = ctx["leave_result"]
    assert {m.request_id for m in result.moved} | {n.request_id for n in result.new_time} == theirs
    assert "moved to other agents" in ctx["leave_text"] or "new time" in ctx["leave_text"]
    assert 'id="leave-result"' in shown.text and "fever" in shown.text
    assert [x.day for x in ctx["leave"]] == [DAY]
    with read_session(engine) as s:
        for rid in theirs:
            assert s.get(DoorstepRequest, rid).agent_id != away  # type: ignore[union-attr]
        audits = s.exec(select(func.count()).select_from(AuditEntry)).one()

    again = client.submit(f"/admin/agents/{away}/leave", leave)

    assert again.status_code == 303 and again.headers["location"] == location
    with read_session(engine) as s:
        assert s.exec(select(func.count()).select_from(AuditEntry)).one() == audits

    back = client.submit(f"/admin/agents/{away}/leave/remove", {"day": DAY.isoformat()})
    assert back.status_code == 303 and "done=leave_removed" in back.headers["location"]
    with read_session(engine) as s:
        left = s.exec(
            select(AgentLeave).where(AgentLeave.agent_id == away, AgentLeave.day == DAY)
        ).first()
        assert left is None
        for rid in theirs:
            assert s.get(DoorstepRequest, rid).agent_id != away  # type: ignore[union-attr]


def test_leave_without_a_reason_or_in_the_past_comes_back_as_typed(
    settings: Settings, engine: Engine
) -> None:
    client = _admin(settings, engine)
    agent_id = _new_agent(client)
    key = _ctx(client.get(f"/admin/agents/{agent_id}"))["leave_key"]
    yesterday = (DAY - dt.timedelta(days=1)).isoformat()

    response = client.submit(
        f"/admin/agents/{agent_id}/leave",
        {"first": yesterday, "last": "", "reason": " ", "key": key},
    )

    assert response.status_code == 422
    ctx = _ctx(response)
    assert set(ctx["leave_errors"]) == {"first", "reason"}
    assert ctx["leave_form"]["first"] == yesterday and ctx["leave_key"] == key
    with read_session(engine) as s:
        assert (
            agent_service.leave_from(session=s, agent_id=agent_id, day=DAY - dt.timedelta(1)) == []
        )


def test_switching_off_an_agent_with_visits_planned_is_refused_beside_the_field(
    settings: Settings, engine: Engine
) -> None:
    with write_session(engine) as s:
        booked, _ = factories.booked_request(s, district_code="KTH", now=NOW, choice=2)
        s.refresh(booked)
    client = _admin(settings, engine)
    form = _ctx(client.get(f"/admin/agents/{booked.agent_id}"))["form"]

    response = client.submit(f"/admin/agents/{booked.agent_id}", {**form, "active": ""})

    assert response.status_code == 422
    assert "on leave" in _ctx(response)["errors"]["active"]
    with read_session(engine) as s:
        assert agent_service.get(session=s, agent_id=booked.agent_id or 0).active


# --- services -----------------------------------------------------------------------------------


def _service_form(**changes: object) -> dict[str, Any]:
    form: dict[str, Any] = {
        "code": f"WEB_{uuid.uuid4().hex[:8]}",
        "name_en": "Web Test Service",
        "name_hi": "वेब सेवा",
        "name_ur": "",
        "department": "Revenue",
        "category": "citizen",
        "doorstep_fee": "",
        "government_fee": "30.50",
        "time_limit_days": "15",
        "visit_minutes": "30",
        "required_skill": "",
        "documents_en": "Aadhaar\nPhoto",
        "documents_hi": "",
        "aliases": "web seva",
    }
    form.update(changes)
    return form


def _new_service(client: Console, **changes: object) -> int:
    key = _ctx(client.get("/admin/services/new"))["form_key"]
    response = client.submit("/admin/services/new", {**_service_form(**changes), "key": key})
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/")[-1].split("?")[0])


def test_the_services_list_searches_by_name_or_code(settings: Settings, engine: Engine) -> None:
    client = _admin(settings, engine)
    response = client.get("/admin/services", params={"q": "income"})
    assert response.status_code == 200
    assert response.template.name == "admin_services/list.html"  # type: ignore[attr-defined]
    services = _ctx(response)["services"]
    assert services and all("income" in s.name_en.lower() or "INCOME" in s.code for s in services)
    assert services[0].name_en in response.text


def test_a_new_service_with_fees_in_rupees_and_its_bad_fields(
    settings: Settings, engine: Engine
) -> None:
    client = _admin(settings, engine)
    bad = client.submit(
        "/admin/services/new",
        {
            **_service_form(
                doorstep_fee="30.505", time_limit_days="0", visit_minutes="500", name_hi=""
            ),
            "key": str(uuid.uuid4()),
        },
    )
    assert bad.status_code == 422
    ctx = _ctx(bad)
    assert set(ctx["errors"]) == {"doorstep_fee", "time_limit_days", "visit_minutes", "name_hi"}
    assert ctx["form"]["doorstep_fee"] == "30.505"
    assert 'id="doorstep_fee-error"' in bad.text

    service_id = _new_service(client, code="web test twice")
    with read_session(engine) as s:
        made = s.get(Service, service_id)
    assert made is not None and made.code == "WEB_TEST_TWICE"
    assert (made.doorstep_fee_paise, made.government_fee_paise) == (5000, 3050)  # J&K's fee


def test_a_service_edit_converts_rupees_exactly_and_the_history_shows_it(
    settings: Settings, engine: Engine
) -> None:
    client = _admin(settings, engine)
    service_id = _new_service(client, doorstep_fee="50")
    page = client.get(f"/admin/services/{service_id}")
    assert "new requests only" in page.text
    form = _ctx(page)["form"]
    assert form["doorstep_fee"] == "50" and form["government_fee"] == "30.50"

    response = client.submit(
        f"/admin/services/{service_id}",
        {**form, "doorstep_fee": "45.5", "time_limit_days": "", "active": "on"},
    )

    assert response.status_code == 303
    with read_session(engine) as s:
        service = s.get(Service, service_id)
    assert service is not None
    assert service.doorstep_fee_paise == 4550 and service.time_limit_days is None
    ctx = _ctx(client.get(response.headers["location"]))
    changes = {(c.field, c.before, c.after) for c in ctx["history"][0].changes}
    assert changes == {("Doorstep fee", "₹50", "₹45.50"), ("Time limit (days)", "15", "—")}


def test_a_bad_service_edit_changes_nothing(settings: Settings, engine: Engine) -> None:
    client = _admin(settings, engine)
    service_id = _new_service(client)
    form = _ctx(client.get(f"/admin/services/{service_id}"))["form"]
    response = client.submit(
        f"/admin/services/{service_id}",
        {**form, "doorstep_fee": "", "documents_hi": "एक", "active": "on"},
    )
    assert response.status_code == 422
    assert set(_ctx(response)["errors"]) == {"doorstep_fee", "documents_hi"}
    with read_session(engine) as s:
        service = s.get(Service, service_id)
        assert service is not None and service.documents_hi == []
        assert service.doorstep_fee_paise == 5000


def _book_service_in_kathua(engine: Engine, service_id: int) -> DoorstepRequest:
    """A visit of the service booked (committed) in Kathua on DAY through the use case."""
    with write_session(engine) as s:
        service = s.get(Service, service_id)
        probe = factories.citizen(s, district_code="KTH")
        address = citizen_service.last_address(session=s, citizen_id=probe.id or 0)
        assert service is not None and address is not None and address.id is not None
        offer = planning.offer_windows(
            session=s,
            settings=factories.SETTINGS,
            address_id=address.id,
            service_id=service_id,
            language="hi",
            now=NOW,
        )[0]
        booked = factories.request(s, district_code="KTH", service_code=service.code, offer=offer)
        s.refresh(booked)
        return booked


def test_a_service_edit_the_planner_sees_has_its_planned_days_replanned(
    settings: Settings, engine: Engine
) -> None:
    client = _admin(settings, engine)
    service_id = _new_service(client, visit_minutes="30")
    booked = _book_service_in_kathua(engine, service_id)
    with read_session(engine) as s:
        version = zone.current_version(s, booked.district_id, DAY)
    form = _ctx(client.get(f"/admin/services/{service_id}"))["form"]

    response = client.submit(
        f"/admin/services/{service_id}", {**form, "visit_minutes": "50", "active": "on"}
    )

    assert response.status_code == 303
    assert response.headers["location"].endswith("?done=replanned")
    with read_session(engine) as s:
        plan = s.get(ZonePlan, (booked.district_id, DAY))
        assert plan is not None and plan.version == version + 1
        assert plan.improved_version < plan.version
    shown = client.get(response.headers["location"])
    assert "planned again" in _ctx(shown)["notice"]


def test_a_service_with_requests_keeps_its_code_beside_the_field(
    settings: Settings, engine: Engine
) -> None:
    client = _admin(settings, engine)
    service_id = _new_service(client)
    with write_session(engine) as s:
        service = s.get(Service, service_id)
        assert service is not None
        factories.request(s, district_code="KTH", service_code=service.code)
        code = service.code
    form = _ctx(client.get(f"/admin/services/{service_id}"))["form"]

    response = client.submit(
        f"/admin/services/{service_id}",
        {**form, "code": f"{code}_NEW", "name_en": "Renamed", "active": "on"},
    )

    assert response.status_code == 422
    ctx = _ctx(response)
    assert set(ctx["errors"]) == {"code"} and "channels book by this code" in ctx["errors"]["code"]
    assert ctx["form"]["code"] == f"{code}_NEW" and ctx["form"]["name_en"] == "Renamed"
    assert 'id="code-error"' in response.text
    with read_session(engine) as s:
        service = s.get(Service, service_id)
        assert service is not None and (service.code, service.name_en) == (code, "Web Test Service")


# --- staff accounts ------------------------------------------------------------------------------


def test_staff_changes_are_audited_before_and_after_and_listed(
    settings: Settings, engine: Engine
) -> None:
    client = _admin(settings, engine)
    other = make_user(engine, Role.CALL_AGENT)

    response = client.submit(
        f"/admin/staff/{other.id}", {"role": "dispatcher", "active": "off", "password": ""}
    )

    assert response.status_code == 303
    with read_session(engine) as s:
        entry = s.exec(
            select(AuditEntry)
            .where(AuditEntry.entity == "staff_user", AuditEntry.entity_id == str(other.id))
            .order_by(col(AuditEntry.id).desc())
        ).first()
    assert entry is not None and entry.action == "updated"
    assert entry.detail["before"] == {"role": "call_agent", "active": True}
    assert entry.detail["after"] == {"role": "dispatcher", "active": False}
    page = client.get("/admin/staff")
    rows = [r for r in _ctx(page)["history"] if r.note == other.username]
    assert {(c.field, c.before, c.after) for c in rows[0].changes} == {
        ("Role", "call_agent", "dispatcher"),
        ("Active", "yes", "no"),
    }


def test_a_refused_new_account_names_the_field_and_keeps_what_was_typed(
    settings: Settings, engine: Engine
) -> None:
    client = _admin(settings, engine)
    response = client.submit(
        "/admin/staff",
        {"username": "new_person", "name": "New Person", "role": "supervisor", "password": "short"},
    )
    assert response.status_code == 422
    ctx = _ctx(response)
    assert set(ctx["errors"]) == {"password"} and ctx["form"]["name"] == "New Person"
    assert 'value="supervisor" selected' in response.text
    with read_session(engine) as s:
        assert s.exec(select(StaffUser).where(StaffUser.username == "new_person")).first() is None


def _staff_audits(engine: Engine, user_id: int, action: str) -> int:
    with read_session(engine) as s:
        return s.exec(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.entity == "staff_user",
                AuditEntry.entity_id == str(user_id),
                AuditEntry.action == action,
            )
        ).one()


def test_a_new_account_form_sent_twice_creates_once_and_answers_as_the_first(
    settings: Settings, engine: Engine
) -> None:
    client = _admin(settings, engine)
    page = client.get("/admin/staff")
    key = _ctx(page)["form_key"]
    assert f'name="key" value="{key}"' in page.text
    username = f"twice_{uuid.uuid4().hex[:8]}"
    form = {
        "username": username,
        "name": "Twice Sent",
        "role": "dispatcher",
        "password": "correct horse battery",
        "key": key,
    }

    first = client.submit("/admin/staff", form)
    again = client.submit("/admin/staff", form)

    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    with read_session(engine) as s:
        [made] = s.exec(select(StaffUser).where(StaffUser.username == username)).all()
    assert _staff_audits(engine, made.id or 0, "created") == 1
    # Another form (another key) for the same username is still refused.
    other = client.submit("/admin/staff", {**form, "key": str(uuid.uuid4())})
    assert other.status_code == 422 and "taken" in _ctx(other)["errors"]["username"]


def test_a_password_change_sent_twice_runs_once(settings: Settings, engine: Engine) -> None:
    client = _admin(settings, engine)
    other = make_user(engine, Role.CALL_AGENT)
    page = client.get("/admin/staff")
    key = _ctx(page)["row_keys"][other.id]
    assert f'name="key" value="{key}"' in page.text
    form = {"role": "call_agent", "active": "", "password": "a brand new password", "key": key}

    first = client.submit(f"/admin/staff/{other.id}", form)
    with read_session(engine) as s:
        changed_at = s.get(StaffUser, other.id).password_changed_at  # type: ignore[union-attr]
    again = client.submit(f"/admin/staff/{other.id}", form)

    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert _staff_audits(engine, other.id or 0, "updated") == 1
    with read_session(engine) as s:
        assert s.get(StaffUser, other.id).password_changed_at == changed_at  # type: ignore[union-attr]
    # The page edited and sent with the same key: refused, nothing changed.
    edited = client.submit(f"/admin/staff/{other.id}", {**form, "active": "off"})
    assert edited.status_code == 422 and "reload the page" in _ctx(edited)["error"]
    with read_session(engine) as s:
        assert s.get(StaffUser, other.id).active  # type: ignore[union-attr]
