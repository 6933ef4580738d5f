"""The alerts page: open alerts newest first with their links (a request's page, an agent-day's
fees), the kind and district filters, the navigation's count, acknowledging with the form and
with htmx (twice is fine, audited once), and who may see what: a call agent nothing, a
supervisor of another state none of this state's alerts. Every test runs on SQLite and
PostgreSQL.

The alerts are raised for requests booked in Kathua in April 2016 (no other test books there
then); the state's other alerts (other tests') are only ever compared with themselves."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch.agents.models import Agent
from dispatch.alerts import service as alert_service
from dispatch.alerts.models import Alert, AlertKind
from dispatch.audit import service as audit
from dispatch.db import read_session, write_session
from dispatch.geography.models import District
from dispatch.requests import service as request_service
from dispatch.requests.rules import RequestStatus
from dispatch.staff.rules import Role
from tests import pendency_history as history
from tests.console import Console, signed_in
from tests.pendency_history import local
from web import alerts

DISTRICT = "KTH"
RAISED = local(dt.date(2016, 4, 12), 9)


@pytest.fixture(scope="module")
def kathua(engine: Engine) -> Iterator[dict[str, Any]]:
    """Two requests of Kathua and alerts about them, and a fees alert of one of its agents:
    their ids by name, and the citizen's name and phone (never on the page)."""
    made: dict[str, Any] = {}
    tag = uuid.uuid4().hex[:8]
    with write_session(engine) as s:
        late, person = history.book(
            s, district_code=DISTRICT, at=local(dt.date(2016, 4, 1), 11), window=None
        )
        near, _ = history.book(
            s, district_code=DISTRICT, at=local(dt.date(2016, 4, 5), 11), window=None
        )
        district = s.exec(select(District).where(District.code == DISTRICT)).one()
        agent = s.exec(select(Agent).where(Agent.state_code == "JK")).first()
        assert agent is not None and agent.id is not None

        def raise_one(kind: AlertKind, minutes: int, **about: Any) -> int:
            alert_id = alert_service.raise_once(
                session=s,
                key=f"test-page:{tag}:{kind.value}",
                kind=kind,
                state_code="JK",
                detail=f"{kind.value} about {about}",
                now=RAISED + dt.timedelta(minutes=minutes),
                district_id=district.id,
                **about,
            )
            assert alert_id is not None
            return alert_id

        made["appeal"] = raise_one(AlertKind.APPEAL, 3, request_id=late.id, day=late.due_date)
        made["near"] = raise_one(AlertKind.DEADLINE_NEAR, 2, request_id=near.id)
        made["fees"] = raise_one(AlertKind.FEES, 1, agent_id=agent.id, day=dt.date(2016, 4, 11))
        made["request_ids"] = (late.id, near.id)
        made["agent_id"] = agent.id
        made["district_id"] = district.id
        made["citizen"] = (person.name, person.phone)
    yield made


def _supervisor(app: FastAPI, engine: Engine, state_code: str = "JK") -> Console:
    return signed_in(app, engine, Role.SUPERVISOR, state_code=state_code)


def _context(client: Console, url: str, template: str = "alerts/index.html") -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.template.name == template  # type: ignore[attr-defined]
    context: dict[str, Any] = response.context  # type: ignore[attr-defined]
    return context


def _ids(context: dict[str, Any]) -> list[int]:
    return [line.id for line in context["page"].lines]


def _mine(context: dict[str, Any], kathua: dict[str, Any]) -> list[int]:
    wanted = {kathua["appeal"], kathua["near"], kathua["fees"]}
    return [i for i in _ids(context) if i in wanted]


