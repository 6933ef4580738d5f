"""The limits on guessing hold across calls, not only within one: wrong visit codes keyed on the
phone line are counted per caller ID in the database, so a guesser who hangs up after each
call's three tries and calls again is refused once the caller ID has used up its tries, even
the right reference and code; another caller ID is not held up. (The agent's codes across
separate day-page posts: `tests/web/test_agent_day.py`; the API's per phone and per client:
`tests/api/test_api.py`; the console's sign-in per address and username: `test_signin.py`.)"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from dispatch.config import Settings
from dispatch.db import read_session
from dispatch.visits import proof as visit_proof
from tests.conftest import unique_phone
from tests.ivr.caller import heard, phone
from tests.ivr.conftest import FixedClock
from tests.ivr.test_lookup import key, logged

TOLD = "it is logged, and a visit time is still to be fixed"


def _guess(app: FastAPI, caller: str, reference: str, codes: list[str]) -> list[str]:
    """One call: the request menu, the reference, then each code in turn; what was heard."""
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("2")
    said = []
    for code in codes:
        call.press(reference)
        if call.gather is None or "/visit_code" not in str(call.gather["action"]):
            said.append(heard(call))  # refused before any code was asked
            break
        call.press(code)
        said.append(heard(call))
        if call.gather is None:  # put through to a person
            break
    return said


def test_wrong_codes_over_several_calls_lock_the_caller_id(
    app: FastAPI, engine: Engine, settings: Settings, clock: FixedClock
) -> None:
    request, _owner = logged(engine)
    right = request.visit_code or ""
    wrong = "0000" if right != "0000" else "1111"
    guesser = unique_phone()
    calls = 0
    while True:
        with read_session(engine) as session:
            failures = visit_proof.recent_failures(
                session=session, settings=settings, caller=guesser, now=clock.now()
            )
        if failures >= settings.proof_failures_allowed:
            break
        _guess(app, guesser, key(request.reference), [wrong] * 3)
        calls += 1
        assert calls <= settings.proof_failures_allowed  # each call counts at least one
    assert calls >= 2  # one call alone could not get there: the count outlived the call
    locked = _guess(app, guesser, key(request.reference), [right])
    assert TOLD not in " ".join(locked)
    assert "too many" in " ".join(locked).lower()
    # another caller ID with the code still gets in
    other = _guess(app, unique_phone(), key(request.reference), [right])
    assert TOLD in other[0]
