"""Fee reconciliation of an agent's day on hand-made ledgers: exact paise, every flag with its
reason, over- and under-collection on different visits of one day never cancelling out,
refunds, declarations that differ, and a day with nothing. Pure: no database, no clock."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from dispatch.ledger.models import EntryKind, PaymentMethod
from dispatch.ledger.reconcile import (
    AgentDay,
    ClosedVisit,
    Declared,
    FlagKind,
    Movement,
    collected_per_day,
    reconcile,
    totals,
)
from dispatch.requests.rules import RequestStatus

AGENT = 7
OTHER_AGENT = 8
DAY = dt.date(2026, 11, 24)
TODAY = dt.date(2026, 12, 1)
CASH, UPI = PaymentMethod.CASH, PaymentMethod.UPI


def _ref(request_id: int) -> str:
    return f"JK-26-{request_id:06d}-0"


def _visit(
    request_id: int, fee: int, status: RequestStatus = RequestStatus.COMPLETED
) -> ClosedVisit:
    return ClosedVisit(request_id, _ref(request_id), status, fee)


def _money(
    kind: EntryKind,
    request_id: int,
    amount: int,
    method: PaymentMethod | None = CASH,
    *,
    agent: int | None = AGENT,
    day: dt.date = DAY,
) -> Movement:
    return Movement(kind, amount, method, agent, request_id, _ref(request_id), day)


def _collect(
    request_id: int, amount: int, method: PaymentMethod = CASH, **where: object
) -> Movement:
    return _money(EntryKind.COLLECT, request_id, amount, method, **where)  # type: ignore[arg-type]


def _day(
    visits: list[ClosedVisit],
    movements: list[Movement],
    declared: Declared | None = None,
    *,
    day: dt.date = DAY,
    today: dt.date = TODAY,
) -> AgentDay:
    return reconcile(
        agent_id=AGENT,
        day=day,
        today=today,
        visits=visits,
        movements=movements,
        declaration=declared,
    )


def _kinds(day: AgentDay) -> list[FlagKind]:
    return [f.kind for f in day.flags]


def test_a_clean_day_has_exact_sums_and_no_flag() -> None:
    day = _day(
        [_visit(1, 5000), _visit(2, 12050)],
        [_collect(1, 5000), _collect(2, 12050, UPI)],
        Declared(cash_paise=5000, upi_paise=12050),
    )
    assert day.expected_paise == 17050
    assert (day.cash_paise, day.upi_paise, day.refunded_paise) == (5000, 12050, 0)
    assert day.net_paise == 17050 and day.outstanding_paise == 0 and day.over_paise == 0
    assert day.completed == 2 and day.closed == 2
    assert day.flags == ()


def test_over_and_under_collection_on_two_visits_do_not_cancel_out() -> None:
    """₹5 too much at one door and ₹5 short at another: the totals balance, the visits do not."""
    day = _day(
        [_visit(1, 5000), _visit(2, 5000)],
        [_collect(1, 5500), _collect(2, 4500)],
        Declared(cash_paise=10000, upi_paise=0),
    )
    assert day.expected_paise == day.net_paise == 10000
    assert day.outstanding_paise == 500 and day.over_paise == 500
    assert _kinds(day) == [FlagKind.OVERCHARGE, FlagKind.OUTSTANDING]
    over, short = day.flags
    assert (over.reference, over.amount_paise) == (_ref(1), 500)
    assert over.reason == f"{_ref(1)}: ₹55 collected, ₹5 more than its fee of ₹50"
    assert (short.reference, short.amount_paise) == (_ref(2), 500)
    assert short.reason == f"{_ref(2)}: ₹5 of its fee of ₹50 not collected"


def test_a_completed_visit_with_nothing_collected_is_outstanding_in_full() -> None:
    day = _day([_visit(1, 7550)], [], Declared(0, 0))
    assert day.outstanding_paise == 7550
    assert _kinds(day) == [FlagKind.OUTSTANDING]
    assert day.flags[0].reason == f"{_ref(1)}: ₹75.50 of its fee of ₹75.50 not collected"


def test_declared_cash_and_upi_that_differ_from_the_ledger_are_flagged_with_the_gap() -> None:
    day = _day(
        [_visit(1, 5000), _visit(2, 3000)],
        [_collect(1, 5000), _collect(2, 3000, UPI)],
        Declared(cash_paise=4000, upi_paise=3050),
    )
    assert _kinds(day) == [FlagKind.CASH_DIFFERS, FlagKind.UPI_DIFFERS]
    cash, upi = day.flags
    assert cash.amount_paise == 1000
    assert cash.reason == "declared cash ₹40, the ledger ₹50: ₹10 less"
    assert upi.amount_paise == 50
    assert upi.reason == "declared UPI ₹30.50, the ledger ₹30: ₹0.50 more"


def test_a_past_day_with_collections_and_no_declaration_is_flagged_today_is_not() -> None:
    visits, money = [_visit(1, 5000)], [_collect(1, 5000)]
    late = _day(visits, money, today=DAY + dt.timedelta(days=1))
    assert _kinds(late) == [FlagKind.NOT_DECLARED]
    assert late.flags[0].reason == "no takings declared for the day; ₹50 collected"
    assert _day(visits, money, today=DAY).flags == ()


def test_a_past_day_without_collections_needs_no_declaration() -> None:
    day = _day([_visit(1, 0), _visit(2, 5000, RequestStatus.NO_SHOW)], [])
    assert day.flags == () and day.closed == 2 and day.completed == 1


def test_a_collection_on_a_day_with_no_completed_visit_is_flagged() -> None:
    day = _day([], [_collect(3, 5000)], Declared(5000, 0))
    assert _kinds(day) == [FlagKind.NO_VISIT]
    flag = day.flags[0]
    assert flag.reason == f"{_ref(3)}: ₹50 collected on a day with no completed visit"
    assert flag.amount_paise == 5000 and day.expected_paise == 0 and day.outstanding_paise == 0


def test_a_collection_for_a_request_not_closed_that_day_is_flagged_beside_real_visits() -> None:
    day = _day([_visit(1, 5000)], [_collect(1, 5000), _collect(9, 2000)], Declared(7000, 0))
    assert _kinds(day) == [FlagKind.NO_VISIT]
    assert day.flags[0].reason == (
        f"{_ref(9)}: ₹20 collected on no visit of theirs completed that day"
    )
    # It is not counted as an overcharge of a visit as well.
    assert day.over_paise == 0 and day.expected_paise == 5000


def test_money_taken_on_a_failed_visit_is_an_overcharge() -> None:
    day = _day([_visit(1, 5000, RequestStatus.FAILED)], [_collect(1, 5000)], Declared(5000, 0))
    assert day.expected_paise == 0
    assert _kinds(day) == [FlagKind.OVERCHARGE]
    assert day.flags[0].reason == f"{_ref(1)}: ₹50 collected on a visit marked failed"


def test_a_failed_visit_with_nothing_collected_expects_nothing() -> None:
    day = _day([_visit(1, 5000, RequestStatus.NO_SHOW)], [], Declared(0, 0))
    assert day.expected_paise == 0 and day.flags == () and day.completed == 0


def test_refunds_lower_what_the_agent_holds_by_their_method() -> None:
    """A cash refund (or one without a method: handed back) lowers the cash held; a UPI
    refund the UPI; what was given back of a visit's fee is outstanding again."""
    day = _day(
        [_visit(1, 5000), _visit(2, 4000)],
        [
            _collect(1, 5000),
            _money(EntryKind.REFUND, 1, 2000, CASH),
            _money(EntryKind.REFUND, 1, 500, None),
            _collect(2, 4000, UPI),
            _money(EntryKind.REFUND, 2, 1000, UPI),
        ],
        Declared(cash_paise=2500, upi_paise=3000),
    )
    assert (day.cash_paise, day.upi_paise) == (5000, 4000)
    assert (day.cash_refunded_paise, day.upi_refunded_paise) == (2500, 1000)
    assert day.refunded_paise == 3500 and day.net_paise == 5500
    assert (day.cash_held_paise, day.upi_held_paise) == (2500, 3000)
    assert day.outstanding_paise == 3500
    assert _kinds(day) == [FlagKind.OUTSTANDING, FlagKind.OUTSTANDING]


