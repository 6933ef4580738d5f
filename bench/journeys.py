"""The call as a caller lives it: scripted callers walk the phone line through its signed
webhooks, and the length of each call is estimated from what they hear and what they do.

    .venv/bin/python -m bench.journeys [--name journeys] [--verbose: what each caller heard]

Sets up a fresh SQLite database the way `make run` does (`doorstep migrate`, `doorstep seed
--demo`), then drives `create_app()` in-process with Twilio's signed parameters. The callers:

- a first-time caller in English: income certificate, Srinagar / Rainawari (PIN 190003);
- a first-time caller in Hindi: income certificate, Jammu / Suchetgarh (PIN 181102), by
  Hindi speech;
- the English caller again, rescheduling the visit just booked;
- the Hindi caller again, hanging up once the greeting has told the status;
- a first-time caller who mistypes twice (a key that is not offered, a 5-digit PIN code).

The cost model (`Listener`): the line's words at 150 words a minute in English and 130 in
Hindi and Urdu, `<Pause>` as long as it says; ~2 s to think before each answer, 0.4 s a key,
speech at the same rate plus 1 s for the recogniser to hear it end; the server's own time as
measured. Input interrupts speech inside a `<Gather>` (the line puts every prompt there), so
a caller who presses a menu key stops listening after the sentence that offers it, one who
speaks or keys a number stops before the first option, and one who hangs up does so before
the first option too. Words spoken outside a `<Gather>` are heard in full. Each journey checks
its outcome in the database (booked, moved, counted as informed), so a shorter call that
did not get there fails loudly.

Prints steps, answers, keys, speech turns and the estimated length beside the goals of issue
#16, and writes var/bench/<name>.json.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from bench.common import REPO_ROOT, table, write_json
from dispatch.calls.models import CallSession, CallStatus
from dispatch.config import Settings
from dispatch.db import make_engine, read_session
from dispatch.requests.models import DoorstepRequest
from ivr.standin import Call, VerbJson, path_of, signed_headers

TOKEN = "journeys-bench-token"
BASE_URL = "https://doorstep.example.in"
#: Words a minute the line speaks, by voice locale.
WPM = {"en-IN": 150.0, "hi-IN": 130.0, "ur-IN": 130.0}
THINK_S = 2.0
KEY_S = 0.4
SPEECH_END_S = 1.0
PLAY_S = 3.0  # a recorded prompt (not in these journeys; counted if one appears)
#: How each language offers a key: a sentence holding this is an option.
KEY_PHRASE = {"en-IN": "press {k}", "hi-IN": "{k} दबाएँ", "ur-IN": "{k} دبائیں"}
SENTENCE_END = re.compile(r"(?<=[.?!।۔؟])\s+")
#: Posts signed parameters to a webhook URL; returns the TwiML answered.
Post = Callable[[str, dict[str, str]], str]


@dataclass(frozen=True)
class Goal:
    seconds: float
    answers: int


GOALS = {
    "first-time, English": Goal(180.0, 10),
    "first-time, Hindi": Goal(180.0, 10),
    "returning, reschedule": Goal(90.0, 4),
    "returning, hear status": Goal(15.0, 0),
}


@dataclass
class Tally:
    """What one caller lived through."""

    journey: str
    steps: int = 0  # questions met (<Gather>s answered or hung up at)
    answers: int = 0
    keys: int = 0
    speech_turns: int = 0
    listened_s: float = 0.0
    every_word_s: float = 0.0  # what listening would take with no barge-in at all
    acting_s: float = 0.0  # thinking, pressing, speaking
    server_s: float = 0.0
    options_missed: int = 0  # a key pressed whose offer was not found: heard in full instead
    outcome: str = ""
    turns: list[dict[str, Any]] = field(default_factory=list)  # heard, seconds, answer

    @property
    def seconds(self) -> float:
        return self.listened_s + self.acting_s + self.server_s

    @property
    def every_word_seconds(self) -> float:
        """The same call for a caller who waits out every prompt before answering."""
        return self.every_word_s + self.acting_s + self.server_s


def _words(text: str) -> int:
    return len(text.split())


def _spoken_s(text: str, locale: str) -> float:
    return _words(text) / WPM.get(locale, WPM["hi-IN"]) * 60.0


def _is_option(sentence: str, locale: str, key: str | None = None) -> bool:
    phrase = KEY_PHRASE.get(locale, KEY_PHRASE["hi-IN"])
    keys = [key] if key is not None else [str(d) for d in range(10)]
    return any(phrase.format(k=k) in sentence.casefold() for k in keys)


def _prompt_s(verb: VerbJson) -> float:
    if verb["verb"] == "say":
        return _spoken_s(str(verb.get("text", "")), str(verb.get("language", "")))
    if verb["verb"] == "pause":
        return float(verb.get("length", 1))
    if verb["verb"] == "play":
        return PLAY_S
    return 0.0


def every_word_s(verbs: list[VerbJson]) -> float:
    """Seconds of every prompt of one turn, inside a <Gather> or not."""
    return sum(_prompt_s(v) for verb in verbs for v in [verb, *verb.get("children", [])])


def listening_s(verbs: list[VerbJson], *, key: str | None) -> tuple[float, bool]:
    """Seconds a caller listens to one turn before answering: up to the sentence offering
    `key`, or (key None: speech, a number, a hang-up) up to the first option. Returns the
    seconds and whether the stop was found (else everything was heard)."""
    total = 0.0
    for verb in verbs:
        if verb["verb"] != "gather":
            total += _prompt_s(verb)
            continue
        for child in verb.get("children", []):
            if child["verb"] != "say":
                total += _prompt_s(child)
                continue
            locale = str(child.get("language", ""))
            for sentence in SENTENCE_END.split(str(child.get("text", ""))):
                if key is None and _is_option(sentence, locale):
                    return total, True
                total += _spoken_s(sentence, locale)
                if key is not None and _is_option(sentence, locale, key):
                    return total, True
    return total, key is None


#: Seconds a caller who answers nothing waits after the last word before the line moves on
#: (Twilio's `<Gather timeout>` when the TwiML sets none).
GATHER_TIMEOUT_S = 5.0


def acting_s(*, keys: str = "", words: str | None = None, locale: str = "hi-IN") -> float:
    """Seconds a caller takes to answer once they stop listening: thinking, then pressing
    `keys` or saying `words` (and the recogniser hearing them end)."""
    if words is not None:
        return THINK_S + _spoken_s(words, locale) + SPEECH_END_S
    return THINK_S + KEY_S * len(keys)


def answer_after_s(verbs: list[VerbJson], *, keys: str = "", words: str | None = None) -> float:
    """The cost model for one turn, for a load that calls as people do: seconds from the
    line's answer (`verbs`) to the caller's next request. A menu key is pressed after the
    sentence offering it, a number or speech before the first option; no answer at all
    (neither `keys` nor `words`) waits out every word and the gather's timeout; a turn with
    no `<Gather>` (a `<Redirect>` after words) is fetched once its words are spoken."""
    gather = next((v for v in verbs if v["verb"] == "gather"), None)
    if gather is None:
        return every_word_s(verbs)
    if not keys and words is None:
        timeout = float(gather.get("timeout", GATHER_TIMEOUT_S))
        return every_word_s(verbs) + timeout
    locale = str(gather.get("language", "hi-IN"))
    listened, _found = listening_s(verbs, key=keys if len(keys) == 1 else None)
    return listened + acting_s(keys=keys, words=words, locale=locale)


class Caller:
    """One scripted caller: answers as the script says, timed as the cost model says."""

    def __init__(self, post: Post, settings: Settings, phone: str, journey: str):
        self.timed_post = post
        self.call = Call(post=self._post, settings=settings, caller=phone, called="1447")
        self.tally = Tally(journey)

    def _post(self, url: str, params: dict[str, str]) -> str:
        started = time.perf_counter()
        try:
            return self.timed_post(url, params)
        finally:
            self.tally.server_s += time.perf_counter() - started

    def heard(self) -> str:
        return " ".join(self.call.said)

    def dial(self) -> None:
        self.call.dial()

    def _listen(self, key: str | None, answer: str, *, offered: bool = True) -> None:
        seconds, found = listening_s(self.call.verbs, key=key)
        self.tally.listened_s += seconds
        self.tally.every_word_s += every_word_s(self.call.verbs)
        self.tally.options_missed += offered and not found
        self.tally.steps += 1
        step = str((self.call.gather or {}).get("action", "")).split("/answer/")[-1]
        self.tally.turns.append(
            {
                "step": step.split("?")[0],
                "heard": self.heard(),
                "listened_s": round(seconds, 1),
                "answer": answer,
            }
        )

    def press(self, keys: str, *, mistake: bool = False) -> None:
        """Key `keys` (a `mistake` is a key the line did not offer: all of it is heard)."""
        self._listen(keys if len(keys) == 1 else None, keys, offered=not mistake)
        self.tally.answers += 1
        self.tally.keys += len(keys)
        self.tally.acting_s += acting_s(keys=keys)
        self.call.press(keys)

    def say(self, words: str) -> None:
        self._listen(None, f"says {words!r}")
        self.tally.answers += 1
        self.tally.speech_turns += 1
        locale = str((self.call.gather or {}).get("language", "hi-IN"))
        self.tally.acting_s += acting_s(words=words, locale=locale)
        self.call.say(words)

    def choose(self, name: str) -> None:
        """Press the key the line offered for `name` (as a caller who heard it would)."""
        for sentence in SENTENCE_END.split(self.heard()):
            if name in sentence:
                for phrase in KEY_PHRASE.values():
                    found = re.search(re.escape(phrase).replace(r"\{k\}", r"(\d)"), sentence)
                    if found:
                        self.press(found.group(1))
                        return
        raise AssertionError(f"{self.tally.journey}: no key offered for {name!r}")

    def hang_up(self) -> None:
        """Put the phone down once told what they called for (before any further menu)."""
        self._listen(None, "hangs up")
        self.call.hangup(duration_s=round(self.tally.seconds))


# --- the journeys ------------------------------------------------------------------------------


def _settings() -> Settings:
    return Settings(public_base_url=BASE_URL, twilio_auth_token=TOKEN)


def _new_phone() -> str:
    return f"+9196{uuid.uuid4().int % 10**8:08d}"


def _call_row(engine: Engine, caller: Caller) -> CallSession:
    with read_session(engine) as session:
        return session.exec(
            select(CallSession).where(CallSession.call_sid == caller.call.call_sid)
        ).one()


def _booked(engine: Engine, caller: Caller) -> DoorstepRequest:
    row = _call_row(engine, caller)
    assert row.status is CallStatus.BOOKED and row.request_id is not None, row.status
    with read_session(engine) as session:
        request = session.get(DoorstepRequest, row.request_id)
        assert request is not None
        return request


@dataclass(frozen=True)
class FirstTime:
    """A first-time caller's script: who they are and what they answer."""

    journey: str
    language_key: str
    service: str  # said aloud, then confirmed with 1
    pincode: str
    village: str  # as the line reads it in the caller's language
    landmark: str


