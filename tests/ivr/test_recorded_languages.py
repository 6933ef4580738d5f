"""Kashmiri and Dogri have no text-to-speech: offered only when recorded prompts are
configured, they play `<base>/<lang>/<key>.mp3`, take keys only, and speak values in Hindi."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from dispatch.config import Settings
from ivr.deps import get_clock
from tests.conftest import build_app
from tests.ivr.caller import phone
from tests.ivr.conftest import FixedClock

AUDIO = "https://cdn.example.gov.in/ivr-prompts"


def _plays(verbs: list[dict[str, object]]) -> list[str]:
    out = []
    for verb in verbs:
        for v in [verb, *verb.get("children", [])]:  # type: ignore[list-item]
            if v["verb"] == "play":
                out.append(str(v["text"]))
    return out


def test_without_recordings_only_tts_languages_are_offered(app: FastAPI, caller: str) -> None:
    call = phone(app, caller=caller)
    call.dial()
    assert _plays(call.verbs) == []
    call.press("4")  # Kashmiri's key: not offered, so a wrong key
    assert "यह विकल्प नहीं है" in " ".join(call.said)


def test_kashmiri_plays_recorded_prompts_and_takes_keys(
    engine: Engine, settings: Settings, clock: FixedClock, caller: str
) -> None:
    app = build_app(settings.model_copy(update={"prompt_audio_base_url": AUDIO + "/"}), engine)
    app.dependency_overrides[get_clock] = lambda: clock
    call = phone(app, caller=caller)
    call.dial()
    assert _plays(call.verbs) == [
        f"{AUDIO}/ks/language_option.mp3",
        f"{AUDIO}/doi/language_option.mp3",
    ]
    call.press("4")
    assert f"{AUDIO}/ks/main_menu.mp3" in _plays(call.verbs)
    call.press("1")
    gather = call.gather
    assert gather is not None and gather["input"] == "dtmf"  # no speech recognition
    assert f"{AUDIO}/ks/option.mp3" in _plays(call.verbs)
    # The service names between the recordings are spoken by the Hindi voice.
    assert "आय प्रमाण पत्र" in call.said
