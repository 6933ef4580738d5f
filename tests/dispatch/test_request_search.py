"""Finding requests for the console: filters, search by reference or phone, overdue, pages.
Other tests' requests share the database, so each test narrows to its own citizen's phone."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.errors import InvalidInput, InvalidReference
from dispatch.geography import service as geography_service
from dispatch.requests import rules, search
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel, RequestStatus
from dispatch.visits import service as visits
from dispatch.visits.proof import Proof
from tests import factories
from tests.conftest import unique_phone

IST = ZoneInfo("Asia/Kolkata")
#: Logged long ago (so due dates are known): the first request of the test's citizen.
LOGGED = dt.datetime(2029, 1, 8, 10, 0, tzinfo=IST)


def _log(session: Session, person: Citizen, *, at: dt.datetime) -> DoorstepRequest:
    """A request of `person`, logged (no window) at `at`."""
    address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
    assert address is not None and person.id is not None and address.id is not None
    result = visits.book_visit(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=f"t:search:{uuid.uuid4().hex}",
        actor="test",
        channel=Channel.CONSOLE,
        state_code="JK",
        citizen_id=person.id,
        address_id=address.id,
        service_id=factories.service(session).id or 0,
        offer=None,
        now=at,
    )
    return request_service.get(session=session, request_id=result.request_id)


def _find(session: Session, text: str, today: dt.date, **filters: object) -> search.Page:
    query = search.read_query(text, default_state="JK")
    return search.find(
        session=session,
        state_code="JK",
        filters=search.Filters(query=query, **filters),  # type: ignore[arg-type]
        today=today,
    )


def test_a_reference_is_read_in_any_form_people_type_it(session: Session) -> None:
    request = factories.request(session)
    digits = rules.keypad_digits(request.reference)
    for typed in (
        request.reference,
        request.reference.lower(),
        digits,
        f" {digits[:2]} {digits[2:]} ",
    ):
        assert search.read_query(typed, default_state="JK") == search.Query(
            reference=request.reference
        )
    found = _find(session, digits, LOGGED.date())
    assert [r.request_id for r in found.rows] == [request.id] and found.total == 1


def test_a_mistyped_reference_says_so_and_a_name_is_refused() -> None:
    with pytest.raises(InvalidReference):
        search.read_query("JK-26-000123-0", default_state="JK")  # wrong check digit
    with pytest.raises(InvalidInput):
        search.read_query("Abdul", default_state="JK")
    assert search.read_query("  ", default_state="JK") == search.Query()
    assert search.read_query("000123", default_state="JK").fragment == "000123"


def test_a_phone_in_any_indian_form_finds_the_citizens_requests_newest_first(
    session: Session,
) -> None:
    person = factories.citizen(session)
    first = _log(session, person, at=LOGGED)
    second = _log(session, person, at=LOGGED + dt.timedelta(days=1))
    other = factories.request(session)
    national = person.phone.removeprefix("+91")
    for typed in (person.phone, national, f"0{national}", f"{national[:5]} {national[5:]}"):
        assert search.read_query(typed, default_state="JK").phone == person.phone
        found = _find(session, typed, LOGGED.date())
        assert [r.request_id for r in found.rows] == [second.id, first.id]
    assert other.id not in {r.request_id for r in found.rows}
    row = found.rows[0]
    assert row.masked_phone != person.phone and row.masked_phone.endswith(person.phone[-3:])
    assert row.citizen_name == person.name and row.status is RequestStatus.LOGGED


def test_filters_narrow_by_status_district_and_service(session: Session) -> None:
    person = factories.citizen(session, district_code="KLG")
    logged = _log(session, person, at=LOGGED)
    cancelled = _log(session, person, at=LOGGED + dt.timedelta(hours=1))
    visits.cancel_visit(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=f"t:search:{uuid.uuid4().hex}",
        actor="test",
        request_id=cancelled.id or 0,
        proof=Proof(caller_id=person.phone),
        reason="no longer needed",
    )
    klg = geography_service.get_district_by_code(session=session, code="KLG")
    sxr = geography_service.get_district_by_code(session=session, code="SXR")
    today = LOGGED.date()
    phone = person.phone

    def ids(**filters: object) -> list[int | None]:
        return [r.request_id for r in _find(session, phone, today, **filters).rows]

    assert ids(status=RequestStatus.CANCELLED) == [cancelled.id]
    assert ids(status=RequestStatus.LOGGED) == [logged.id]
    assert ids(district_id=klg.id) == [cancelled.id, logged.id]
    assert ids(district_id=sxr.id) == []
    assert ids(service_id=logged.service_id) == [cancelled.id, logged.id]
    assert ids(service_id=-1) == []


def test_overdue_is_past_the_due_date_and_not_closed(session: Session) -> None:
    person = factories.citizen(session)
    open_one = _log(session, person, at=LOGGED)
    closed = _log(session, person, at=LOGGED)
    visits.cancel_visit(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=f"t:search:{uuid.uuid4().hex}",
        actor="test",
        request_id=closed.id or 0,
        proof=Proof(caller_id=person.phone),
        reason="no longer needed",
    )
    due = open_one.due_date
    assert due is not None and due > LOGGED.date()
    on_the_day = _find(session, person.phone, due, overdue=True)
    assert on_the_day.rows == []  # still in time on its due date
    after = _find(session, person.phone, due + dt.timedelta(days=1), overdue=True)
    assert [r.request_id for r in after.rows] == [open_one.id] and after.rows[0].overdue
    everything = _find(session, person.phone, due + dt.timedelta(days=1))
    assert {r.request_id: r.overdue for r in everything.rows} == {
        open_one.id: True,
        closed.id: False,
    }


def test_pages_split_the_list_and_a_page_past_the_end_shows_the_last(session: Session) -> None:
    person = factories.citizen(session)
    made = [_log(session, person, at=LOGGED + dt.timedelta(minutes=n)) for n in range(5)]
    newest_first = [r.id for r in reversed(made)]
    query = search.read_query(person.phone, default_state="JK")

    def page(n: int) -> search.Page:
        return search.find(
            session=session,
            state_code="JK",
            filters=search.Filters(query=query),
            today=LOGGED.date(),
            page=n,
            per_page=2,
        )

    pages = [page(1), page(2), page(3)]
    assert [p.total for p in pages] == [5, 5, 5] and pages[0].pages == 3
    assert [r.request_id for p in pages for r in p.rows] == newest_first
    assert pages[0].has_next and not pages[0].has_previous
    assert pages[2].has_previous and not pages[2].has_next
    beyond = page(9)
    assert beyond.number == 3 and [r.request_id for r in beyond.rows] == newest_first[4:]


def test_a_piece_of_a_reference_finds_the_references_holding_it(session: Session) -> None:
    request = factories.request(session)
    piece = request.reference.split("-")[2]  # the six-digit sequence
    found = search.find(
        session=session,
        state_code="JK",
        filters=search.Filters(query=search.read_query(piece, default_state="JK")),
        today=LOGGED.date(),
        per_page=100,
    )
    assert request.id in {r.request_id for r in found.rows}
    assert all(piece in r.reference for r in found.rows)


def test_a_citizen_narrows_the_list_to_their_requests(session: Session) -> None:
    person = factories.citizen(session)
    mine = [_log(session, person, at=LOGGED + dt.timedelta(minutes=n)) for n in range(2)]
    factories.request(session)  # someone else's
    found = search.find(
        session=session,
        state_code="JK",
        filters=search.Filters(citizen_id=person.id),
        today=LOGGED.date(),
    )
    assert [r.request_id for r in found.rows] == [mine[1].id, mine[0].id]
    elsewhere = search.find(
        session=session,
        state_code="PB",
        filters=search.Filters(citizen_id=person.id),
        today=LOGGED.date(),
    )
    assert elsewhere.rows == []


def test_the_search_box_resolves_a_reference_to_its_request_and_a_piece_to_a_list(
    session: Session,
) -> None:
    request = factories.request(session)
    for typed in (request.reference, rules.keypad_digits(request.reference)):
        assert search.resolve(session=session, state_code="JK", text=typed) == search.Resolved(
            request_id=request.id
        )
    piece = request.reference.split("-")[2]
    assert search.resolve(session=session, state_code="JK", text=piece) == search.Resolved(
        fragment=piece
    )
    nobody = rules.make_reference("JK", 99, 999_999)  # nothing is logged in 2099
    assert not search.resolve(session=session, state_code="JK", text=nobody).found
    assert not search.resolve(session=session, state_code="PB", text=request.reference).found
    assert not search.resolve(session=session, state_code="JK", text="99-99999").found
    assert not search.resolve(session=session, state_code="JK", text="  ").found
    with pytest.raises(InvalidInput):
        search.resolve(session=session, state_code="JK", text="Ghulam")


def test_the_search_box_resolves_a_phone_to_its_citizen_or_their_only_request(
    session: Session,
) -> None:
    """A number becomes the citizen's id (or their one request): the list's address then
    names the citizen, never the number."""
    person = factories.citizen(session)
    national = person.phone.removeprefix("+91")
    assert not search.resolve(session=session, state_code="JK", text=national).found  # none yet
    only = _log(session, person, at=LOGGED)
    for typed in (person.phone, national, f"{national[:5]} {national[5:]}"):
        resolved = search.resolve(session=session, state_code="JK", text=typed)
        assert resolved == search.Resolved(request_id=only.id)
    _log(session, person, at=LOGGED + dt.timedelta(hours=1))
    resolved = search.resolve(session=session, state_code="JK", text=national)
    assert resolved == search.Resolved(citizen_id=person.id)
    assert not search.resolve(session=session, state_code="PB", text=national).found
    assert not search.resolve(session=session, state_code="JK", text=unique_phone()).found