ENGLISH = FirstTime(
    "first-time, English", "2", "income certificate", "190003", "Rainawari", "near the post office"
)
HINDI = FirstTime("first-time, Hindi", "1", "आय प्रमाण पत्र", "181102", "सुचेतगढ़", "बीएसएफ चौकी के पास")


def first_time(
    post: Post, settings: Settings, engine: Engine, phone: str, script: FirstTime
) -> Tally:
    c = Caller(post, settings, phone, script.journey)
    c.dial()
    c.press(script.language_key)
    c.press("1")  # a doorstep visit
    c.say(script.service)
    c.press("1")  # "Income Certificate: is that right?"
    c.press(script.pincode)
    c.choose(script.village)
    c.say(script.landmark)
    c.press("1")  # the earliest visit, at the fee just told
    c.hang_up()
    request = _booked(engine, c)
    c.tally.outcome = f"booked {request.reference}"
    return c.tally


def returning_reschedule(post: Post, settings: Settings, engine: Engine, phone: str) -> Tally:
    c = Caller(post, settings, phone, "returning, reschedule")
    c.dial()  # greeted by name, told the open request
    c.press("1")  # change its time
    c.press("1")  # the earliest new time
    c.hang_up()
    row = _call_row(engine, c)
    assert row.status is CallStatus.CHANGED and row.request_id is not None, row.status
    with read_session(engine) as session:
        request = session.get(DoorstepRequest, row.request_id)
        assert request is not None and request.window_start is not None
    c.tally.outcome = f"moved {request.reference}"
    return c.tally


