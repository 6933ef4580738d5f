"""Ports: the small interfaces the domain needs from the outside world.

Adapters (ivr/, web/) implement them; composition roots plug them in; tests use fakes
that record what they were asked to do. No implementation lives here but the trivial
system clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class SmsSender(Protocol):
    """Sends one SMS; returns the provider's message id."""

    def send(self, *, to: str, body: str) -> str: ...


class Clock(Protocol):
    """Tells the current time, timezone-aware UTC."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)
