"""The conversation's building blocks: the per-webhook context, the step registry, menus.

A step has an *ask* (speak a question, gather the answer with an action URL back to the step)
and an *answer* (act on the keys or speech, then ask the next step in the same reply, so the
caller hears no gap). Handlers register with `@asks(name)` / `@answers(name)` and return a
`Reply`; `Ctx.goto(step)` renders another step's question. A wrong or missing answer is
re-prompted twice, then the caller is put through to a person: never a dead end.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlmodel import Session

from dispatch import matching
from dispatch.calls import service as call_service
from dispatch.calls.models import CallSession, CallStatus
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.states.models import State
from dispatch.visits import proof
from ivr import languages
from ivr.progress import Progress
from ivr.prompts import P, Prompts, Value
from ivr.speech import Speech
from ivr.twiml import Gather, Hangup, Prompt, Reply

#: Re-prompts after a missing or wrong answer before the caller is offered a person.
MAX_RETRIES = 2
#: Items per page of a keypad menu: keys 1-8, 9 for the next page, 0 for a person.
PAGE_SIZE = 8
MORE_KEY = "9"
PERSON_KEY = "0"


#: What a caller says while listening that answers nothing ("haan", "ji", "ok"): speech can
#: interrupt a prompt, so the question is asked again instead of taken as a wrong answer.
ACKNOWLEDGEMENTS = frozenset(
    """
    haan han haa ha ji jee ok okay achha acha accha theek thik hai yes yeah hmm hm
    हाँ हां हा जी ठीक है अच्छा ओके हम्म ہاں ہا جی ٹھیک ہے اچھا اوکے
