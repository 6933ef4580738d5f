"""Prompt keys and their words: the keys live here, the words in `seed_data/prompts/<lang>.csv`
(`key,text` with `{placeholders}`), one file per text-to-speech language.

`Prompts.say` turns a key into TwiML prompts: the words in the caller's language, with values
in another language (`Spoken`) cut out and given their own voice; for a recorded-only language,
the recording of the key followed by the values in the Hindi voice. `Prompts.text` gives the
plain words (SMS bodies, values inside other prompts). A test checks that every key has words
in every TTS language and the same placeholders in each.
"""

from __future__ import annotations

import csv
import string
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from ivr import languages
from ivr.twiml import Play, Prompt, Say


class P(StrEnum):
    """Every prompt key the IVR uses."""

    WELCOME = "welcome"
    WELCOME_BACK = "welcome_back"
    WELCOME_AGAIN = "welcome_again"
    OPEN_REQUESTS = "open_requests"
    LANGUAGE_OPTION = "language_option"
    MAIN_MENU = "main_menu"
    MENU_LANGUAGE = "menu_language"
    PERSON_OPTION = "person_option"
    MORE_OPTION = "more_option"
    OPTION = "option"
    SERVICE_ASK = "service_ask"
    SERVICE_CHOSEN = "service_chosen"
    SERVICE_HEARD = "service_heard"
    SERVICE_NOT_FOUND = "service_not_found"
    DOCUMENTS = "documents"
    DOCUMENTS_NONE = "documents_none"
    ADDRESS_KNOWN = "address_known"
    PHONE_ASK = "phone_ask"
    PHONE_INVALID = "phone_invalid"
    PINCODE_ASK = "pincode_ask"
    PINCODE_INVALID = "pincode_invalid"
    PINCODE_UNKNOWN = "pincode_unknown"
    PINCODE_PLACES = "pincode_places"
    NOT_LISTED_OPTION = "not_listed_option"
    DISTRICT_ASK = "district_ask"
    DISTRICT_NOT_FOUND = "district_not_found"
    DISTRICT_HEARD = "district_heard"
    BLOCK_ASK = "block_ask"
    VILLAGE_ASK = "village_ask"
    VILLAGE_NOT_FOUND = "village_not_found"
    VILLAGE_CHOOSE = "village_choose"
    LANDMARK_ASK = "landmark_ask"
    ADDRESS_NOTED = "address_noted"
    PLACE_NEAR = "place_near"
    OFFER_FIRST = "offer_first"
    BOOK_OPTION = "book_option"
    OTHER_TIMES_OPTION = "other_times_option"
    OTHER_TIMES = "other_times"
    OFFER_MOVE = "offer_move"
    MOVE_OPTION = "move_option"
    KEEP_TIME_OPTION = "keep_time_option"
    NO_WINDOWS = "no_windows"
    WINDOW_TAKEN = "window_taken"
    FEE_TOTAL = "fee_total"
    FEE_DOORSTEP = "fee_doorstep"
    FEE_NONE = "fee_none"
    FEE_PAYMENT = "fee_payment"
    BOOKED = "booked"
    REFERENCE = "reference"
    VISIT_AT = "visit_at"
    FEE_DUE = "fee_due"
    SMS_SENT = "sms_sent"
    CONFIRMATION_MENU = "confirmation_menu"
    GOODBYE = "goodbye"
    REFERENCE_ASK = "reference_ask"
    REFERENCE_INVALID = "reference_invalid"
    CODE_ASK = "code_ask"
    PROOF_FAILED = "proof_failed"
    TOO_MANY_TRIES = "too_many_tries"
    VISIT_CODE = "visit_code"
    NO_WINDOWS_PERSON = "no_windows_person"
    STATUS_OF = "status_of"
    STATUS_LOGGED = "status_logged"
    STATUS_SCHEDULED = "status_scheduled"
    STATUS_ASSIGNED = "status_assigned"
    STATUS_EN_ROUTE = "status_en_route"
    STATUS_ARRIVED = "status_arrived"
    STATUS_COMPLETED = "status_completed"
    STATUS_FAILED = "status_failed"
    STATUS_NO_SHOW = "status_no_show"
    STATUS_CANCELLED = "status_cancelled"
    STATUS_RESCHEDULED = "status_rescheduled"
    AFTER_STATUS = "after_status"
    CHANGE_TOO_LATE = "change_too_late"
    CHANGE_MENU = "change_menu"
    NEW_VISIT_OPTION = "new_visit_option"
    MAIN_MENU_OPTION = "main_menu_option"
    BY_REFERENCE_OPTION = "by_reference_option"
    REFERENCE_ENDING = "reference_ending"
    CANCEL_CONFIRM = "cancel_confirm"
    CANCELLED = "cancelled"
    NOT_CANCELLED = "not_cancelled"
    RESCHEDULED = "rescheduled"
    PERSON_WAIT_LONG = "person_wait_long"
    PERSON_CONNECTING = "person_connecting"
    CALLBACK_NOTED = "callback_noted"
    QUEUE_POSITION = "queue_position"
    QUEUE_HOLD = "queue_hold"
    QUEUE_FAILED = "queue_failed"
    NO_INPUT = "no_input"
    WRONG_KEY = "wrong_key"
    TO_PERSON = "to_person"
    ERROR = "error"
    AMOUNT_RUPEES = "amount_rupees"
    AMOUNT_RUPEES_PAISE = "amount_rupees_paise"
    DATE = "date"
    TODAY = "today"
    TOMORROW = "tomorrow"
    DATE_ON = "date_on"
    WINDOW = "window"
    WINDOW_SOON = "window_soon"
    WINDOW_SHORT = "window_short"
    CLOCK_HOUR = "clock_hour"
    CLOCK_HOUR_MINUTE = "clock_hour_minute"
    CLOCK_BARE = "clock_bare"
    CLOCK_BARE_MINUTE = "clock_bare_minute"
    NOON = "noon"
    PERIOD_MORNING = "period_morning"
    PERIOD_AFTERNOON = "period_afternoon"
    PERIOD_EVENING = "period_evening"
    PERIOD_NIGHT = "period_night"
    WORD_AND = "word_and"
    WEEKDAY_0 = "weekday_0"
    WEEKDAY_1 = "weekday_1"
    WEEKDAY_2 = "weekday_2"
    WEEKDAY_3 = "weekday_3"
    WEEKDAY_4 = "weekday_4"
    WEEKDAY_5 = "weekday_5"
    WEEKDAY_6 = "weekday_6"
    AGENT_PIN_ASK = "agent_pin_ask"
    AGENT_PIN_WRONG = "agent_pin_wrong"
    AGENT_LOCKED = "agent_locked"
    AGENT_MENU = "agent_menu"
    AGENT_NO_VISITS = "agent_no_visits"
    AGENT_VISIT = "agent_visit"
    AGENT_VISIT_PLACE = "agent_visit_place"
    AGENT_REFERENCE_ASK = "agent_reference_ask"
    AGENT_NOT_YOURS = "agent_not_yours"
    AGENT_OUTCOME_ASK = "agent_outcome_ask"
    AGENT_UPI_ASK = "agent_upi_ask"
    AGENT_CODE_ASK = "agent_code_ask"
    AGENT_CODE_WRONG = "agent_code_wrong"
    AGENT_REASON_ASK = "agent_reason_ask"
    AGENT_ARRIVED = "agent_arrived"
    AGENT_DONE = "agent_done"
    AGENT_FAILED = "agent_failed"
    AGENT_NO_SHOW = "agent_no_show"
    AGENT_NOT_TODAY = "agent_not_today"
    AGENT_CLOSED = "agent_closed"
    FEEDBACK_ASK = "feedback_ask"
    FEEDBACK_THANKS = "feedback_thanks"
    MONTH_1 = "month_1"
    MONTH_2 = "month_2"
    MONTH_3 = "month_3"
    MONTH_4 = "month_4"
    MONTH_5 = "month_5"
    MONTH_6 = "month_6"
    MONTH_7 = "month_7"
    MONTH_8 = "month_8"
    MONTH_9 = "month_9"
    MONTH_10 = "month_10"
    MONTH_11 = "month_11"
    MONTH_12 = "month_12"
    DIGIT_0 = "digit_0"
    DIGIT_1 = "digit_1"
    DIGIT_2 = "digit_2"
    DIGIT_3 = "digit_3"
    DIGIT_4 = "digit_4"
    DIGIT_5 = "digit_5"
    DIGIT_6 = "digit_6"
    DIGIT_7 = "digit_7"
    DIGIT_8 = "digit_8"
    DIGIT_9 = "digit_9"


