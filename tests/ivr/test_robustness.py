"""Every way a call can go wrong still gets valid TwiML and never a dead end: silence and wrong
keys, forged signatures, retried webhooks, hang-ups midway, failures inside, no window, a window
taken meanwhile, a long wait for a person; and random walks of callers of every kind through
every step of the call."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from dispatch.calls import service as call_service
from dispatch.calls.models import Callback, CallbackReason, CallSession, CallStatus
from dispatch.catalogue.models import Service
from dispatch.citizens import service as citizen_service
from dispatch.config import REPO_ROOT
from dispatch.db import read_session, write_session
from dispatch.ledger.models import LedgerEntry
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowTaken
from dispatch.requests import rules as request_rules
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from dispatch.visits import service as visits
from ivr import signature
from ivr.languages import TTS_LANGUAGES
from ivr.prompts import P, read_file
from ivr.standin import Call, signed_headers, twilio_params
from tests import factories
from tests.conftest import unique_phone
from tests.ivr.caller import Line, heard, phone
from tests.ivr.conftest import FixedClock


def session_of(engine: Engine, call: Call) -> CallSession:
    with read_session(engine) as session:
        return session.exec(select(CallSession).where(CallSession.call_sid == call.call_sid)).one()


def requests_of(engine: Engine, phone_number: str) -> list[DoorstepRequest]:
    with read_session(engine) as session:
        citizen = citizen_service.find_by_phone(
            session=session, state_code="JK", phone=phone_number
        )
        if citizen is None:
            return []
        stmt = select(DoorstepRequest).where(DoorstepRequest.citizen_id == citizen.id)
        return list(session.exec(stmt))


def to_offer(call: Call) -> None:
    """Dial and walk a new caller to the offer of the earliest window with the fee: English, a
    doorstep visit, the second service, Achabal's PIN code (its only village, in Anantnag),
    that village, no landmark."""
    call.dial()
    for key in ("2", "1", "2", "192201", "1", "1"):
        call.press(key)
    assert "/answer/offer" in str(call.gather and call.gather["action"])


# --- silence and wrong keys -------------------------------------------------------------------


def test_silence_is_reprompted_twice_then_a_person(app: FastAPI, caller: str) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.silence()
    assert heard(call).startswith("Sorry, I did not hear anything.")
    assert "For a doorstep visit, press 1" in heard(call)
    call.silence()
    assert heard(call).startswith("Sorry, I did not hear anything.")
    call.silence()
    assert "Let me put you through to a person." in heard(call)
    enqueue = next(v for v in call.verbs if v["verb"] == "enqueue")
    assert call.queued and enqueue["text"] == app.state.settings.call_agent_queue


def test_a_wrong_key_is_named_and_the_menu_repeated(app: FastAPI, caller: str) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("7")
    assert heard(call).startswith("माफ़ कीजिए, यह विकल्प नहीं है।")
    assert "हिंदी के लिए 1 दबाएँ" in heard(call)
    call.press("2")  # a good answer clears the count
    call.press("5")
    call.press("5")
    assert "Sorry, that is not one of the choices." in heard(call)
    assert call.gather is not None  # still asking: the count started again


def test_zero_puts_the_caller_through_to_the_queue(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("0")
    assert "Connecting you to a person" in heard(call) and call.queued
    enqueue = next(v for v in call.verbs if v["verb"] == "enqueue")
    assert enqueue["waitUrl"].endswith("/ivr/voice/queue/wait")
    assert "You are number 1 in the queue" in heard(call)
    assert session_of(engine, call).status is CallStatus.TRANSFERRED
    call.post(
        str(enqueue["action"]),
        twilio_params(
            call.settings,
            call_sid=call.call_sid,
            caller=caller,
            called="1447",
            QueueResult="bridged",
            QueueTime="42",
        ),
    )
    call.hangup()
    assert session_of(engine, call).status is CallStatus.TRANSFERRED


def test_a_long_wait_offers_a_call_back_instead(
    app: FastAPI, engine: Engine, caller: str, clock: FixedClock
) -> None:
    queue = app.state.settings.call_agent_queue
    with write_session(engine) as session:
        for waited in (400, 500, 600):
            call_service.record_queue_wait(
                session=session,
                queue=queue,
                waited_s=waited,
                result="bridged",
                now=clock.now() - dt.timedelta(minutes=5),
            )
        call_service.record_queue_wait(  # too old to count
            session=session,
            queue=queue,
            waited_s=5,
            result="bridged",
            now=clock.now() - dt.timedelta(hours=2),
        )
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("0")
    assert "The wait for a person is about 9 minutes" in heard(call)
    call.press("1")
    assert "call you back on this number" in heard(call) and call.ended
    with read_session(engine) as session:
        callback = session.exec(select(Callback).where(Callback.call_sid == call.call_sid)).one()
    assert callback.reason is CallbackReason.LONG_WAIT and callback.phone == caller
    assert session_of(engine, call).status is CallStatus.CALLBACK


# --- signatures -------------------------------------------------------------------------------


def _post(app: FastAPI, headers: dict[str, str], params: dict[str, str]) -> Any:
    return TestClient(app).post("/ivr/voice/incoming", data=params, headers=headers)


def test_a_forged_or_missing_signature_is_refused(app: FastAPI, caller: str) -> None:
    settings = app.state.settings
    params = twilio_params(settings, call_sid="CA" + "1" * 32, caller=caller, called="1447")
    url = settings.public_base_url + "/ivr/voice/incoming"
    forged = signature.sign(auth_token="not-the-token", url=url, params=params)
    assert _post(app, {signature.HEADER: forged}, params).status_code == 403
    assert _post(app, {}, params).status_code == 403
    # Signed for the URL the app sees rather than the public one: refused too.
    seen = signed_headers(settings, "http://testserver/ivr/voice/incoming", params)
    assert _post(app, seen, params).status_code == 403
    # Parameters changed after signing.
    good = signed_headers(settings, url, params)
    assert _post(app, good, params | {"From": "+919999999999"}).status_code == 403
    assert _post(app, good, params).status_code == 200


# --- retries and hang-ups -------------------------------------------------------------------


def test_a_retried_webhook_gets_the_same_answer_and_books_once(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller=caller)
    to_offer(call)
    assert call.gather is not None
    book_url = str(call.gather["action"])  # the offer: 1 books the earliest window at once
    params = twilio_params(
        call.settings, call_sid=call.call_sid, caller=caller, called="1447", Digits="1"
    )
    first = call.post(book_url, params)
    second = call.post(book_url, params)  # Twilio retries: same CallSid, step, input
    assert first == second and "Your visit is booked" in first
    [request] = requests_of(engine, caller)
    assert (request.idempotency_key or "").startswith(f"ivr:{call.call_sid}:offer:")
    with read_session(engine) as session:
        charges = session.exec(
            select(func.count()).where(col(LedgerEntry.request_id) == request.id)
        ).one()
        messages = session.exec(
            select(func.count()).where(col(OutboxMessage.request_id) == request.id)
        ).one()
    assert (charges, messages) == (1, 1)


def test_a_hang_up_midway_logs_where_it_ended_and_books_nothing(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller=caller)
    call.dial()
    for key in ("2", "1", "2", "192201"):
        call.press(key)  # English, new request, income certificate, Achabal's PIN code
    call.hangup(duration_s=48)
    ended = session_of(engine, call)
    assert ended.status is CallStatus.ABANDONED and ended.ended_step == "pin_village"
    assert ended.duration_s == 48 and ended.request_id is None
    assert requests_of(engine, caller) == []
    call.hangup()  # the status callback again: nothing changes
    assert session_of(engine, call).ended_at == ended.ended_at


def test_a_status_callback_for_an_unknown_call_is_answered(app: FastAPI, caller: str) -> None:
    call = phone(app, caller=caller)
    call.hangup()  # never dialled: nothing to end, still a 200 with TwiML


# --- failures inside --------------------------------------------------------------------------


def test_a_failure_inside_apologises_asks_again_then_a_person(
    app: FastAPI, engine: Engine, caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: object) -> list[planning_service.WindowOffer]:
        raise RuntimeError("the plan store is down")

    call = phone(app, caller=caller)
    call.dial()
    for key in ("2", "1", "2", "192201", "1"):
        call.press(key)
    monkeypatch.setattr(planning_service, "offer_windows", broken)
    call.press("1")  # no landmark: the window offer fails
    said = heard(call)
    assert said.startswith("Sorry, something went wrong on our side. Let us try again.")
    # The apology redirected to ask the landmark again (where the call stood).
    assert any(v["verb"] == "redirect" for v in call.verbs)
    assert "Say a landmark near your home" in said
    call.press("1")
    call.press("1")  # failing again: now a person
    assert "Let me put you through to a person." in heard(call) and call.queued
    assert requests_of(engine, caller) == []


def test_no_window_in_the_horizon_records_a_call_back(
    app: FastAPI, engine: Engine, caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planning_service, "offer_windows", lambda **_: [])
    call = phone(app, caller=caller)
    call.dial()
    for key in ("2", "1", "2", "192201", "1", "1"):
        call.press(key)
    assert "no agent is free in the next 3 days" in heard(call)
    assert "call you back" in heard(call) and call.ended
    with read_session(engine) as session:
        callback = session.exec(select(Callback).where(Callback.call_sid == call.call_sid)).one()
    assert callback.reason is CallbackReason.NO_WINDOW
    assert callback.service_id is not None and callback.address_id is not None
    assert requests_of(engine, caller) == []


def test_a_window_taken_meanwhile_charges_nothing_and_offers_again(
    app: FastAPI, engine: Engine, caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_book = planning_service.book
    taken = {"times": 0}

    def book_once_taken(**kwargs: Any) -> DoorstepRequest:
        if taken["times"] == 0:
            taken["times"] += 1
            raise WindowTaken("JK-30-000000-0", dt.datetime.now(dt.UTC))
        return real_book(**kwargs)

    monkeypatch.setattr(planning_service, "book", book_once_taken)
    call = phone(app, caller=caller)
    to_offer(call)
    call.press("1")  # book the earliest window: taken meanwhile
    said = heard(call)
    assert said.startswith("Sorry, that time was just taken.")
    assert "The earliest visit is" in said and "To book this visit, press 1" in said
    assert "/answer/offer" in str(call.gather and call.gather["action"])  # offered again
    assert requests_of(engine, caller) == []  # the logged request and its charge rolled back
    call.press("2")  # other times
    assert "The agent can also come at these times" in heard(call)
    call.press("1")
    assert "Your visit is booked" in heard(call)
    [request] = requests_of(engine, caller)
    assert (request.idempotency_key or "").startswith(f"ivr:{call.call_sid}:windows:")


def test_a_caller_without_caller_id_keys_in_a_mobile_number(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller="anonymous")
    call.dial()
    for key in ("2", "1", "2"):
        call.press(key)
    assert "We cannot see your phone number" in heard(call)
    call.press("12345")
    assert "That mobile number does not look right" in heard(call)
    call.press(caller[3:])  # the ten digits
    assert "Key in the 6-digit PIN code of your area" in heard(call)
    for key in ("192201", "1", "1"):
        call.press(key)  # Achabal's PIN code, that village, no landmark
    call.press("1")  # book the earliest window
    assert "Your visit is booked" in heard(call)
    [request] = requests_of(engine, caller)
    with read_session(engine) as session:
        [sms] = session.exec(
            select(OutboxMessage).where(OutboxMessage.request_id == request.id)
        ).all()
    assert sms.to == caller


def test_a_queue_that_cannot_take_the_call_leads_to_a_call_back(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("0")
    enqueue = next(v for v in call.verbs if v["verb"] == "enqueue")
    params = twilio_params(
        call.settings,
        call_sid=call.call_sid,
        caller=caller,
        called="1447",
        QueueResult="queue-full",
        QueueTime="0",
    )
    answer = call.post(str(enqueue["action"]), params)
    assert "no one is free to take your call" in answer and "call you back" in answer
    assert answer.rstrip().endswith("<Hangup /></Response>")
    with read_session(engine) as session:
        callback = session.exec(select(Callback).where(Callback.call_sid == call.call_sid)).one()
    assert callback.reason is CallbackReason.NO_AGENT


def test_an_unknown_step_or_a_request_without_a_call_still_gets_twiml(
    app: FastAPI, caller: str
) -> None:
    call = phone(app, caller=caller)
    call.dial()
    base = call.settings.public_base_url
    params = twilio_params(call.settings, call_sid=call.call_sid, caller=caller, called="1447")
    answer = call.post(f"{base}/ivr/voice/answer/no-such-step?t=1", params)
    assert "something went wrong" in answer or "कुछ गड़बड़" in answer
    assert "<Redirect" in answer  # back to where the call stood
    no_call = {k: v for k, v in params.items() if k != "CallSid"}
    answer = call.post(f"{base}/ivr/voice/incoming", no_call)
    assert "<Hangup />" in answer


# --- random walks -----------------------------------------------------------------------------

#: Every step a citizen's call can wait at: the random walks must reach each of them.
CITIZEN_STEPS = frozenset(
    {
        "language",
        "main_menu",
        "service_menu",
        "service_heard",
        "phone",
        "address_known",
        "pincode",
        "pin_village",
        "district_heard",
        "district",
        "block",
        "village",
        "village_menu",
        "landmark",
        "offer",
        "windows",
        "confirmation",
        "open_requests",
        "reference",
        "visit_code",
        "change_menu",
        "cancel_confirm",
        "after_status",
        "move_offer",
        "move_windows",
        "person",
    }
)
#: Walks always taken, and the most taken while a step is still unexplored.
MIN_WALKS, MAX_WALKS = 25, 150
TURNS_PER_WALK = 25
#: Share of answers posted twice, as Twilio does when it retries a webhook.
REPLAYED = 0.3
PROMPT_WORDS = {
    lang: read_file(REPO_ROOT / "seed_data" / "prompts" / f"{lang}.csv") for lang in TTS_LANGUAGES
}

Answer = tuple[str, str]  # ("press", digits) | ("say", words) | ("silence", "")
#: At any step, now and then: silence, a key that means nothing, or 0 for a person.
NOISE: list[tuple[float, Answer]] = [
    (0.7, ("silence", "")),
    (0.7, ("press", "*")),
    (0.3, ("press", "0")),
]


@dataclass
class Walker:
    """One caller on a random walk: who they are and what they know (references, codes)."""

    caller: str
    codes: dict[str, str] = field(default_factory=dict)  # a reference's keys -> visit code
    requests: list[int] = field(default_factory=list)  # their requests before the call
    keyed: str = ""  # the reference last keyed in


def _press(*keys: str, weight: int = 1) -> list[tuple[float, Answer]]:
    return [(weight, ("press", k)) for k in keys]


def _say(*words: str, weight: int = 1) -> list[tuple[float, Answer]]:
    return [(weight, ("say", w)) for w in words]


def _answers(step: str, walker: Walker, rng: random.Random) -> list[tuple[float, Answer]]:
    """Plausible answers at `step`, weighted: mostly the choices read out, some mistakes."""
    mine = {
        "language": _press("1", "2", "3", weight=4) + _press("8"),
        "main_menu": _press("1", weight=6) + _press("2", weight=4) + _press("3", "8"),
        "service_menu": _press("1", "2", "3", "9")
        + _say("income certificate", weight=2)
        + _say("domicile certificate", "zzz qqq"),
        "service_heard": _press("1", weight=3) + _press("2", weight=2),
        "phone": [(4, ("press", unique_phone()[3:])), *_press("12345")],
        "address_known": _press("1", "2", weight=3),
        "pincode": _press("192201", weight=3)
        + _press("190003", "181102", weight=2)
        + _press("999999", "12")
        + _say("Srinagar", weight=2)
        + _say(
            "Anantnag", "xyzzy plugh", "one nine zero zero zero three", "I don't know my PIN code"
        )
        + _say("haan"),
        "district_heard": _press("1", weight=3) + _press("2", "5"),
        "pin_village": _press("1", "2", "3", weight=2)
        + _press("9")
        + _say("Rainawari", "Suchetgarh", "nowhere at all"),
        "district": _press("1", "2", "3", "9") + _say("Anantnag", "zzz"),
        "block": _press("1", "2", "9") + _say("Bijbehara", "zzz"),
        "village": _press("192201", "181102", "192101", "111111")
        + _say("Achabal", "Khanabal", "blah"),
        "village_menu": _press("1", "2", "3", "9"),
        "landmark": _press("1", weight=3) + _say("near the big mosque", weight=2) + _press("5"),
        "offer": _press("1", "2", weight=3) + _press("3"),
        "windows": _press("1", "2", "3", weight=2) + _press("4"),
        "confirmation": _press("1") + _press("2", weight=3) + [(1, ("silence", ""))],
        "reference": [(3, ("press", digits)) for digits in walker.codes]
        + _press("".join(rng.choice("0123456789") for _ in range(9)), "12345"),
        "visit_code": _press(walker.codes.get(walker.keyed, "0000"), weight=3) + _press("0000"),
        "open_requests": _press("1", "2", weight=3) + _press("9", "8"),
        "change_menu": _press("1", "2", weight=3) + _press("9", "8"),
        "cancel_confirm": _press("1", "2", weight=2),
        "after_status": [*_press("1", weight=2), (1, ("silence", ""))],
        "move_offer": _press("1", "2", weight=3),
        "move_windows": _press("1", "2", "3", weight=2),
        "person": _press("1", "2"),
    }[step]
    return [*mine, *NOISE]


def _pick(options: list[tuple[float, Answer]], rng: random.Random) -> Answer:
    weights, answers = zip(*options, strict=True)
    return rng.choices(answers, weights=weights)[0]


def _step_of(call: Call) -> str:
    assert call.gather is not None
    return str(call.gather["action"]).split("/answer/")[1].split("?")[0]


def _walker(engine: Engine, clock: FixedClock, kind: int) -> Walker:
    """A new caller, a withheld one, a citizen with one booked visit, one with two open
    requests, one with a stored address and nothing open, or a relative calling from their
    own phone with the reference and code of someone's booking."""
    if kind == 0:
        return Walker(unique_phone())
    if kind == 1:
        return Walker("anonymous")
    with write_session(engine) as session:
        if kind == 5:
            request, _ = factories.booked_request(session, district_code="ANT", now=clock.now())
            keys = request_rules.keypad_digits(request.reference)
            return Walker(unique_phone(), {keys: request.visit_code or ""}, [request.id or 0])
        if kind == 2:
            request, _ = factories.booked_request(session, district_code="ANT", now=clock.now())
            requests = [request]
        elif kind == 3:
            person = factories.citizen(session, district_code="ANT", language="en")
            requests = [_logged(session, person.id or 0, service) for service in (0, 1)]
        else:
            person = factories.citizen(session, district_code="SXR", language="ur")
            return Walker(person.phone)
        owner = citizen_service.get(session=session, citizen_id=requests[0].citizen_id).phone
    codes = {request_rules.keypad_digits(r.reference): r.visit_code or "" for r in requests}
    return Walker(owner, codes, [r.id or 0 for r in requests])