""".split()  # noqa: SIM905
)


#: Digits said as words, in the line's languages (and Hindi as English recognisers spell it).
NUMBER_WORDS = {
    **dict.fromkeys(("zero", "oh", "shunya", "shoonya", "शून्य", "ज़ीरो", "जीरो", "صفر", "زیرو"), "0"),
    **dict.fromkeys(("one", "ek", "एक", "ایک"), "1"),
    **dict.fromkeys(("two", "do", "दो", "دو"), "2"),
    **dict.fromkeys(("three", "teen", "तीन", "تین"), "3"),
    **dict.fromkeys(("four", "char", "chaar", "चार", "چار"), "4"),
    **dict.fromkeys(("five", "paanch", "panch", "पाँच", "पांच", "پانچ"), "5"),
    **dict.fromkeys(("six", "chhe", "chhah", "छह", "छः", "छे", "چھ", "چھے"), "6"),
    **dict.fromkeys(("seven", "saat", "सात", "سات"), "7"),
    **dict.fromkeys(("eight", "aath", "आठ", "آٹھ"), "8"),
    **dict.fromkeys(("nine", "nau", "नौ", "نو"), "9"),
}


def digits_of(word: str) -> str | None:
    """The digits of one word of speech: written in any script ("190003", "१९०००३") or a
    digit said as a word ("five", "पाँच", "ek"); None for any other word."""
    if word.isdecimal():
        return "".join(str(unicodedata.decimal(ch)) for ch in word)
    return NUMBER_WORDS.get(word)


@dataclass(frozen=True, slots=True)
class Said:
    """What the caller answered: keys pressed and/or recognised speech (either may be empty)."""

    digits: str = ""
    speech: str = ""

    @property
    def empty(self) -> bool:
        return not self.digits and not self.speech.strip()

    @property
    def acknowledgement(self) -> bool:
        """Only "haan", "ji", "ok" and the like: the caller was listening, not answering."""
        heard = matching.words(self.speech)
        return not self.digits and bool(heard) and all(w in ACKNOWLEDGEMENTS for w in heard)

    def keyed(self) -> Said:
        """A single digit said instead of pressed ("one", "एक", "1") as that key: a caller
        who answers a menu aloud gets what they would by pressing it."""
        heard = matching.words(self.speech)
        if self.digits or len(heard) != 1:
            return self
        digit = digits_of(heard[0])
        return Said(digits=digit) if digit is not None and len(digit) == 1 else self


@dataclass
class Ctx:
    """Everything one webhook's handler needs; built and committed by `ivr.conversation`."""

    session: Session
    settings: Settings
    prompts: Prompts
    call: CallSession
    state: State
    progress: Progress
    now: dt.datetime
    step: str  # the step being answered (or asked)
    at: str = ""  # the step the reply leaves the caller at
    form: dict[str, str] = field(default_factory=dict)  # the webhook's parameters
    outbox: list[int] = field(default_factory=list)  # SMS to send once committed

    @property
    def lang(self) -> str:
        return self.call.language

    @property
    def locale(self) -> languages.Language:
        return languages.LANGUAGES.get(self.lang, languages.LANGUAGES[languages.FALLBACK])

    @property
    def value_lang(self) -> str:
        """The language values (names, amounts, times) are put into words in."""
        return languages.speaking(self.lang).code

    @property
    def speech(self) -> Speech:
        return Speech(self.prompts, self.value_lang, self.state.timezone)

    @property
    def offered(self) -> list[languages.Language]:
        return languages.offered(
            self.state.languages, recorded_prompts=bool(self.settings.prompt_audio_base_url)
        )

    @property
    def citizen(self) -> Citizen | None:
        if self.call.citizen_id is None:
            return None
        return self.session.get(Citizen, self.call.citizen_id)

    def caller_id(self) -> str | None:
        """The caller ID the network gave, in E.164 (None if withheld or not a number): the
        only number that proves who is calling."""
        return proof.caller_id_of(self.call.from_number)

    def contact_phone(self) -> str | None:
        """Where to reach the caller: their caller ID, or else a number they keyed in."""
        return self.caller_id() or self.progress.phone

    def callback_phone(self) -> str | None:
        """The contact number, if the state allows calling it back."""
        phone = self.contact_phone()
        return phone if self.state.may_message(phone) else None

    def proof(self) -> proof.Proof:
        """What this caller has shown: their caller ID, and a visit code keyed on this call."""
        return proof.Proof(caller_id=self.call.from_number, visit_code=self.progress.code)

    def booking_citizen_id(self) -> int | None:
        """Whom a booking on this call is for: the citizen proven by caller ID, else the one
        registered for the contact number keyed in."""
        return self.call.citizen_id or self.progress.citizen_id

    def key(self) -> str:
        """The idempotency key of a use case run by this webhook: the call, step and turn."""
        return f"ivr:{self.call.call_sid}:{self.step}:{self.call.turn}"

    @property
    def actor(self) -> str:
        return f"ivr:{self.call.call_sid}"

    # --- building replies -------------------------------------------------------------------

    def url(self, kind: str, step: str) -> str:
        """An absolute webhook URL under the public base URL, carrying the next turn."""
        base = self.settings.public_base_url.rstrip("/")
        return f"{base}/ivr/voice/{kind}/{step}?t={self.call.turn + 1}"

    def words(self, key: P, **values: Value) -> list[Prompt]:
        return self.prompts.say(key, self.lang, **values)

    def say(self, key: P, **values: Value) -> Reply:
        return Reply.of(self.words(key, **values))

    def gather(
        self,
        step: str,
        prompts: Sequence[Prompt],
        *,
        speech: bool = False,
        num_digits: int | None = 1,
        timeout: int = 6,
        hints: str | None = None,
    ) -> Reply:
        """Ask at `step`: speak `prompts` while listening for keys (and speech if asked and the
        language has recognition); the answer goes to the step's answer handler."""
        self.at = step
        with_speech = speech and self.locale.has_tts
        return Reply(
            (
                Gather(
                    action=self.url("answer", step),
                    prompts=tuple(prompts),
                    speech=with_speech,
                    language=self.locale.locale or "hi-IN",
                    num_digits=num_digits,
                    timeout=timeout,
                    hints=hints if with_speech else None,
                ),
            )
        )

    def goto(self, step: str) -> Reply:
        """Ask another step (or the same one again) in this reply."""
        if step != self.step:
            self.progress.retries.pop(self.step, None)
        return ASK[step](self)

    def retry(self, problem: P) -> Reply:
        """Say what was wrong and ask again; after `MAX_RETRIES`, put through to a person."""
        count = self.progress.retries.get(self.step, 0) + 1
        self.progress.retries[self.step] = count
        if count > MAX_RETRIES:
            self.progress.retries.pop(self.step, None)
            return self.say(problem) + self.say(P.TO_PERSON) + ASK["person"](self)
        return self.say(problem) + ASK[self.step](self)

    def unclear(self, said: Said) -> Reply:
        return self.retry(P.NO_INPUT if said.empty else P.WRONG_KEY)

    def goodbye(self) -> Reply:
        """Thank the caller and hang up; a call that settled nothing else is completed."""
        self.at = "goodbye"
        if self.call.status in (CallStatus.ACTIVE, CallStatus.INFORMED):
            call_service.settle(session=self.session, call=self.call, status=CallStatus.COMPLETED)
        return self.say(P.GOODBYE, service_name=self.state.service_name) + Reply((Hangup(),))


