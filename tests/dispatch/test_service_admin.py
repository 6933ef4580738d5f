"""Administering the catalogue: rupees as typed read as exact paise (property tests), a
service's form checked field by field, a new service and a changed one audited with before and
after, a code unique in its state and kept once requests were made for it, a fee change that
leaves requests already logged with the fee they were told, and a change the planner sees
making the plans of the service's visits outdated and re-planned."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from dispatch.audit.models import AuditEntry
from dispatch.catalogue import rules
from dispatch.catalogue import service as catalogue_service
from dispatch.catalogue.models import Service
from dispatch.catalogue.rules import InvalidService, ServiceForm
from dispatch.citizens import service as citizen_service
from dispatch.errors import InvalidFee, InvalidInput
from dispatch.geography.models import District
from dispatch.money import plain
from dispatch.planning import service as planning
from dispatch.planning import zone
from dispatch.planning.models import ZonePlan
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.visits import catalogue_admin
from tests import factories

SKILLS = {"biometric", "land_records"}
IST = ZoneInfo("Asia/Kolkata")


def _form(**changes: object) -> ServiceForm:
    values: dict[str, object] = {
        "code": "new service",
        "name_en": "New Service",
        "name_hi": "नई सेवा",
        "name_ur": "",
        "department": "Revenue",
        "category": "citizen",
        "doorstep_fee": "",
        "government_fee": "30.50",
        "time_limit_days": "",
        "visit_minutes": "30",
        "required_skill": "",
        "documents_en": "Aadhaar\n\n  Ration card  \n",
        "documents_hi": "",
        "aliases": "nayi seva\nNayi Seva\nnayi seva",
    }
    values.update(changes)
    return ServiceForm(**values)  # type: ignore[arg-type]


def _check(form: ServiceForm) -> rules.ServiceValues:
    return rules.check_service(form, skills=SKILLS, citizen_fee_paise=5000, business_fee_paise=7500)


# --- rupees and the form ------------------------------------------------------------------------


@given(st.integers(0, rules.MOST_FEE_PAISE))
def test_paise_shown_as_rupees_read_back_exactly(paise: int) -> None:
    text = plain(paise)
    assert rules.paise_from_rupees(text, field="fee") == paise
    assert rules.paise_from_rupees(f"₹ {text}", field="fee") == paise


@given(st.integers(0, 99_999), st.integers(0, 9))
def test_one_decimal_is_tens_of_paise(rupees: int, tenth: int) -> None:
    assert rules.paise_from_rupees(f"{rupees}.{tenth}", field="fee") == rupees * 100 + tenth * 10


@pytest.mark.parametrize("text", ["", "abc", "30.505", "-5", "1e3", "30,5", "1,00,00,001", "3 0"])
def test_what_is_not_rupees_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        rules.paise_from_rupees(text, field="fee")


def test_indian_and_western_grouping_both_read() -> None:
    assert rules.paise_from_rupees("1,250", field="fee") == 125_000
    assert rules.paise_from_rupees("1,00,000", field="fee") == rules.MOST_FEE_PAISE


def test_a_good_form_is_typed_with_lists_trimmed_and_the_states_fee_by_default() -> None:
    values = _check(_form())
    assert values.code == "NEW_SERVICE"
    assert (values.doorstep_fee_paise, values.government_fee_paise) == (5000, 3050)
    assert values.documents_en == ["Aadhaar", "Ration card"]
    assert values.aliases == ["nayi seva", "Nayi Seva"]
    assert values.time_limit_days is None and values.required_skill is None
    assert _check(_form(category="business")).doorstep_fee_paise == 7500


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(InvalidService) as caught:
        _check(
            _form(
                code="bad code!",
                name_en=" ",
                category="other",
                doorstep_fee="thirty",
                government_fee="-1",
                time_limit_days="0",
                visit_minutes="300",
                required_skill="flying",
                documents_hi="एक\nदो\nतीन",
            )
        )
    assert set(caught.value.problems) == {
        "code",
        "name_en",
        "category",
        "doorstep_fee_paise",
        "government_fee_paise",
        "time_limit_days",
        "visit_minutes",
        "required_skill",
        "documents_hi",
    }
    assert isinstance(caught.value, InvalidFee)  # a fee among them
    assert "at least 1" in caught.value.problems["time_limit_days"]
    assert "at most 240" in caught.value.problems["visit_minutes"]


# --- creating and changing ----------------------------------------------------------------------


def _audits(session: Session, service_id: int, action: str) -> list[AuditEntry]:
    return list(
        session.exec(
            select(AuditEntry)
            .where(
                AuditEntry.entity == "service",
                AuditEntry.entity_id == str(service_id),
                AuditEntry.action == action,
            )
            .order_by(col(AuditEntry.id))
        )
    )


def _new(session: Session, **changes: object) -> Service:
    fields: dict[str, object] = {
        "code": f"T_{uuid.uuid4().hex[:8]}",
        "name_en": "Test Service",
        "name_hi": "परीक्षण सेवा",
        "department": "Revenue",
        "doorstep_fee_paise": "50",
        "government_fee_paise": "30.50",
        "time_limit_days": "21",
        "visit_minutes": "45",
        "documents_en": "Aadhaar\nPhoto",
        "documents_hi": "आधार\nफ़ोटो",
        "aliases": "test seva",
    }
    fields.update(changes)
    return catalogue_service.create(
        session=session,
        state_code="JK",
        actor="staff:admin1",
        **fields,  # type: ignore[arg-type]
    )


def test_a_new_service_from_a_form_is_audited_with_what_it_is(session: Session) -> None:
    service = _new(session)
    assert (service.doorstep_fee_paise, service.government_fee_paise) == (5000, 3050)
    assert service.time_limit_days == 21 and service.visit_minutes == 45
    assert service.documents_hi == ["आधार", "फ़ोटो"] and service.aliases == ["test seva"]
    [created] = _audits(session, service.id or 0, "create")
    assert created.actor == "staff:admin1"
    assert created.detail["after"]["government_fee_paise"] == 3050


def test_an_update_changes_what_was_given_and_audits_before_and_after(session: Session) -> None:
    service = _new(session)
    made = catalogue_service.update(
        session=session,
        service_id=service.id or 0,
        actor="staff:admin1",
        doorstep_fee_paise="75",
        time_limit_days="",  # no limit
        aliases="test seva\nparikshan",
        name_en="Test Service",  # the same: not a change
        active=False,
    )
    assert made.before == {
        "doorstep_fee_paise": 5000,
        "time_limit_days": 21,
        "aliases": ["test seva"],
        "active": True,
    }
    assert made.after == {
        "doorstep_fee_paise": 7500,
        "time_limit_days": None,
        "aliases": ["test seva", "parikshan"],
        "active": False,
    }
    [entry] = _audits(session, service.id or 0, "update")
    assert entry.detail == {"before": made.before, "after": made.after}
    assert (
        catalogue_service.update(
            session=session, service_id=service.id or 0, actor="staff:admin1", visit_minutes=45
        ).after
        == {}
    )


def test_a_code_is_unique_in_its_state_and_a_bad_update_changes_nothing(session: Session) -> None:
    service = _new(session)
    other = _new(session)
    with pytest.raises(InvalidService) as caught:
        catalogue_service.update(
            session=session,
            service_id=service.id or 0,
            actor="staff:admin1",
            code=other.code.lower(),
            visit_minutes="4",
        )
    assert set(caught.value.problems) == {"code", "visit_minutes"}
    assert "exists" in caught.value.problems["code"]
    session.refresh(service)
    assert service.visit_minutes == 45 and _audits(session, service.id or 0, "update") == []
    with pytest.raises(InvalidService):
        _new(session, code=other.code)


def test_a_new_fee_is_charged_to_new_requests_only(session: Session) -> None:
    service = factories.service(session)
    old_fee = service.total_fee_paise
    logged = factories.request(session, service_code=service.code)
    catalogue_service.update(
        session=session,
        service_id=service.id or 0,
        actor="staff:admin1",
        doorstep_fee_paise=service.doorstep_fee_paise + 1000,
    )
    later = factories.request(session, service_code=service.code)
    assert request_service.get(session=session, request_id=logged.id or 0).fee_paise == old_fee
    assert later.fee_paise == old_fee + 1000


def test_listing_finds_by_code_or_name_and_by_whether_active(session: Session) -> None:
    service = _new(session, name_en="Zebra Crossing Permit")
    catalogue_service.update(session=session, service_id=service.id or 0, actor="t", active=False)
    found = catalogue_service.listing(session=session, state_code="JK", text="zebra crossing")
    assert [s.id for s in found] == [service.id]
    by_code = catalogue_service.listing(session=session, state_code="JK", text=service.code.lower())
    assert [s.id for s in by_code] == [service.id]
    active = catalogue_service.listing(session=session, state_code="JK", active=True)
    assert service.id not in {s.id for s in active} and active


# --- a change the plans see, and the code channels book by ---------------------------------------

#: A Monday no other test plans on (Srinagar), and early that morning.
PLAN_DAY = dt.date(2043, 4, 6)
PLAN_NOW = dt.datetime.combine(PLAN_DAY, dt.time(7, 0), ZoneInfo("Asia/Kolkata"))


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def _booked(session: Session, service: Service) -> DoorstepRequest:
    """A visit of `service` booked in Srinagar on PLAN_DAY through the use case."""
    probe = factories.citizen(session, district_code="SXR")
    address = citizen_service.last_address(session=session, citizen_id=probe.id or 0)
    assert address is not None and address.id is not None and service.id is not None
    offer = planning.offer_windows(
        session=session,
        settings=factories.SETTINGS,
        address_id=address.id,
        service_id=service.id,
        language="hi",
        now=PLAN_NOW,
    )[0]
    request = factories.request(session, service_code=service.code, offer=offer)
    assert request.window_start is not None
    return request


def _srinagar(session: Session) -> int:
    district = session.exec(select(District).where(District.code == "SXR")).one()
    assert district.id is not None
    return district.id


@pytest.mark.usefixtures("fresh_cache")
@pytest.mark.parametrize(
    "change",
    [{"visit_minutes": "60"}, {"required_skill": "biometric"}, {"active": False}],
    ids=["minutes", "skill", "offered"],
)
def test_a_change_the_planner_sees_makes_the_plans_of_its_visits_outdated_and_replanned(
    session: Session, change: dict[str, object]
) -> None:
    """The planner reads a service's minutes and skill live: a plan or offer computed before
    the change must not be saved or booked on, and the scheduled re-plan must look again."""
    service = _new(session)
    _booked(session, service)
    district = _srinagar(session)
    version = zone.current_version(session, district, PLAN_DAY)
    assert catalogue_admin.planned_days(
        session=session, service_id=service.id or 0, today=PLAN_DAY, tz=IST
    ) == [(district, PLAN_DAY)]

    made = catalogue_admin.update_service(
        session=session, service_id=service.id or 0, actor="staff:admin1", now=PLAN_NOW, **change
    )

    assert set(made.after) == set(change)
    plan = session.get(ZonePlan, (district, PLAN_DAY), populate_existing=True)
    assert plan is not None and plan.version == version + 1  # the same stops, a new version
    assert plan.improved_version < plan.version  # marked for the scheduled re-plan


@pytest.mark.usefixtures("fresh_cache")
def test_a_change_the_planner_does_not_see_leaves_the_plans_alone(session: Session) -> None:
    service = _new(session)
    _booked(session, service)
    district = _srinagar(session)
    before = session.get(ZonePlan, (district, PLAN_DAY), populate_existing=True)
    assert before is not None
    version, improved = before.version, before.improved_version

    made = catalogue_admin.update_service(
        session=session,
        service_id=service.id or 0,
        actor="staff:admin1",
        now=PLAN_NOW,
        name_en="Renamed Test Service",
        doorstep_fee_paise="75",
        visit_minutes="45",  # as it was
    )

    assert set(made.after) == {"name_en", "doorstep_fee_paise"}
    plan = session.get(ZonePlan, (district, PLAN_DAY), populate_existing=True)
    assert plan is not None and (plan.version, plan.improved_version) == (version, improved)


def test_a_service_with_requests_keeps_its_code_and_one_without_may_change_it(
    session: Session,
) -> None:
    """Channels book by code (/api/v1): a code in use cannot be changed under them."""
    used, unused = _new(session), _new(session)
    factories.request(session, service_code=used.code)  # logged, no visit yet
    new_code = f"T_{uuid.uuid4().hex[:8]}".upper()

    with pytest.raises(InvalidService) as caught:
        catalogue_service.update(
            session=session, service_id=used.id or 0, actor="t", code=new_code, name_en="Other"
        )

    assert set(caught.value.problems) == {"code"}
    assert "1 request(s) were made" in caught.value.problems["code"]
    session.refresh(used)
    assert used.name_en == "Test Service" and _audits(session, used.id or 0, "update") == []
    # The code as typed in another case is the same code: not a change, so not refused.
    same = catalogue_service.update(
        session=session, service_id=used.id or 0, actor="t", code=used.code.lower()
    )
    assert same.after == {}
    moved = catalogue_service.update(
        session=session, service_id=unused.id or 0, actor="t", code=new_code.lower()
    )
    assert moved.after == {"code": new_code}
    assert catalogue_service.get_by_code(session=session, state_code="JK", code=new_code).id == (
        unused.id
    )
