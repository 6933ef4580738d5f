"""A stand-in for Twilio's side of a call: the parameters Twilio posts, signed as Twilio signs
them, and the TwiML answered parsed into plain verbs.

`Call` plays one call turn by turn through any `Post` (in-process for the tests and
`doorstep call`, over HTTP to a running server, or from the browser simulator's endpoints in
`web.simulator`): it follows <Redirect>, stops at <Gather>, <Enqueue> (after one round of hold
music) and <Hangup>. The IVR cannot tell it from Twilio. Development and test tooling only:
nothing of the production line depends on it.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dispatch.config import Settings
from ivr import signature

VerbJson = dict[str, Any]
#: Posts signed parameters to a webhook URL and returns the TwiML answered.
Post = Callable[[str, dict[str, str]], str]


def parse_twiml(xml: str) -> list[VerbJson]:
    """TwiML -> verbs as JSON-able dicts (what the browser plays)."""
    root = ET.fromstring(xml)
    if root.tag != "Response":
        raise ValueError(f"not TwiML: <{root.tag}>")
    return [_verb(el) for el in root]


def _verb(el: ET.Element) -> VerbJson:
    name = el.tag.lower()
    verb: VerbJson = {"verb": name, **el.attrib}
    if name == "gather":
        verb["children"] = [_verb(child) for child in el]
    elif el.text and el.text.strip():
        verb["text"] = el.text.strip()
    return verb


def new_call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def twilio_params(
    settings: Settings, *, call_sid: str, caller: str, called: str, **extra: str
) -> dict[str, str]:
    """The parameters Twilio posts for an inbound call, plus `extra` (Digits, ...)."""
    params = {
        "AccountSid": settings.twilio_account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "From": caller,
        "To": called,
        "Caller": caller,
        "Called": called,
    }
    params.update({k: v for k, v in extra.items() if v != ""})
    return params


def signed_headers(settings: Settings, url: str, params: dict[str, str]) -> dict[str, str]:
    sig = signature.sign(
        auth_token=settings.twilio_auth_token.get_secret_value(), url=url, params=params
    )
    return {signature.HEADER: sig}


def path_of(settings: Settings, url: str) -> str:
    """The app-relative path of a webhook URL under the public base URL."""
    base = settings.public_base_url.rstrip("/")
    if not url.startswith(base + "/ivr/voice/"):
        raise ValueError(f"{url!r} is not a webhook of this line")
    return url[len(base) :]


@dataclass
class Call:
    """One simulated call, driven turn by turn: follows <Redirect>, stops at <Gather>,
    <Enqueue> (after one round of hold) and <Hangup>."""

    post: Post
    settings: Settings
    caller: str
    called: str
    call_sid: str = field(default_factory=new_call_sid)
    #: "outbound-api" for a call the line placed: then `caller` is the line, `called` the person.
    direction: str = "inbound"
    verbs: list[VerbJson] = field(default_factory=list)  # everything played this turn
    gather: VerbJson | None = None
    queued: bool = False
    ended: bool = False

    def url(self, path: str) -> str:
        return self.settings.public_base_url.rstrip("/") + path

    def dial(self) -> list[VerbJson]:
        return self._turn(self.url("/ivr/voice/incoming"), {})

    def press(self, digits: str) -> list[VerbJson]:
        return self._answer({"Digits": digits})

    def say(self, speech: str) -> list[VerbJson]:
        return self._answer({"SpeechResult": speech, "Confidence": "0.92"})

    def silence(self) -> list[VerbJson]:
        return self._answer({})

    def hangup(self, duration_s: int = 60) -> None:
        extra = {"CallStatus": "completed", "CallDuration": str(duration_s)}
        params = twilio_params(
            self.settings, call_sid=self.call_sid, caller=self.caller, called=self.called
        )
        params.update(extra)
        self.post(self.url("/ivr/voice/status"), params)
        self.ended = True

    def _answer(self, extra: dict[str, str]) -> list[VerbJson]:
        if self.gather is None:
            raise RuntimeError("the line is not waiting for an answer")
        return self._turn(str(self.gather["action"]), extra)

    def _turn(self, url: str, extra: dict[str, str]) -> list[VerbJson]:
        self.verbs, self.gather = [], None
        for _hop in range(10):  # redirects are followed; a loop of them is a bug
            params = twilio_params(
                self.settings,
                call_sid=self.call_sid,
                caller=self.caller,
                called=self.called,
                Direction=self.direction,
                **extra,
            )
            verbs = parse_twiml(self.post(url, params))
            self.verbs += verbs
            last = verbs[-1] if verbs else {"verb": "hangup"}
            if last["verb"] == "redirect":
                url, extra = str(last["text"]), {}
                continue
            if last["verb"] == "gather":
                self.gather = last
            elif last["verb"] == "enqueue":
                self.queued = True
                hold = self.post(str(last["waitUrl"]), params | {"QueuePosition": "1"})
                self.verbs += parse_twiml(hold)
            else:
                self.ended = True
            return self.verbs
        raise RuntimeError("too many redirects")

    @property
    def said(self) -> list[str]:
        """The words spoken this turn, in order (inside gathers too)."""
        out: list[str] = []
        for verb in self.verbs:
            for v in [verb, *verb.get("children", [])]:
                if v["verb"] == "say":
                    out.append(str(v.get("text", "")))
        return out