class OutOfPlace(RuntimeError):
    """A step was reached without what it needs (a choice made at an earlier step)."""


T = TypeVar("T")


def need(value: T | None, what: str) -> T:
    """`value`, which an earlier step must have set; `OutOfPlace` if it did not (the call is
    then apologised to and asked again, as for any failure)."""
    if value is None:
        raise OutOfPlace(f"{what} is not chosen yet")
    return value


# --- the registry -----------------------------------------------------------------------------

AskHandler = Callable[[Ctx], Reply]
AnswerHandler = Callable[[Ctx, Said], Reply]
ASK: dict[str, AskHandler] = {}
ANSWER: dict[str, AnswerHandler] = {}
A = TypeVar("A", bound=AskHandler)
B = TypeVar("B", bound=AnswerHandler)


def asks(step: str) -> Callable[[A], A]:
    def register(handler: A) -> A:
        ASK[step] = handler
        return handler

    return register


def answers(step: str) -> Callable[[B], B]:
    def register(handler: B) -> B:
        ANSWER[step] = handler
        return handler

    return register


# --- paged keypad menus ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    name: Value


def page_of(items: Sequence[Item], page: int, size: int = PAGE_SIZE) -> tuple[list[Item], bool]:
    """The items read out on `page` (keys 1..size) and whether a further page exists."""
    pages = max(1, -(-len(items) // size))
    page = page % pages
    shown = list(items[page * size : (page + 1) * size])
    return shown, pages > 1


def menu_words(
    ctx: Ctx,
    items: Sequence[Item],
    page: int,
    *,
    extra: Sequence[Prompt] = (),
    size: int = PAGE_SIZE,
) -> list[Prompt]:
    """Read out one page of a menu (then `extra` options, then a person); remember what each
    key meant, so the answer picks what the caller heard even if the list changes meanwhile."""
    shown, more = page_of(items, page, size)
    ctx.progress.shown, ctx.progress.more = [item.id for item in shown], more
    words: list[Prompt] = []
    for key, item in enumerate(shown, start=1):
        words += ctx.words(P.OPTION, name=item.name, digit=key)
    if more:
        words += ctx.words(P.MORE_OPTION)
    words += extra
    words += ctx.words(P.PERSON_OPTION)
    return words


def menu_choice(ctx: Ctx, said: Said) -> int | str | None:
    """The id keyed on the page read out, "more" for the next page, or None."""
    shown = ctx.progress.shown
    if ctx.progress.more and said.digits == MORE_KEY:
        return "more"
    if said.digits.isdigit() and 1 <= int(said.digits) <= len(shown):
        return shown[int(said.digits) - 1]
    return None