def _logged(session: Session, citizen_id: int, service: int) -> DoorstepRequest:
    """A request of `citizen_id` for the `service`-th most requested service, logged (no
    window yet) at their last address."""
    stmt = select(Service).where(Service.state_code == "JK").order_by(col(Service.popularity))
    chosen = list(session.exec(stmt))[service]
    address = citizen_service.last_address(session=session, citizen_id=citizen_id)
    assert address is not None and address.id is not None and chosen.id is not None
    result = visits.book_visit(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=f"test:{uuid.uuid4().hex}",
        actor="test",
        channel=Channel.CONSOLE,
        state_code="JK",
        citizen_id=citizen_id,
        address_id=address.id,
        service_id=chosen.id,
        offer=None,
    )
    return request_service.get(session=session, request_id=result.request_id)


def _walk(
    app: FastAPI, engine: Engine, walker: Walker, rng: random.Random, visited: set[str]
) -> None:
    """One call of random answers. Every answer is valid TwiML (the line checks it), asks
    again, queues or hangs up (never a dead end), never apologises for a failure inside, and
    a retried webhook gets the very same answer; what the call booked was booked once."""
    settings = app.state.settings
    line = Line(TestClient(app), settings)
    call = Call(post=line.post, settings=settings, caller=walker.caller, called="1447")
    apologies = [words[P.ERROR.value] for words in PROMPT_WORDS.values()]
    trail: list[str] = []  # step: answer, for the message of a failed assertion
    done = dict.fromkeys((P.BOOKED, P.RESCHEDULED, P.CANCELLED), 0)  # as often as heard
    call.dial()
    for _turn in range(TURNS_PER_WALK):
        said = heard(call)
        where = f"{walker.caller} after {trail}: {said!r}"
        assert not any(a in said for a in apologies), f"an apology on a random walk: {where}"
        if call.queued or call.ended:
            assert call.queued or call.verbs[-1]["verb"] == "hangup", f"a dead end: {where}"
            break
        assert call.gather is not None, f"a dead end: {where}"
        step = _step_of(call)
        visited.add(step)
        kind, value = _pick(_answers(step, walker, rng), rng)
        trail.append(f"{step}: {kind} {value}".rstrip())
        if step == "reference" and kind == "press":
            walker.keyed = value
        url, first = str(call.gather["action"]), len(line.answers)
        extra: dict[str, str] = {}
        if kind == "press":
            extra = {"Digits": value}
            call.press(value)
        elif kind == "say":
            extra = {"SpeechResult": value, "Confidence": "0.92"}
            call.say(value)
        else:
            call.silence()
        answered = line.answers[first]
        for key in done:
            done[key] += any(words[key.value] in answered for words in PROMPT_WORDS.values())
        if rng.random() < REPLAYED:  # Twilio retries the webhook: the stored answer, again
            params = twilio_params(
                settings,
                call_sid=call.call_sid,
                caller=walker.caller,
                called="1447",
                Direction="inbound",
                **extra,
            )
            assert call.post(url, params) == answered, f"a retry answered anew: {where}"
    call.hangup()
    # What was heard done was done once, retried webhooks notwithstanding: each booking one
    # request with one confirmation SMS, each move or cancellation one message to the citizen.
    with read_session(engine) as session:
        made = session.exec(
            select(DoorstepRequest.id).where(
                col(DoorstepRequest.idempotency_key).startswith(f"ivr:{call.call_sid}:")
            )
        ).all()
        sent = session.exec(
            select(OutboxMessage.kind).where(
                col(OutboxMessage.request_id).in_([*made, *walker.requests])
            )
        ).all()
    assert len(made) == done[P.BOOKED], f"{walker.caller} after {trail}"
    assert (sent.count("booking"), sent.count("reschedule"), sent.count("cancellation")) == (
        len(made) + len(walker.requests),
        done[P.RESCHEDULED],
        done[P.CANCELLED],
    ), f"{walker.caller} after {trail}"


def test_random_walks_reach_every_step_and_never_a_dead_end(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """Callers of every kind answer at random, right and wrong, by key, speech and silence:
    together they reach every step of a citizen's call, the new ones too (the PIN code and
    its villages, a district heard and confirmed, the offer and other times, the open
    requests, moving a visit)."""
    queue = app.state.settings.call_agent_queue
    with write_session(engine) as session:  # a long wait: 0 offers a call-back first
        for waited in (900, 1000):
            call_service.record_queue_wait(
                session=session, queue=queue, waited_s=waited, result="bridged", now=clock.now()
            )
    rng = random.Random(16)
    visited: set[str] = set()
    walks = 0
    while walks < MIN_WALKS or (CITIZEN_STEPS - visited and walks < MAX_WALKS):
        _walk(app, engine, _walker(engine, clock, walks % 6), rng, visited)
        walks += 1
    assert CITIZEN_STEPS - visited == set(), f"not reached in {walks} walks"