def test_a_refund_alone_on_another_request_is_not_a_flag() -> None:
    day = _day([], [_money(EntryKind.REFUND, 4, 1500, CASH)], Declared(0, 0))
    assert _kinds(day) == [FlagKind.CASH_DIFFERS]  # the ledger says -₹15 in hand, declared 0
    assert day.refunded_paise == 1500 and day.net_paise == -1500


def test_a_day_with_nothing() -> None:
    day = _day([], [])
    assert day.lines == () and day.flags == ()
    assert (day.expected_paise, day.collected_paise, day.outstanding_paise) == (0, 0, 0)
    assert day.declared is None


def test_a_declaration_on_a_day_with_nothing_in_the_ledger_differs() -> None:
    day = _day([], [], Declared(cash_paise=10000, upi_paise=0))
    assert _kinds(day) == [FlagKind.CASH_DIFFERS]
    assert day.flags[0].reason == "declared cash ₹100, the ledger ₹0: ₹100 more"


def test_other_agents_other_days_and_charges_are_left_out() -> None:
    day = _day(
        [_visit(1, 5000)],
        [
            _collect(1, 5000),
            _collect(1, 9999, agent=OTHER_AGENT),
            _collect(1, 7777, day=DAY - dt.timedelta(days=1)),
            _money(EntryKind.CHARGE, 1, 5000, None, agent=None),
            _money(EntryKind.WAIVE, 1, 100, None, agent=AGENT),
        ],
        Declared(5000, 0),
    )
    assert (day.cash_paise, day.upi_paise, day.refunded_paise) == (5000, 0, 0)
    assert day.flags == ()


