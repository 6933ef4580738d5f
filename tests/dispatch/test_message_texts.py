"""The SMS texts are data (`seed_data/messages/`): every language gives every message with the
same placeholders, values are put into words per language, and a language without texts
falls back to Hindi."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from dispatch.config import REPO_ROOT
from dispatch.errors import InvalidInput
from dispatch.notifications import texts

IST = ZoneInfo("Asia/Kolkata")
TEXTS = texts.load(REPO_ROOT / "seed_data" / "messages")


def test_every_language_has_every_message_with_the_same_placeholders() -> None:
    assert set(TEXTS.by_language) == {"en", "hi", "ur"}
    english = TEXTS.by_language["en"]
    for language, words in TEXTS.by_language.items():
        assert set(words) == texts.KEYS, language
        for key in texts.KEYS:
            assert texts.placeholders(words[key]) == texts.placeholders(english[key]), key


def test_the_booking_message_carries_the_visit_code_in_every_language() -> None:
    for language in TEXTS.by_language:
        assert "{code}" in TEXTS.by_language[language]["booked"]
        assert "{code}" in TEXTS.by_language[language]["logged"]


def test_money_windows_and_lists_in_words() -> None:
    assert texts.rupees(5000) == "₹50" and texts.rupees(5050) == "₹50.50"
    start = dt.datetime(2030, 6, 3, 9, tzinfo=IST)
    end = start + dt.timedelta(hours=2)
    assert TEXTS.window(start, end, "en", "Asia/Kolkata") == "Monday 3 June 09:00-11:00"
    assert TEXTS.window(start, end, "hi", "Asia/Kolkata") == "सोमवार, 3 जून 09:00-11:00"
    assert TEXTS.listing(["Aadhaar", "photo", "form"], "en") == "Aadhaar, photo and form"
    assert TEXTS.listing([], "hi") == "कोई नहीं"


def test_a_language_without_texts_falls_back_to_hindi() -> None:
    assert TEXTS.language("ks") == "hi" and TEXTS.language("ur") == "ur"
    with pytest.raises(InvalidInput):
        TEXTS.text("no_such_message", "en")
