"""TwiML: the few voice verbs the IVR speaks, as typed values, and their one rendering.

twilio-python's `VoiceResponse` is untyped; this is the only module that touches it, so `Any`
stops here. Handlers build a `Reply` (a list of the frozen verb values below), which can be
composed freely (`reply + other`) before `to_xml()` renders it once, every prompt before a
question inside the question's <Gather>, so input interrupts it. The verbs and attributes
used are a small subset of Twilio's: Say, Play, Pause, Gather, Redirect, Enqueue, Hangup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from twilio.twiml.voice_response import VoiceResponse


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    language: str  # BCP-47, e.g. hi-IN
    voice: str | None = None


@dataclass(frozen=True, slots=True)
class Play:
    url: str


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: int = 1


Prompt = Say | Play | Pause


@dataclass(frozen=True, slots=True)
class Gather:
    """Collect keys (and speech); Twilio posts what it got, or nothing, to `action`."""

    action: str
    prompts: tuple[Prompt, ...]
    speech: bool = False
    language: str = "hi-IN"
    num_digits: int | None = 1
    timeout: int = 6
    finish_on_key: str = "#"
    hints: str | None = None


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str


@dataclass(frozen=True, slots=True)
class Enqueue:
    queue: str
    action: str
    wait_url: str


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


Verb = Say | Play | Pause | Gather | Redirect | Enqueue | Hangup


@dataclass(frozen=True)
class Reply:
    """An answer to one webhook: verbs in the order Twilio executes them."""

    verbs: tuple[Verb, ...] = field(default_factory=tuple)

    def __add__(self, other: Reply) -> Reply:
        return Reply(self.verbs + other.verbs)

    @classmethod
    def of(cls, verbs: Iterable[Verb]) -> Reply:
        return cls(tuple(verbs))

    @property
    def waits_for_caller(self) -> bool:
        """True if the reply ends in something that keeps the call going."""
        return bool(self.verbs) and isinstance(self.verbs[-1], Gather | Redirect | Enqueue)

    def interruptible(self) -> Reply:
        """The same reply with the prompts just before a <Gather> moved into it: a caller who
        knows the answer can give it while they are still being spoken (input interrupts
        speech), instead of waiting out words said outside the <Gather>."""
        verbs: list[Verb] = []
        waiting: list[Prompt] = []
        for verb in self.verbs:
            if isinstance(verb, Say | Play | Pause):
                waiting.append(verb)
                continue
            if isinstance(verb, Gather):
                verbs.append(replace(verb, prompts=(*waiting, *verb.prompts)))
            else:
                verbs.extend(waiting)
                verbs.append(verb)
            waiting = []
        return Reply((*verbs, *waiting))

    def to_xml(self) -> str:
        response = VoiceResponse()
        for verb in self.interruptible().verbs:
            _render(response, verb)
        xml = response.to_xml()
        assert isinstance(xml, str)
        return xml


def _render_prompt(parent: object, prompt: Prompt) -> None:
    if isinstance(prompt, Say):
        attrs = {"language": prompt.language}
        if prompt.voice:
            attrs["voice"] = prompt.voice
        parent.say(prompt.text, **attrs)  # type: ignore[attr-defined]
    elif isinstance(prompt, Play):
        parent.play(prompt.url)  # type: ignore[attr-defined]
    else:
        parent.pause(length=prompt.seconds)  # type: ignore[attr-defined]


def _render(response: VoiceResponse, verb: Verb) -> None:
    if isinstance(verb, Say | Play | Pause):
        _render_prompt(response, verb)
    elif isinstance(verb, Gather):
        gather = response.gather(
            input="dtmf speech" if verb.speech else "dtmf",
            action=verb.action,
            method="POST",
            timeout=verb.timeout,
            num_digits=verb.num_digits,
            finish_on_key=verb.finish_on_key,
            action_on_empty_result=True,
            language=verb.language if verb.speech else None,
            speech_timeout="auto" if verb.speech else None,
            hints=verb.hints if verb.speech else None,
            # Speech as well as keys stops the prompts (Twilio's default, said outright).
            barge_in=True if verb.speech else None,
        )
        for prompt in verb.prompts:
            _render_prompt(gather, prompt)
    elif isinstance(verb, Redirect):
        response.redirect(verb.url, method="POST")
    elif isinstance(verb, Enqueue):
        response.enqueue(
            verb.queue,
            action=verb.action,
            method="POST",
            wait_url=verb.wait_url,
            wait_url_method="POST",
        )
    else:
        response.hangup()