def returning_status(post: Post, settings: Settings, engine: Engine, phone: str) -> Tally:
    c = Caller(post, settings, phone, "returning, hear status")
    c.dial()
    c.hang_up()
    row = _call_row(engine, c)
    assert row.status is CallStatus.INFORMED, row.status  # not abandoned
    c.tally.outcome = "informed (not abandoned)"
    return c.tally


def mistyping(post: Post, settings: Settings, engine: Engine, phone: str) -> Tally:
    c = Caller(post, settings, phone, "first-time, mistypes twice")
    c.dial()
    c.press("2")
    c.press("7", mistake=True)  # not offered: asked again
    c.press("1")
    c.say("income certificate")
    c.press("1")
    c.press("19000", mistake=True)  # five digits: asked again
    c.press("190003")
    c.choose("Rainawari")
    c.press("1")  # no landmark
    c.press("1")
    c.hang_up()
    request = _booked(engine, c)
    c.tally.outcome = f"booked {request.reference}"
    return c.tally


def walk(post: Post, settings: Settings, engine: Engine) -> list[Tally]:
    """Every journey, in order (the returning callers are the first-time ones calling back)."""
    english, hindi = _new_phone(), _new_phone()
    return [
        first_time(post, settings, engine, english, ENGLISH),
        first_time(post, settings, engine, hindi, HINDI),
        returning_reschedule(post, settings, engine, english),
        returning_status(post, settings, engine, hindi),
        mistyping(post, settings, engine, _new_phone()),
    ]