def test_open_alerts_are_listed_newest_first_with_links_and_no_citizen(
    app: FastAPI, engine: Engine, kathua: dict[str, Any]
) -> None:
    console = _supervisor(app, engine)
    district = kathua["district_id"]
    context = _context(console, f"/alerts?district={district}")
    assert _mine(context, kathua) == [kathua["appeal"], kathua["near"], kathua["fees"]]
    lines = {line.id: line for line in context["page"].lines}
    late_id, _near_id = kathua["request_ids"]
    appeal = lines[kathua["appeal"]]
    assert context["subject_url"](appeal.alert) == f"/requests/{late_id}"
    assert appeal.reference and appeal.service_name and appeal.district_name == "Kathua"
    fees = lines[kathua["fees"]]
    assert context["subject_url"](fees.alert) == f"/fees/{kathua['agent_id']}/2016-04-11"
    assert fees.agent_name
    page = console.get(f"/alerts?district={district}").text
    assert f'href="/requests/{late_id}"' in page
    assert f'href="/fees/{kathua["agent_id"]}/2016-04-11"' in page
    assert "Marked for appeal" in page and f'id="ack-{kathua["appeal"]}"' in page
    said = Alert(
        key="k",
        kind=AlertKind.APPEAL,
        state_code="JK",
        request_id=late_id,
        detail="JK-16-000001-1 · Ration Card: Add Member · Kathua — its time limit ended",
    )
    assert alerts.what(said) == "Its time limit ended"  # the subject has its own columns
    dashed = said.model_copy(
        update={"detail": "JK-16-000001-1 · Domicile — Renewal · Kathua — 3 of 4 working days gone"}
    )
    assert alerts.what(dashed) == "3 of 4 working days gone"  # a dash in the service's name
    name, phone = kathua["citizen"]
    assert name not in page and phone not in page and phone[3:] not in page


def test_the_kind_filter_narrows_and_an_unknown_kind_is_any(
    app: FastAPI, engine: Engine, kathua: dict[str, Any]
) -> None:
    console = _supervisor(app, engine)
    district = kathua["district_id"]
    appeals = _context(console, f"/alerts?kind=appeal&district={district}")
    assert _mine(appeals, kathua) == [kathua["appeal"]]
    assert all(line.alert.kind is AlertKind.APPEAL for line in appeals["page"].lines)
    assert appeals["form"] == {"kind": "appeal", "district": str(district)}
    fees = _context(console, f"/alerts?kind=fees&district={district}")
    assert _mine(fees, kathua) == [kathua["fees"]]
    anything = _context(console, f"/alerts?kind=nonsense&district={district}")
    assert len(_mine(anything, kathua)) == 3 and "kind" not in anything["form"]
    assert console.get("/alerts?district=12x").status_code == 422


def test_the_navigation_counts_the_open_alerts(
    app: FastAPI, engine: Engine, kathua: dict[str, Any]
) -> None:
    console = _supervisor(app, engine)
    with read_session(engine) as s:
        open_now = alert_service.count_open(session=s, state_code="JK")
    badge = console.get("/alerts/count")
    assert badge.template.name == "alerts/_count.html"  # type: ignore[attr-defined]
    assert badge.context["count"] == open_now > 0  # type: ignore[attr-defined]
    assert f">{open_now}</span>" in badge.text
    assert 'hx-get="/alerts/count"' in console.get("/pendency").text
    agent = signed_in(app, engine, Role.CALL_AGENT)
    assert "/alerts/count" not in agent.get("/intake").text


def _fresh_alert(engine: Engine, kathua: dict[str, Any], kind: AlertKind) -> int:
    with write_session(engine) as s:
        alert_id = alert_service.raise_once(
            session=s,
            key=f"test-page-ack:{uuid.uuid4().hex}",
            kind=kind,
            state_code="JK",
            detail="to acknowledge",
            now=RAISED,
            district_id=kathua["district_id"],
            request_id=kathua["request_ids"][1],
        )
    assert alert_id is not None
    return alert_id


