"""The languages the phone line can speak, with their keys, voices and speech recognition.

Text-to-speech (Twilio `<Say>`):
- Hindi `hi-IN` and English `en-IN` with Amazon Polly's Indian voices (Aditi, Raveena).
- Urdu `ur-IN` with Google's Urdu (India) voice: Polly has no Urdu, Google does. Words for
  which no Urdu text exists (service names without `name_ur`, village names, documents) are
  spoken by the Hindi voice: spoken Hindi and Urdu are one language to the ear, and an Urdu
  voice cannot read Devanagari.
- Kashmiri and Dogri have no text-to-speech anywhere: they are offered only when recorded
  prompts are configured (`DOORSTEP_PROMPT_AUDIO_BASE_URL`), play `<base>/<lang>/<key>.mp3`,
  take keys only (no speech recognition), and the values that change per call (names,
  digits, amounts, times) are spoken by the Hindi voice after each recording.

Each language keeps its key in the language menu whether or not the others are offered, so
recorded prompts can say "press 4" once and for all.

A known caller is greeted in their own language, or, where the line cannot speak it, in the
offered language they understand: Kashmiri speakers in Urdu, Dogri and Punjabi speakers in
Hindi (`UNDERSTOOD`), never with the language menu.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    key: str  # the key that picks it in the language menu
    locale: str | None  # BCP-47 locale of its voice and speech recognition; None: recorded only
    voice: str | None

    @property
    def has_tts(self) -> bool:
        return self.locale is not None


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("hi", "1", "hi-IN", "Polly.Aditi"),
        Language("en", "2", "en-IN", "Polly.Raveena"),
        Language("ur", "3", "ur-IN", "Google.ur-IN-Standard-A"),
        Language("ks", "4", None, None),
        Language("doi", "5", None, None),
    )
}

#: Languages spoken by text-to-speech: every prompt key needs words in each of them.
TTS_LANGUAGES = tuple(code for code, lang in LANGUAGES.items() if lang.has_tts)
#: The language that speaks values a language has no words or voice for.
FALLBACK = "hi"


def offered(state_languages: list[str], *, recorded_prompts: bool) -> list[Language]:
    """The languages the menu offers: the state's, in its order, that the line can speak."""
    result = []
    for code in state_languages:
        lang = LANGUAGES.get(code)
        if lang is not None and (lang.has_tts or recorded_prompts):
            result.append(lang)
    return result


#: For a language the line may not speak, the languages its speakers understand, best first.
UNDERSTOOD: dict[str, tuple[str, ...]] = {
    "ks": ("ur", "hi"),
    "doi": ("hi", "ur"),
    "pa": ("hi",),
}


def for_caller(code: str, offered: list[Language]) -> Language | None:
    """The offered language to greet a caller who speaks `code` in (None: ask them)."""
    by_code = {lang.code: lang for lang in offered}
    for candidate in (code, *UNDERSTOOD.get(code, ())):
        if candidate in by_code:
            return by_code[candidate]
    return None


def by_key(languages: list[Language], key: str) -> Language | None:
    return next((lang for lang in languages if lang.key == key), None)


def speaking(code: str) -> Language:
    """The language whose voice speaks values for `code` (itself, or Hindi if recorded)."""
    lang = LANGUAGES.get(code, LANGUAGES[FALLBACK])
    return lang if lang.has_tts else LANGUAGES[FALLBACK]
