"""India's DLT templates are data (`seed_data/messages/dlt.csv`): every whole message of every
language has a registered template, and every message, rendered with the longest values the
seed data can put into it, still matches its template (literal words exactly; `{#var#}` any
text of at most 30 characters). A new message key needs only its rows in dlt.csv (or, if it
is a piece of other messages, a place in `texts.FRAGMENTS`)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from dispatch.catalogue.models import Service
from dispatch.config import REPO_ROOT
from dispatch.notifications import dlt, segments, texts
from dispatch.requests import rules as request_rules
from dispatch.states.models import State

FOLDER = REPO_ROOT / "seed_data" / "messages"
TEXTS = texts.load(FOLDER)
REGISTERED = dlt.load(FOLDER)
IST = ZoneInfo("Asia/Kolkata")
#: A value for a placeholder the seed data cannot size (a count, a time, a name).
ANY_VALUE = "Sample value 12"
#: Values that do not come from the seed data, as long as they get.
SAMPLES: dict[str, str] = {
    "reference": request_rules.make_reference("JK", 2026, 999_999),
    "total": "₹12,345.50",
    "fee": "₹12,345.50",
    "amount": "₹12,345.50",
    "code": "48219307",
    "time": "10:30",
    "count": "12",
    "n": "12",
    "line": "1447",
    "phone": "+917000010001",
    "agent_phone": "+917000010001",
}


def _whole_messages() -> list[tuple[str, str]]:
    return [
        (language, key)
        for language, words in sorted(TEXTS.by_language.items())
        for key in sorted(words)
        if key not in texts.FRAGMENTS
    ]


def test_every_whole_message_has_a_registered_template() -> None:
    missing = [f"{key}/{lang}" for lang, key in _whole_messages() if not REGISTERED.get(key, lang)]
    assert not missing, (
        f"no row in seed_data/messages/dlt.csv for {missing} (a piece of other messages belongs "
        "in texts.FRAGMENTS instead)"
    )


def test_every_registration_is_of_a_whole_message_with_its_own_id() -> None:
    known = set(_whole_messages())
    stale = [f"{r.key}/{r.language}" for r in REGISTERED.rows if (r.language, r.key) not in known]
    assert not stale, f"dlt.csv rows for no whole message: {stale}"
    ids = [r.template_id for r in REGISTERED.rows]
    assert len(ids) == len(set(ids)), "a DLT template ID is given twice"
    for row in REGISTERED.rows:
        assert "{#var#}" in row.template or "{" not in row.template, row
        leftover = re.sub(re.escape(dlt.VARIABLE), "", row.template)
        assert not re.search(r"\{\w*\}", leftover), f"{row.key}/{row.language}: {leftover!r}"


def _longest_window(language: str) -> str:
    """The longest "weekday day month HH:MM-HH:MM" the language writes."""
    start = dt.datetime(2030, 1, 1, 10, tzinfo=IST)
    windows = []
    for offset in range(0, 366):  # every weekday of every month, two-digit days included
        day = start + dt.timedelta(days=offset)
        windows.append(TEXTS.window(day, day + dt.timedelta(hours=2), language, "Asia/Kolkata"))
    return max(windows, key=len)


def _longest_values(session: Session, language: str) -> dict[str, str]:
    """The longest value the seed data gives each placeholder it sizes, in `language`."""
    services = list(session.exec(select(Service)))
    states = list(session.exec(select(State)))
    return {
        **SAMPLES,
        "service_name": max((s.service_name for s in states), key=len),
        "service": max((s.name_in(language) for s in services), key=len),
        "documents": max(
            (TEXTS.listing(s.documents_in(language), language) for s in services), key=len
        ),
        "window": _longest_window(language),
        "date": _longest_window(language).rsplit(" ", 1)[0],
    }


class Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ANY_VALUE


@pytest.mark.parametrize(("language", "key"), _whole_messages())
def test_the_rendered_message_matches_its_registered_template(
    session: Session, language: str, key: str
) -> None:
    registration = REGISTERED.get(key, language)
    if registration is None:
        pytest.fail(f"no DLT template for {key}/{language} in seed_data/messages/dlt.csv")
    values = Values(_longest_values(session, language))
    text = TEXTS.by_language[language][key].format_map(values)
    assert registration.admits(text), (
        f"{key}/{language} rendered as {text!r} does not match its DLT template "
        f"{registration.template!r}: a value longer than 30 characters needs more {{#var#}}"
    )


def test_a_template_admits_only_its_own_words_and_short_variables() -> None:
    registration = dlt.Registration("k", "en", "1", "Visit {#var#} at {#var#}.")
    assert registration.admits("Visit JK-26-000123-7 at 10:30.")
    assert registration.admits("Visit  at .")  # a variable may be empty
    assert not registration.admits("Visit JK-26-000123-7 at 10:30")  # the full stop is missing
    assert not registration.admits("Visit " + "x" * 31 + " at 10:30.")
    assert dlt.Registration("k", "en", "1", "{#var#}{#var#}.").admits("y" * 60 + ".")
    assert not dlt.Registration("k", "en", "1", "a.b").admits("axb")  # literal, not a pattern


@pytest.mark.parametrize("key", sorted(k for lang, k in _whole_messages() if lang == "en"))
def test_english_messages_go_as_gsm7(session: Session, key: str) -> None:
    """An English SMS is written in GSM-7 (a third of the cost of Unicode): its rupee sign is
    "Rs", and no stray typographic character turns the whole message into UCS-2."""
    values = Values(_longest_values(session, "en"))
    values.update({k: v.replace("₹", "Rs ") for k, v in values.items()})
    text = TEXTS.by_language["en"][key].format_map(values)
    assert segments.is_gsm(text), [ch for ch in text if not segments.is_gsm(ch)]


def test_money_is_written_in_each_languages_way() -> None:
    assert TEXTS.money(5000, "en") == "Rs 50" and TEXTS.money(5050, "en") == "Rs 50.50"
    assert TEXTS.money(5000, "hi") == "₹50"