def test_acknowledging_with_the_form_twice_goes_back_to_the_list_and_is_audited_once(
    app: FastAPI, engine: Engine, kathua: dict[str, Any]
) -> None:
    alert_id = _fresh_alert(engine, kathua, AlertKind.DEADLINE_NEAR)
    console = _supervisor(app, engine)
    district = str(kathua["district_id"])
    form = {"kind": "deadline_near", "district": district}
    done = console.submit(f"/alerts/{alert_id}/acknowledge", form)
    assert done.status_code == 303
    assert done.headers["location"] == (
        f"/alerts?kind=deadline_near&district={district}&done=ack&alert={alert_id}"
    )
    listed = _context(console, done.headers["location"])
    assert alert_id not in _ids(listed)
    assert listed["notice"] == f"Alert #{alert_id} acknowledged."
    again = console.submit(f"/alerts/{alert_id}/acknowledge", form)
    assert again.status_code == 303 and "done=already" in again.headers["location"]
    with read_session(engine) as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.acknowledged_by == f"staff:{console.user.username}"
        entries = audit.history(session=s, entity="alert", entity_id=alert_id)
    assert [e.action for e in entries] == ["acknowledged"]


def test_acknowledging_with_htmx_answers_the_row_and_the_counts(
    app: FastAPI, engine: Engine, kathua: dict[str, Any]
) -> None:
    alert_id = _fresh_alert(engine, kathua, AlertKind.DEADLINE_REACHED)
    console = _supervisor(app, engine)
    with read_session(engine) as s:
        before = alert_service.count_open(session=s, state_code="JK")
    answer = console.htmx("POST", f"/alerts/{alert_id}/acknowledge", data={})
    assert answer.status_code == 200
    assert answer.template.name == "alerts/_acknowledged.html"  # type: ignore[attr-defined]
    assert answer.context["changed"] and answer.context["count"] == before - 1  # type: ignore[attr-defined]
    assert f'<tr id="alert-{alert_id}" data-kind="deadline_reached" class="done">' in answer.text
    assert "Acknowledged at" in answer.text and "Acknowledge</button>" not in answer.text
    assert 'id="alerts-count" hx-swap-oob="outerHTML"' in answer.text
    assert 'id="alerts-count-line" hx-swap-oob="true"' in answer.text
    twice = console.htmx("POST", f"/alerts/{alert_id}/acknowledge", data={})
    assert not twice.context["changed"]  # type: ignore[attr-defined]
    assert f"Already acknowledged by {console.user.username} at" in twice.text


def test_a_call_agent_may_not_and_another_states_supervisor_sees_none_of_them(
    app: FastAPI, engine: Engine, kathua: dict[str, Any]
) -> None:
    agent = signed_in(app, engine, Role.CALL_AGENT)
    for url in ("/alerts", "/alerts/count"):
        assert agent.get(url).status_code == 403, url
    assert agent.submit(f"/alerts/{kathua['appeal']}/acknowledge").status_code == 403
    punjab = _supervisor(app, engine, state_code="PB")
    context = _context(punjab, "/alerts")
    assert _mine(context, kathua) == []
    assert all(line.alert.state_code == "PB" for line in context["page"].lines)
    assert punjab.submit(f"/alerts/{kathua['appeal']}/acknowledge").status_code == 404
    with read_session(engine) as s:
        alert = s.get(Alert, kathua["appeal"])
        assert alert is not None and alert.acknowledged_at is None


def test_an_alert_about_a_request_closed_since_says_so(
    app: FastAPI, engine: Engine, kathua: dict[str, Any]
) -> None:
    """The request's status now, when it is closed: the alert stays until acknowledged."""
    with write_session(engine) as s:
        request, _ = history.book(
            s, district_code=DISTRICT, at=local(dt.date(2016, 4, 2), 11), window=None
        )
        request_service.transition(
            session=s,
            request_id=request.id or 0,
            to=RequestStatus.CANCELLED,
            actor="test",
            reason="the citizen withdrew",
        )
        alert_id = alert_service.raise_once(
            session=s,
            key=f"test-page-closed:{uuid.uuid4().hex}",
            kind=AlertKind.APPEAL,
            state_code="JK",
            detail="closed since",
            now=RAISED,
            district_id=request.district_id,
            request_id=request.id,
        )
    console = _supervisor(app, engine)
    url = f"/alerts?kind=appeal&district={kathua['district_id']}"
    context = _context(console, url)
    line = next(line for line in context["page"].lines if line.id == alert_id)
    assert line.request_status is RequestStatus.CANCELLED
    row = console.get(url).text.split(f'id="alert-{alert_id}"')[1].split("</tr>")[0]
    assert "now cancelled" in row
