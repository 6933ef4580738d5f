"""Prompt keys live in code, their words in seed_data/prompts/<lang>.csv: every key used has
words in every text-to-speech language, with the same placeholders, and no file holds a key
the code does not know."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dispatch.config import REPO_ROOT
from ivr import languages
from ivr.prompts import P, Prompts, PromptsMissing, Spoken, placeholders, read_file
from ivr.twiml import Play, Say

PROMPTS = REPO_ROOT / "seed_data" / "prompts"
IVR = REPO_ROOT / "ivr"
#: Keys built from a number at run time (digit words, weekdays, months).
NUMBERED = re.compile(r"^(digit|weekday|month)_\d+$")


def test_the_tts_languages_are_hindi_english_and_urdu() -> None:
    assert languages.TTS_LANGUAGES == ("hi", "en", "ur")


@pytest.mark.parametrize("language", languages.TTS_LANGUAGES)
def test_every_key_has_words_with_the_same_placeholders(language: str) -> None:
    words = read_file(PROMPTS / f"{language}.csv")
    reference = read_file(PROMPTS / "en.csv")
    missing = [k.value for k in P if not words.get(k.value, "").strip()]
    assert missing == [], f"{language}.csv lacks words for {missing}"
    unknown = sorted(set(words) - {k.value for k in P})
    assert unknown == [], f"{language}.csv has keys the code does not use: {unknown}"
    for key in P:
        assert sorted(placeholders(words[key.value])) == sorted(
            placeholders(reference[key.value])
        ), f"{language}.csv {key.value}: placeholders differ from en.csv"


def test_every_key_is_used_in_the_code() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in IVR.rglob("*.py"))
    unused = [k.name for k in P if f"P.{k.name}" not in source and not NUMBERED.match(k.value)]
    assert unused == []


def test_hindi_prompts_are_in_devanagari_and_urdu_in_arabic_script() -> None:
    hindi = read_file(PROMPTS / "hi.csv")
    urdu = read_file(PROMPTS / "ur.csv")
    assert re.search(r"[\u0900-\u097F]", hindi[P.MAIN_MENU.value])
    assert re.search(r"[\u0600-\u06FF]", urdu[P.MAIN_MENU.value])
    assert not re.search(r"[\u0900-\u097F]", " ".join(urdu.values()))


def test_values_in_another_language_get_their_own_voice() -> None:
    prompts = Prompts(PROMPTS)
    said = prompts.say(P.SERVICE_CHOSEN, "ur", service=Spoken("आय प्रमाण पत्र", "hi"))
    assert [(s.language, s.text) for s in said if isinstance(s, Say)] == [
        ("ur-IN", "آپ نے چنا ہے:"),
        ("hi-IN", "आय प्रमाण पत्र"),
    ]


def test_a_recorded_language_plays_the_key_then_the_values_in_hindi(tmp_path: Path) -> None:
    prompts = Prompts(PROMPTS, audio_base_url="https://cdn.example.in/prompts/")
    said = prompts.say(P.OPTION, "ks", name="Anantnag", digit=1)
    assert said == [
        Play("https://cdn.example.in/prompts/ks/option.mp3"),
        Say("Anantnag", "hi-IN", "Polly.Aditi"),
        Say("1", "hi-IN", "Polly.Aditi"),
    ]


def test_a_prompt_row_with_a_comma_outside_quotes_is_refused(tmp_path: Path) -> None:
    """Its words would be cut at the comma without anyone noticing."""
    path = tmp_path / "en.csv"
    path.write_text("key,text\nbook_option,To book, press 1.\n", encoding="utf-8")
    with pytest.raises(PromptsMissing, match=r"en.csv:2: more than two fields"):
        read_file(path)