def poster(client: TestClient, settings: Settings) -> Post:
    """Signed posts to the app, as Twilio makes them."""

    def post(url: str, params: dict[str, str]) -> str:
        response = client.post(
            path_of(settings, url), data=params, headers=signed_headers(settings, url, params)
        )
        response.raise_for_status()
        return response.text

    return post


def report(tallies: list[Tally]) -> tuple[str, list[dict[str, Any]]]:
    rows, records = [], []
    for t in tallies:
        goal = GOALS.get(t.journey)
        met = goal is not None and t.seconds <= goal.seconds and t.answers <= goal.answers
        target = f"<= {goal.seconds:.0f} s, <= {goal.answers} answers" if goal else "-"
        verdict = ("met" if met else "MISSED") if goal else "-"
        rows.append(
            (
                t.journey,
                t.steps,
                t.answers,
                t.keys,
                t.speech_turns,
                f"{t.seconds:.0f} s",
                f"{t.every_word_seconds:.0f} s",
                target,
                verdict,
                t.outcome,
            )
        )
        records.append(
            {
                **asdict(t),
                "seconds": t.seconds,
                "every_word_seconds": t.every_word_seconds,
                "goal": asdict(goal) if goal else None,
            }
        )
        records[-1]["met"] = met if goal else None
    headers = (
        "caller",
        "steps",
        "answers",
        "keys",
        "speech",
        "est. call",
        "every word",
        "goal",
        "met",
        "outcome",
    )
    return table(headers, rows), records


def prepare_database(path: Path) -> str:
    """A fresh database set up as `make run` sets it up."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    env = {**os.environ, "DOORSTEP_DATABASE_URL": url}
    doorstep = str(Path(sys.executable).with_name("doorstep"))
    for command in (["migrate"], ["seed", "--demo"]):
        subprocess.run(
            [doorstep, *command], env=env, cwd=REPO_ROOT, check=True, capture_output=True
        )
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--name", default="journeys", help="output name under var/bench/")
    parser.add_argument("--verbose", action="store_true", help="print what each caller heard")
    args = parser.parse_args(argv)
    from web.app import create_app

    url = prepare_database(REPO_ROOT / "var" / "bench" / f"{args.name}.db")
    settings = _settings().model_copy(update={"database_url": url, "scheduler": False})
    engine = make_engine(url)
    app = create_app(settings=settings, engine=engine)
    with TestClient(app) as client:
        tallies = walk(poster(client, settings), settings, engine)
    text, records = report(tallies)
    if args.verbose:
        for t in tallies:
            print(f"\n== {t.journey}")
            for turn in t.turns:
                print(f"[{turn['step']}] {turn['listened_s']} s: {turn['heard']}")
                print(f"   -> {turn['answer']}")
        print()
    print("Caller journeys through the signed webhooks (cost model in bench/journeys.py)")
    print(text)
    path = write_json(args.name, {"journeys": records, "model": _model()})
    print(f"written to {path}")
    return 0


def _model() -> dict[str, Any]:
    return {
        "wpm": WPM,
        "think_s": THINK_S,
        "key_s": KEY_S,
        "speech_end_s": SPEECH_END_S,
        "barge_in": "menu keys after their option; speech, numbers and hang-ups before options",
    }


if __name__ == "__main__":
    raise SystemExit(main())