@dataclass(frozen=True, slots=True)
class Spoken:
    """A value to be spoken in another language's voice than the prompt around it."""

    text: str
    language: str


Value = str | int | Spoken


class PromptsMissing(LookupError):
    """A prompt file or a key's words are missing."""


def placeholders(template: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def read_file(path: Path) -> dict[str, str]:
    """`key,text` rows of one language file (a header row `key,text` first)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for line, row in enumerate(rows, start=2):
        if None in row:  # a comma outside quotes would silently cut the words short
            raise PromptsMissing(f"{path}:{line}: more than two fields; quote the text")
    return {row["key"].strip(): row["text"].strip() for row in rows}


class Prompts:
    """The words of every prompt in every TTS language, read once from a directory."""

    def __init__(self, directory: Path, *, audio_base_url: str | None = None) -> None:
        self.directory = directory
        self.audio_base_url = audio_base_url.rstrip("/") if audio_base_url else None
        self._words: dict[str, dict[str, str]] = {}
        for code in languages.TTS_LANGUAGES:
            path = directory / f"{code}.csv"
            if not path.is_file():
                raise PromptsMissing(f"no prompt file {path}")
            self._words[code] = read_file(path)

    def template(self, key: P, language: str) -> str:
        words = self._words.get(language) or self._words[languages.FALLBACK]
        try:
            return words[key.value]
        except KeyError:
            raise PromptsMissing(f"prompt {key.value!r} has no words in {language!r}") from None

    def text(self, key: P, language: str, **values: Value) -> str:
        """The plain words of `key` (values inserted as they are, whatever their language)."""
        lang = languages.speaking(language).code
        flat = {k: v.text if isinstance(v, Spoken) else str(v) for k, v in values.items()}
        return self.template(key, lang).format(**flat)

    def say(self, key: P, language: str, **values: Value) -> list[Prompt]:
        """TwiML prompts speaking `key` in `language`."""
        lang = languages.LANGUAGES.get(language, languages.LANGUAGES[languages.FALLBACK])
        if lang.has_tts:
            return self._spoken(key, lang.code, values)
        fallback = languages.LANGUAGES[languages.FALLBACK]
        recording: list[Prompt] = [self.recording(key, lang.code)]
        for name in placeholders(self.template(key, fallback.code)):
            value = values[name]
            if isinstance(value, Spoken):
                recording.extend(_say(value.text, value.language))
            else:
                recording.extend(_say(str(value), fallback.code))
        return recording

    def recording(self, key: P, language: str) -> Play:
        """The recorded prompt of `key` in a language without text-to-speech."""
        return Play(f"{self.audio_base_url}/{language}/{key.value}.mp3")

    def _spoken(self, key: P, code: str, values: dict[str, Value]) -> list[Prompt]:
        pieces: list[tuple[str, str]] = []
        for literal, field, spec, _conversion in string.Formatter().parse(self.template(key, code)):
            if literal:
                pieces.append((literal, code))
            if field:
                value = values[field]
                if isinstance(value, Spoken):
                    pieces.append((value.text, value.language))
                else:
                    pieces.append((format(value, spec or ""), code))
        merged: list[tuple[str, str]] = []
        for text, lang in pieces:
            if merged and merged[-1][1] == lang:
                merged[-1] = (merged[-1][0] + text, lang)
            else:
                merged.append((text, lang))
        result: list[Prompt] = []
        for text, lang in merged:
            result.extend(_say(text, lang))
        return result


def _say(text: str, code: str) -> list[Prompt]:
    text = " ".join(text.split())
    if not text or not any(ch.isalnum() for ch in text):
        return []
    lang = languages.speaking(code)
    assert lang.locale is not None
    return [Say(text, lang.locale, lang.voice)]


@lru_cache(maxsize=8)
def load(directory: Path, audio_base_url: str | None = None) -> Prompts:
    """The prompts of `directory`, read once per process (they are data, not call state)."""
    return Prompts(directory, audio_base_url=audio_base_url)
