"""Values as spoken: references digit by digit, rupees from paise, windows in local time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from dispatch.config import REPO_ROOT
from ivr.prompts import Prompts
from ivr.speech import Speech

IST = ZoneInfo("Asia/Kolkata")
PROMPTS = Prompts(REPO_ROOT / "seed_data" / "prompts")
NOW = dt.datetime(2030, 6, 3, 7, 30, tzinfo=IST)


def speech(language: str) -> Speech:
    return Speech(PROMPTS, language, "Asia/Kolkata")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2030, 6, day, hour, minute, tzinfo=IST).astimezone(dt.UTC)


def test_reference_digits_one_word_each() -> None:
    assert speech("en").digits("300012") == "three, zero, zero, zero, one, two"
    assert speech("hi").digits("907") == "नौ, शून्य, सात"
    assert speech("ur").digits("12") == "ایک, دو"


@pytest.mark.parametrize(
    ("language", "paise", "words"),
    [
        ("en", 5000, "50 rupees"),
        ("en", 7550, "75 rupees 50 paise"),
        ("hi", 12000, "120 रुपये"),
        ("ur", 5005, "50 روپے 5 پیسے"),
    ],
)
def test_money_in_rupees_from_paise(language: str, paise: int, words: str) -> None:
    assert speech(language).money(paise) == words


def test_windows_in_local_time_with_today_and_tomorrow() -> None:
    """Today and tomorrow are said as just that (no weekday or date); other days by date."""
    en, hi = speech("en"), speech("hi")
    assert en.window(at(3, 9), at(3, 11), now=NOW) == "today, between 9 and 11 in the morning"
    assert en.window(at(4, 9), at(4, 11), now=NOW) == ("tomorrow, between 9 and 11 in the morning")
    assert en.window(at(6, 9), at(6, 11), now=NOW) == (
        "on Thursday 6 June, between 9 and 11 in the morning"
    )
    assert en.window_short(at(4, 11), at(4, 13), now=NOW) == (
        "tomorrow, 11 in the morning to 1 in the afternoon"
    )
    assert en.window_short(at(5, 12), at(5, 14, 30), now=NOW) == (
        "Wednesday 5 June, 12 noon to 2 30 in the afternoon"
    )
    assert hi.window(at(3, 9), at(3, 11), now=NOW) == "आज सुबह 9 बजे से 11 बजे के बीच"
    assert hi.window(at(5, 15), at(5, 17), now=NOW) == (
        "बुधवार, 5 जून को दोपहर 3 बजे से शाम 5 बजे के बीच"
    )
    assert hi.window_short(at(3, 9), at(3, 11), now=NOW) == "आज, सुबह 9 बजे से 11 बजे तक"
    assert hi.window_short(at(4, 9), at(4, 11), now=NOW) == "कल, सुबह 9 बजे से 11 बजे तक"
    assert hi.clock(at(5, 9, 30)) == "सुबह 9 बजकर 30 मिनट"


def test_lists_with_and() -> None:
    assert speech("en").listing(["Aadhaar", "ration card", "photo"]) == (
        "Aadhaar, ration card and photo"
    )
    assert speech("hi").listing(["आधार"]) == "आधार"
