"""`bench.journeys`: the scripted callers reach their goals of issue #16 on the seeded line
(a Monday morning), every key they press was offered where the cost model looks for it, and
the model itself counts what it says it counts."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from bench import journeys
from dispatch.config import Settings
from dispatch.planning import service as planning_service
from ivr.deps import get_clock
from tests.conftest import build_app

IST = ZoneInfo("Asia/Kolkata")
#: 07:30 on Tuesday 9 July 2030, a day no other test books on.
TUESDAY_MORNING = dt.datetime(2030, 7, 9, 7, 30, tzinfo=IST)


class Clock:
    def now(self) -> dt.datetime:
        return TUESDAY_MORNING.astimezone(dt.UTC)


@pytest.fixture(scope="module")
def tallies(engine: Engine) -> list[journeys.Tally]:
    """The journeys, walked once per engine for the tests below."""
    settings = Settings(
        database_url="sqlite://",
        public_base_url="https://1447.example.gov.in",
        twilio_auth_token="test-auth-token",
        scheduler=False,
    )
    planning_service.clear_cache()
    app = build_app(settings, engine)
    app.dependency_overrides[get_clock] = Clock
    with TestClient(app) as client:
        walked = journeys.walk(journeys.poster(client, settings), settings, engine)
    planning_service.clear_cache()
    return walked


def test_every_caller_reaches_the_goal_of_the_issue(tallies: list[journeys.Tally]) -> None:
    by_name = {t.journey: t for t in tallies}
    assert set(journeys.GOALS) <= set(by_name)
    for name, goal in journeys.GOALS.items():
        tally = by_name[name]
        assert tally.answers <= goal.answers, (name, tally.answers)
        assert tally.seconds <= goal.seconds, (name, tally.seconds, tally.turns)
    english = by_name["first-time, English"]
    assert english.outcome.startswith("booked JK-")
    assert by_name["returning, reschedule"].outcome == f"moved {english.outcome.split()[1]}"
    assert by_name["returning, hear status"].outcome.startswith("informed")
    assert by_name["first-time, mistypes twice"].outcome.startswith("booked JK-")


def test_every_key_pressed_was_offered_where_the_model_listens_for_it(
    tallies: list[journeys.Tally],
) -> None:
    """A key whose offer the model cannot find would count the whole prompt as heard: the
    estimate would still be honest, but the prompts would have drifted from the model."""
    assert [t.options_missed for t in tallies] == [0] * len(tallies)
    mistyping = next(t for t in tallies if t.journey == "first-time, mistypes twice")
    steps = [turn["step"] for turn in mistyping.turns]
    assert steps.count("main_menu") == 2 and steps.count("pincode") == 2  # asked again


def test_the_first_time_callers_give_the_place_by_pin_code_and_book_on_the_offer(
    tallies: list[journeys.Tally],
) -> None:
    for tally in tallies[:2]:
        steps = [turn["step"] for turn in tally.turns]
        assert steps == [
            "language",
            "main_menu",
            "service_menu",
            "service_heard",
            "pincode",
            "pin_village",
            "landmark",
            "offer",
            "confirmation",
        ]
    hindi = tallies[1]
    heard = " ".join(turn["heard"] for turn in hindi.turns)
    assert "सुचेतगढ़" in heard and "Suchetgarh" not in heard  # places in the caller's script


def test_the_listening_model() -> None:
    """Menu keys stop after their offer; speech and hang-ups stop before the first option;
    words outside a <Gather> are heard in full."""
    say = {"verb": "say", "language": "en-IN"}
    verbs = [
        {**say, "text": "Sorry."},
        {
            "verb": "gather",
            "children": [
                {**say, "text": "Which one? For one, press 1. For two, press 2."},
                {"verb": "pause", "length": "2"},
            ],
        },
    ]
    per_word = 60 / journeys.WPM["en-IN"]
    assert journeys.listening_s(verbs, key="1") == (pytest.approx(7 * per_word), True)
    assert journeys.listening_s(verbs, key=None) == (pytest.approx(3 * per_word), True)
    assert journeys.listening_s(verbs, key="5") == (pytest.approx(11 * per_word + 2), False)
    assert journeys.every_word_s(verbs) == pytest.approx(11 * per_word + 2)