def test_flags_come_most_serious_first() -> None:
    day = _day(
        [_visit(1, 5000), _visit(2, 5000)],
        [_collect(2, 6000), _collect(5, 100)],
        Declared(0, 0),
        today=DAY + dt.timedelta(days=3),
    )
    assert _kinds(day) == [
        FlagKind.OVERCHARGE,
        FlagKind.NO_VISIT,
        FlagKind.OUTSTANDING,
        FlagKind.CASH_DIFFERS,
    ]


def test_totals_and_collected_per_day_cover_every_day_of_the_span() -> None:
    first = _day([_visit(1, 5000)], [_collect(1, 5000)], Declared(5000, 0))
    second = reconcile(
        agent_id=OTHER_AGENT,
        day=DAY + dt.timedelta(days=2),
        today=TODAY,
        visits=[_visit(2, 3000), _visit(3, 2000)],
        movements=[
            _collect(2, 3000, UPI, agent=OTHER_AGENT, day=DAY + dt.timedelta(days=2)),
        ],
        declaration=None,
    )
    t = totals([first, second])
    assert (t.days, t.flagged, t.completed) == (2, 1, 3)
    assert (t.expected_paise, t.cash_paise, t.upi_paise) == (10000, 5000, 3000)
    assert (t.outstanding_paise, t.declared_cash_paise, t.declared_upi_paise) == (2000, 5000, 0)
    assert t.collected_paise == t.net_paise == 8000
    per_day = collected_per_day([first, second], DAY, DAY + dt.timedelta(days=3))
    assert [(d.day.day, d.cash_paise, d.upi_paise) for d in per_day] == [
        (24, 5000, 0),
        (25, 0, 0),
        (26, 0, 3000),
        (27, 0, 0),
    ]


# --- properties --------------------------------------------------------------------------------

fees = st.integers(min_value=0, max_value=50_000)
visit_money = st.lists(
    st.tuples(fees, st.integers(min_value=0, max_value=60_000), st.booleans()),
    min_size=0,
    max_size=8,
)


@given(visit_money)
def test_outstanding_and_over_collection_are_counted_visit_by_visit(
    rows: list[tuple[int, int, bool]],
) -> None:
    """Whatever is taken at each door: outstanding less over-collected is what was expected
    less what was taken, and neither hides the other (each is the sum of its own visits)."""
    visits = [_visit(n + 1, fee) for n, (fee, _taken, _upi) in enumerate(rows)]
    money = [
        _collect(n + 1, taken, UPI if upi else CASH)
        for n, (_fee, taken, upi) in enumerate(rows)
        if taken
    ]
    day = _day(visits, money, Declared(0, 0), today=DAY)
    expected = sum(fee for fee, _t, _u in rows)
    taken = sum(t for _f, t, _u in rows)
    assert day.expected_paise == expected and day.net_paise == taken
    assert day.outstanding_paise - day.over_paise == expected - taken
    assert day.outstanding_paise == sum(max(f - t, 0) for f, t, _u in rows)
    assert day.over_paise == sum(max(t - f, 0) for f, t, _u in rows)
    overcharged = sum(1 for f, t, _u in rows if t > f)
    short = sum(1 for f, t, _u in rows if t < f)
    assert _kinds(day).count(FlagKind.OVERCHARGE) == overcharged
    assert _kinds(day).count(FlagKind.OUTSTANDING) == short
    assert day.cash_paise + day.upi_paise == taken


@given(visit_money, st.integers(min_value=0, max_value=10**6), st.integers(0, 10**6))
def test_a_declaration_is_flagged_exactly_when_it_differs(
    rows: list[tuple[int, int, bool]], cash: int, upi: int
) -> None:
    visits = [_visit(n + 1, fee) for n, (fee, _t, _u) in enumerate(rows)]
    money = [_collect(n + 1, t, UPI if u else CASH) for n, (_f, t, u) in enumerate(rows) if t]
    day = _day(visits, money, Declared(cash, upi))
    assert (FlagKind.CASH_DIFFERS in day.flag_kinds) == (cash != day.cash_held_paise)
    assert (FlagKind.UPI_DIFFERS in day.flag_kinds) == (upi != day.upi_held_paise)
    assert FlagKind.NOT_DECLARED not in day.flag_kinds
