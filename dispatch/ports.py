"""Ports: the small interfaces the domain needs from the outside world.

Adapters (ivr/, web/) implement them; composition roots plug them in; tests use fakes
that record what they were asked to do. No implementation lives here but the trivial
system clock. The SMS port's failures are its own small tree, so the domain can tell "not
sent" from "maybe sent" without knowing any provider:

    SmsSendError
    ├── SmsNotAccepted      the provider surely does not have it (retry, unless permanent)
    └── SmsOutcomeUnknown   it may have accepted it (never retried blindly)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol


class SmsSendError(Exception):
    """Root of what an `SmsSender` raises when a message did not (surely) go."""


class SmsNotAccepted(SmsSendError):
    """The provider surely does not have the message: it answered with an error, or the
    connection failed before the request went out. Safe to send again, unless `permanent`
    (the request itself is wrong, e.g. an invalid number: sending it again cannot help).
    `code` is the provider's error code, when it gave one."""

    def __init__(self, reason: str, *, code: str | None = None, permanent: bool = False) -> None:
        self.reason = reason
        self.code = code
        self.permanent = permanent
        super().__init__(reason)


class SmsOutcomeUnknown(SmsSendError):
    """The request may have reached the provider, but no answer came (a timeout after sending,
    a connection dropped before the answer): it may have accepted the message. Never sent
    again automatically; a delivery-status callback or a person settles it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SmsSender(Protocol):
    """Sends one SMS; returns the provider's message id.

    `template_id` is the message's DLT template ID (India's carriers deliver only text matching
    a registered template; an Indian aggregator needs the ID with the message, Twilio matches
    the text itself). `reference` is ours for the message and this attempt: a sender that can
    ask for delivery reports carries it in the report's URL, so a report can be matched even
    when the provider's id never reached us. A sender that cannot tell whether the provider
    took the message raises `SmsOutcomeUnknown`, never `SmsNotAccepted`; anything else it
    raises counts as not accepted.
    """

    def send(
        self,
        *,
        to: str,
        body: str,
        template_id: str | None = None,
        reference: str | None = None,
    ) -> str: ...


class Clock(Protocol):
    """Tells the current time, timezone-aware UTC."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class CallPlacer(Protocol):
    """Places one outbound call to `to`; the line's webhooks take it from when it is answered.
    Returns the provider's call id; raises on failure (nothing was placed, or it is unknown)."""

    def place(self, *, to: str) -> str: ...


@dataclass(frozen=True)
class SolveJob:
    """One zone-day's re-plan handed to a solver (`dispatch.scheduled.hand_out_solves`): the
    lease's token proves it is still this job's when the solver saves."""

    district_id: int
    day: dt.date
    token: str
    time_limit_s: float
    evening: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "district_id": self.district_id,
            "day": self.day.isoformat(),
            "token": self.token,
            "time_limit_s": self.time_limit_s,
            "evening": self.evening,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SolveJob:
        return cls(
            int(data["district_id"]),
            dt.date.fromisoformat(str(data["day"])),
            str(data["token"]),
            float(data["time_limit_s"]),
            bool(data.get("evening", False)),
        )


class SolveQueue(Protocol):
    """Where zone solves go: local processes (the default) or a queue that solver machines
    read (`web.solving`). `submit` returns once the job is taken, not when it is solved."""

    def submit(self, job: SolveJob) -> None: ...
