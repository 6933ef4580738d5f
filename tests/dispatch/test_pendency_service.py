"""Pendency on a real database (SQLite and PostgreSQL): holidays and their seeding, the
working-day due date a new request is given, and the counts, lists and weekly on-time rates —
the SQL held equal to the pure rules request by request. Requests are made by the booking,
rescheduling and field-report use cases at their own moments; every test counts in Doda in
2019, where no other test books, with "now" in 2019 (pendency is as of a moment: the other
tests' later requests are not counted)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch import seed
from dispatch.audit.models import AuditEntry
from dispatch.catalogue.models import Service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.config import REPO_ROOT
from dispatch.db import write_session
from dispatch.errors import InvalidInput
from dispatch.geography.models import District, Village
from dispatch.pendency import query, rules
from dispatch.pendency import service as pendency
from dispatch.pendency.query import Dimension, Filters
from dispatch.pendency.rules import Completion, LegalState, OpenRequest, PromiseState
from dispatch.planning import service as planning
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.requests.rules import RequestStatus
from dispatch.states import service as state_service
from dispatch.states.models import State
from tests import pendency_history as history
from tests.pendency_history import IST, local

DISTRICT = "DOD"
#: Thursday 20 June 2019, noon: "now" for the counts.
NOW = dt.datetime(2019, 6, 20, 12, 0, tzinfo=IST)


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    planning.clear_cache()


def book(
    session: Session,
    *,
    at: dt.datetime,
    service_code: str = "BIRTH_CERT",
    window: int | None = 0,
) -> tuple[DoorstepRequest, Citizen]:
    """A new citizen of Doda books at `at` (see `tests.pendency_history.book`)."""
    return history.book(
        session, district_code=DISTRICT, at=at, service_code=service_code, window=window
    )


def doda(session: Session) -> int:
    found = session.exec(select(District).where(District.code == DISTRICT)).one()
    assert found.id is not None
    return found.id


def calendar(session: Session) -> rules.WorkCalendar:
    state = session.get(State, "JK")
    assert state is not None
    return pendency.work_calendar(session=session, state=state)


def seen(request: DoorstepRequest) -> OpenRequest:
    """The request as the pure rules see it."""
    return OpenRequest(
        application_day=request.logged_at.astimezone(IST).date(),
        due_date=request.due_date,
        stage=query.stage_of(request.status),
        window_start=request.window_start,
        window_end=request.window_end,
        planned_arrival=request.planned_arrival,
        at_risk=request.at_risk,
    )


# --- holidays ---------------------------------------------------------------------------------


def test_holidays_are_listed_by_range_added_once_and_audited(session: Session) -> None:
    day = dt.date(2019, 6, 17)
    added = state_service.add_holiday(
        session=session, state_code="JK", day=day, name="Test holiday", actor="test"
    )
    found = state_service.holidays(
        session=session, state_code="JK", start=dt.date(2019, 6, 1), end=dt.date(2019, 6, 30)
    )
    assert [(h.day, h.name) for h in found] == [(day, "Test holiday")]
    assert state_service.holidays(session=session, state_code="PB", start=day, end=day) == []
    with pytest.raises(InvalidInput, match="already a holiday: Test holiday"):
        state_service.add_holiday(
            session=session, state_code="JK", day=day, name="Again", actor="test"
        )
    with pytest.raises(InvalidInput):
        state_service.add_holiday(
            session=session, state_code="JK", day=dt.date(2019, 6, 18), name=" ", actor="test"
        )
    entry = session.exec(
        select(AuditEntry).where(
            AuditEntry.entity == "holiday", AuditEntry.entity_id == str(added.id)
        )
    ).one()
    assert entry.actor == "test" and entry.detail["after"]["day"] == "2019-06-17"


def test_the_seed_loads_each_states_holidays_once(engine: Engine) -> None:
    """Both years of both states are in the seeded database, and seeding again adds none."""
    for code in ("JK", "PB"):
        lines = (REPO_ROOT / "seed_data" / code.lower() / "holidays.csv").read_text().splitlines()
        with write_session(engine) as s:
            days = {
                h.day
                for h in state_service.holidays(
                    session=s, state_code=code, start=dt.date(2026, 1, 1), end=dt.date(2027, 12, 31)
                )
            }
        assert len(days) == len(lines) - 1
        assert {d.year for d in days} == {2026, 2027} and dt.date(2026, 8, 15) in days
    with write_session(engine) as s:
        counts = seed.load(session=s, seed_dir=REPO_ROOT / "seed_data")
    assert counts["JK.holidays"] == counts["PB.holidays"] == 0


def test_a_new_request_is_due_after_its_limit_in_working_days(session: Session) -> None:
    """Birth certificate, seven working days, applied for on Friday 14 June 2019 with Monday
    17 June a holiday: Sat 15 (1), Tue 18 .. Sat 22 (2-6), Mon 24 (7)."""
    state_service.add_holiday(
        session=session, state_code="JK", day=dt.date(2019, 6, 17), name="Test", actor="test"
    )
    request, _ = book(session, at=local(dt.date(2019, 6, 14), 10), window=None)
    assert request.due_date == dt.date(2019, 6, 24)
    svc = session.get(Service, request.service_id)
    assert svc is not None and svc.time_limit_days == 7
    assert request.due_date == rules.due_date(dt.date(2019, 6, 14), 7, calendar(session))


# --- counts and lists -------------------------------------------------------------------------


def make_doda(session: Session) -> dict[str, DoorstepRequest]:
    """Requests of Doda in every state the clocks know, made by the use cases at their
    moments; `NOW` is Thursday 20 June 2019, noon."""
    made: dict[str, DoorstepRequest] = {}
    # Waiting since mid-May for a window: seven working days are long gone.
    made["old"], _ = book(session, at=local(dt.date(2019, 5, 10), 11), window=None)
    # No time limit (ABHA card), waiting ten days.
    made["no_limit"], _ = book(
        session, at=local(dt.date(2019, 6, 10), 11), service_code="ABHA_ID", window=None
    )
    # Booked on Monday into Monday's first window; nobody came: the promise is missed.
    made["missed"], _ = book(session, at=local(dt.date(2019, 6, 17), 7))
    # Fard (three working days) applied for on Tuesday and moved on Thursday to the last
    # window offered, after its due date: forecast to breach.
    fard, person = book(
        session, at=local(dt.date(2019, 6, 18), 7), service_code="FARD_COPY", window=None
    )
    made["late_plan"] = history.reschedule(
        session, fard, person, at=local(dt.date(2019, 6, 20), 7), window=-1
    )
    # Booked this morning into the last window offered; the plan says the agent will be late.
    risky, _ = book(session, at=local(dt.date(2019, 6, 20), 7), window=-1)
    made["at_risk"] = request_service.update(
        session=session, request_id=risky.id or 0, actor="test", at_risk=True
    )
    # Booked this morning into this morning's window; the agent is at the door.
    there, _ = book(session, at=local(dt.date(2019, 6, 20), 7))
    assert there.window_start is not None
    history.arrive(session, there, at=there.window_start + dt.timedelta(minutes=20))
    made["at_door"] = request_service.get(session=session, request_id=there.id or 0)
    # Closed ones and one logged after "now" are not pending.
    done, _ = book(session, at=local(dt.date(2019, 6, 19), 7))
    assert done.window_start is not None
    history.visit_done(session, done, arrived=done.window_start + dt.timedelta(minutes=5))
    made["completed"] = request_service.get(session=session, request_id=done.id or 0)
    made["later"], _ = book(session, at=local(dt.date(2019, 6, 21), 10), window=None)
    session.expire_all()  # the reports re-timed other visits of their day: read them again
    return {k: request_service.get(session=session, request_id=r.id or 0) for k, r in made.items()}


OPEN_KEYS = ("old", "no_limit", "missed", "late_plan", "at_risk", "at_door")


def test_the_counts_and_the_list_apply_the_rules_to_every_request(session: Session) -> None:
    made = make_doda(session)
    where = Filters(district_id=doda(session))
    page = pendency.find(session=session, state_code="JK", filters=where, now=NOW)
    listed = {row.request_id: row for row in page.rows}
    assert set(listed) == {made[k].id for k in OPEN_KEYS} and page.total == len(OPEN_KEYS)
    cal = calendar(session)
    for key in OPEN_KEYS:
        request, row = made[key], listed[made[key].id or 0]
        assert row.legal is rules.legal_state(seen(request), now=NOW, tz=IST, calendar=cal), key
        assert row.promise is rules.promise_state(seen(request), now=NOW), key
        assert row.band is rules.age_band(row.age_days), key
        assert row.age_days == (NOW.date() - request.logged_at.astimezone(IST).date()).days
    expected = {
        "old": (LegalState.BREACHED, PromiseState.NO_WINDOW, "31+"),
        "no_limit": (LegalState.NO_LIMIT, PromiseState.NO_WINDOW, "8-15"),
        "missed": (listed[made["missed"].id or 0].legal, PromiseState.MISSED, "3-7"),
        "late_plan": (LegalState.FORECAST, PromiseState.ON_TRACK, "0-2"),
        "at_risk": (listed[made["at_risk"].id or 0].legal, PromiseState.AT_RISK, "0-2"),
        "at_door": (listed[made["at_door"].id or 0].legal, PromiseState.ON_TRACK, "0-2"),
    }
    for key, (legal, promise, band) in expected.items():
        row = listed[made[key].id or 0]
        assert (row.legal, row.promise, row.band.key) == (legal, promise, band), key
    old = listed[made["old"].id or 0]
    assert old.working_days_left is not None and old.working_days_left < 0  # days late
    assert [r.legal for r in page.rows][:2] == [LegalState.BREACHED, LegalState.FORECAST]

    [district] = pendency.tallies(
        session=session, state_code="JK", dimension=Dimension.DISTRICT, filters=where, now=NOW
    )
    assert district.name == "Doda" and district.total == len(OPEN_KEYS)
    for state in LegalState:
        assert district.legal[state] == sum(r.legal is state for r in page.rows)
    for promise in PromiseState:
        assert district.promise[promise] == sum(r.promise is promise for r in page.rows)
    for age in rules.AGE_BANDS:
        assert district.bands[age.key] == sum(r.band is age for r in page.rows)
    assert district.breaching == 2


def test_every_dimension_adds_up_to_the_district(session: Session) -> None:
    made = make_doda(session)
    where = Filters(district_id=doda(session))
    by = {
        d: pendency.tallies(session=session, state_code="JK", dimension=d, filters=where, now=NOW)
        for d in Dimension
    }
    at_once = pendency.tallies_by(
        session=session, state_code="JK", dimensions=tuple(Dimension), filters=where, now=NOW
    )
    assert at_once == by  # one pass for the page's four tables counts what four would
    whole = pendency.total(by[Dimension.DISTRICT])
    for dimension, rows in by.items():
        summed = pendency.total(rows)
        assert (summed.total, summed.legal, summed.promise, summed.bands) == (
            whole.total,
            whole.legal,
            whole.promise,
            whole.bands,
        ), dimension
    services = {t.key for t in by[Dimension.SERVICE]}
    assert services == {made[k].service_id for k in OPEN_KEYS}
    agents = {t.key: t for t in by[Dimension.AGENT]}
    assert agents[None].name == "Unassigned"  # the two waiting for a window
    assert agents[None].total == 2
    assert all(t.district == "Doda" for t in by[Dimension.BLOCK])
    # worst first
    assert by[Dimension.SERVICE][0].breaching >= by[Dimension.SERVICE][-1].breaching
    assert made["old"].agent_id is None


def test_filters_narrow_counts_and_lists_alike(session: Session) -> None:
    made = make_doda(session)
    district = doda(session)

    def ids(**narrow: object) -> set[int]:
        filters = Filters(district_id=district, **narrow)  # type: ignore[arg-type]
        page = pendency.find(session=session, state_code="JK", filters=filters, now=NOW)
        [tally] = pendency.tallies(
            session=session,
            state_code="JK",
            dimension=Dimension.DISTRICT,
            filters=filters,
            now=NOW,
        ) or [pendency.Tally(key=None, name="none")]
        assert tally.total == page.total == len(page.rows)
        return {r.request_id for r in page.rows}

    assert ids(legal=LegalState.BREACHED) == {made["old"].id}
    assert ids(legal=LegalState.FORECAST) == {made["late_plan"].id}
    assert ids(promise=PromiseState.MISSED) == {made["missed"].id}
    assert ids(promise=PromiseState.AT_RISK) == {made["at_risk"].id}
    assert ids(band=rules.BAND_BY_KEY["31+"]) == {made["old"].id}
    assert ids(agent_id=query.UNASSIGNED) == {made["old"].id, made["no_limit"].id}
    fard = made["late_plan"]
    assert ids(service_id=fard.service_id) == {fard.id}
    assert ids(agent_id=fard.agent_id) >= {fard.id}
    address = citizen_service.get_address(session=session, address_id=fard.address_id)
    village = session.get(Village, address.village_id)
    assert village is not None
    assert fard.id in ids(block_id=village.block_id)
    assert ids(legal=LegalState.BREACHED, promise=PromiseState.MISSED) == set()


def test_a_list_comes_in_pages(session: Session) -> None:
    make_doda(session)
    where = Filters(district_id=doda(session))
    first = pendency.find(session=session, state_code="JK", filters=where, now=NOW, per_page=4)
    second = pendency.find(
        session=session, state_code="JK", filters=where, now=NOW, page=2, per_page=4
    )
    beyond = pendency.find(
        session=session, state_code="JK", filters=where, now=NOW, page=9, per_page=4
    )
    assert (first.pages, len(first.rows), len(second.rows)) == (2, 4, 2)
    assert {r.request_id for r in first.rows}.isdisjoint(r.request_id for r in second.rows)
    assert beyond.number == 2  # past the end: the last page
    everything = pendency.find(
        session=session, state_code="JK", filters=where, now=NOW, per_page=None
    )
    assert [r.request_id for r in everything.rows] == [
        r.request_id for r in first.rows + second.rows
    ]


def test_nothing_open_counts_nothing(session: Session) -> None:
    where = Filters(district_id=doda(session))
    early = dt.datetime(2019, 1, 7, 12, 0, tzinfo=IST)
    assert (
        pendency.tallies(
            session=session, state_code="JK", dimension=Dimension.AGENT, filters=where, now=early
        )
        == []
    )
    assert pendency.find(session=session, state_code="JK", filters=where, now=early).rows == []
    rates = pendency.weekly_rates(session=session, state_code="JK", filters=where, now=early)
    assert len(rates) == rules.RATE_WEEKS and all(r.completed == 0 for r in rates)
    assert all(r.legal_rate is None and r.promise_rate is None for r in rates)


# --- on-time rates --------------------------------------------------------------------------


def test_weekly_rates_count_what_the_rules_count(session: Session) -> None:
    """Five visits over three weeks: on time on both clocks; the agent arriving after the
    window; the agent arriving before the window (kept: the citizen was promised a visit by
    its end); delivered after the due date (applied for long before, given a window late);
    and one completed before the twelve weeks. The SQL counts equal the rules' on the same
    completions, read back from the request events."""
    on_time, _ = book(session, at=local(dt.date(2019, 6, 3), 7))
    late_arrival, _ = book(session, at=local(dt.date(2019, 6, 11), 7))
    early_arrival, _ = book(session, at=local(dt.date(2019, 6, 12), 7))
    waited, person = book(session, at=local(dt.date(2019, 5, 20), 10), window=None)
    waited = history.reschedule(
        session, waited, person, at=local(dt.date(2019, 6, 19), 7), window=0
    )
    ancient, _ = book(session, at=local(dt.date(2019, 2, 5), 7))
    for request, minutes in (
        (on_time, 15),
        (late_arrival, 150),
        (early_arrival, -20),
        (waited, 30),
        (ancient, 5),
    ):
        assert request.window_start is not None
        history.visit_done(
            session, request, arrived=request.window_start + dt.timedelta(minutes=minutes)
        )
    where = Filters(district_id=doda(session))
    got = pendency.weekly_rates(session=session, state_code="JK", filters=where, now=NOW)

    mine = [on_time, late_arrival, early_arrival, waited, ancient]
    completions = []
    for request in mine:
        fresh = request_service.get(session=session, request_id=request.id or 0)
        events = {
            e.to_status: e.at
            for e in session.exec(
                select(RequestEvent)
                .where(RequestEvent.request_id == fresh.id)
                .order_by(col(RequestEvent.id))
            )
        }
        completions.append(
            Completion(
                completed_day=events[RequestStatus.COMPLETED].astimezone(IST).date(),
                due_date=fresh.due_date,
                arrived_at=events.get(RequestStatus.ARRIVED),
                window_start=fresh.window_start,
                window_end=fresh.window_end,
            )
        )
    assert got == rules.weekly_rates(completions, today=NOW.date())
    by_week = {r.week: r for r in got}
    first = by_week[dt.date(2019, 6, 3)]
    assert (first.completed, first.legal_rate, first.promise_rate) == (1, 100.0, 100.0)
    second = by_week[dt.date(2019, 6, 10)]
    assert (second.completed, second.legal_rate, second.promise_rate) == (2, 100.0, 50.0)
    third = by_week[dt.date(2019, 6, 17)]
    assert (third.completed, third.legal_rate, third.promise_rate) == (1, 0.0, 100.0)
    assert rules.overall(got).completed == 4  # February's is outside the twelve weeks
