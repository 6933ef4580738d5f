"""Call sessions on a real session: started once, abandoned only if nothing was settled,
answers replayed by key, one call-back per call, the queue wait estimated from recent calls."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from dispatch.calls import queue as callback_queue
from dispatch.calls import service as call_service
from dispatch.calls.models import CallbackReason, CallSession, CallStatus
from dispatch.errors import InvalidTransition, NotFound
from tests.conftest import unique_phone

NOW = dt.datetime(2030, 6, 3, 2, 0, tzinfo=dt.UTC)


def _start(session: Session, sid: str = "CA" + "a" * 32) -> CallSession:
    return call_service.start(
        session=session,
        call_sid=sid,
        state_code="JK",
        from_number=unique_phone(),
        to_number="1447",
        language="hi",
        now=NOW,
    )


def test_a_call_starts_once(session: Session) -> None:
    first = _start(session)
    again = call_service.start(
        session=session,
        call_sid=first.call_sid,
        state_code="JK",
        from_number="x",
        to_number="y",
        language="en",
    )
    assert again.id == first.id and again.language == "hi"
    locked = call_service.get_for_update(session=session, call_sid=first.call_sid)
    assert locked.id == first.id
    with pytest.raises(NotFound):
        call_service.get_for_update(session=session, call_sid="CA-none")


def test_advancing_records_the_step_and_a_new_turn(session: Session) -> None:
    call = _start(session)
    call_service.advance(session=session, call=call, step="district", data={"page": 1}, now=NOW)
    assert (call.step, call.turn, call.data) == ("district", 1, {"page": 1})


def test_the_end_abandons_only_an_unsettled_call(session: Session) -> None:
    open_call = _start(session, "CA" + "1" * 32)
    call_service.advance(session=session, call=open_call, step="fee", data={})
    ended = call_service.end(session=session, call_sid=open_call.call_sid, duration_s=30, now=NOW)
    assert ended is not None and ended.status is CallStatus.ABANDONED
    assert ended.ended_step == "fee" and ended.duration_s == 30
    booked = _start(session, "CA" + "2" * 32)
    call_service.settle(session=session, call=booked, status=CallStatus.BOOKED)
    assert call_service.end(session=session, call_sid=booked.call_sid) is not None
    assert booked.status is CallStatus.BOOKED
    assert call_service.end(session=session, call_sid="CA-never-seen") is None
    with pytest.raises(InvalidTransition):
        call_service.settle(session=session, call=booked, status=CallStatus.ABANDONED)


def test_answers_are_stored_by_call_step_turn_and_input(session: Session) -> None:
    sid = "CA" + "3" * 32
    call_service.store_answer(
        session=session, call_sid=sid, step="answer/fee", turn=7, input_hash="h1", answer="<R/>"
    )
    found = call_service.stored_answer(
        session=session, call_sid=sid, step="answer/fee", turn=7, input_hash="h1"
    )
    assert found == "<R/>"
    assert (
        call_service.stored_answer(
            session=session, call_sid=sid, step="answer/fee", turn=8, input_hash="h1"
        )
        is None
    )
    with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
        call_service.store_answer(
            session=session, call_sid=sid, step="answer/fee", turn=7, input_hash="h1", answer="x"
        )


def test_one_callback_per_call(session: Session) -> None:
    call = _start(session, "CA" + "4" * 32)
    first = call_service.request_callback(
        session=session, call=call, phone=call.from_number, reason=CallbackReason.LONG_WAIT
    )
    second = call_service.request_callback(
        session=session, call=call, phone=call.from_number, reason=CallbackReason.NO_WINDOW
    )
    assert second.id == first.id and call.status is CallStatus.CALLBACK
    assert first in callback_queue.open_callbacks(session=session, state_code="JK")
    assert first.id is not None
    done = callback_queue.close_callback(session=session, callback_id=first.id, actor="agent-7")
    assert done.done_by == "agent-7"
    assert first not in callback_queue.open_callbacks(session=session, state_code="JK")


def test_the_wait_is_the_mean_of_the_recent_observations(session: Session) -> None:
    queue = "q-test-wait"
    assert call_service.estimated_wait_seconds(session=session, queue=queue, now=NOW) == 0
    for minutes_ago, waited in ((50, 900), (20, 100), (10, 200), (1, 300)):
        call_service.record_queue_wait(
            session=session,
            queue=queue,
            waited_s=waited,
            result="bridged",
            now=NOW - dt.timedelta(minutes=minutes_ago),
        )
    assert call_service.estimated_wait_seconds(session=session, queue=queue, now=NOW) == 200


def test_a_call_opened_meanwhile_by_another_delivery_is_returned(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two deliveries of the first webhook race: the loser gets the winner's session."""
    sid = "CA" + "5" * 32
    winner = _start(session, sid)
    original_find = call_service.find
    looks = {"n": 0}

    def find_misses_once(*, session: Session, call_sid: str) -> CallSession | None:
        looks["n"] += 1  # the first look happens before the other delivery's insert
        return None if looks["n"] == 1 else original_find(session=session, call_sid=call_sid)

    monkeypatch.setattr(call_service, "find", find_misses_once)
    assert _start(session, sid).id == winner.id


def test_old_answers_can_be_forgotten(session: Session) -> None:
    sid = "CA" + "6" * 32
    for turn, age in ((1, dt.timedelta(days=3)), (2, dt.timedelta(minutes=5))):
        call_service.store_answer(
            session=session,
            call_sid=sid,
            step="ask/x",
            turn=turn,
            input_hash="h",
            answer="<Response/>",
            now=NOW - age,
        )
    deleted = call_service.forget_answers(session=session, before=NOW - dt.timedelta(days=1))
    assert deleted >= 1
    assert (
        call_service.stored_answer(
            session=session, call_sid=sid, step="ask/x", turn=1, input_hash="h"
        )
        is None
    )
    assert (
        call_service.stored_answer(
            session=session, call_sid=sid, step="ask/x", turn=2, input_hash="h"
        )
        == "<Response/>"
    )
