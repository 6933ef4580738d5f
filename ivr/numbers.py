"""Numbers in Twilio's parameters (durations, queue positions), read strictly: ASCII digits
only and within bounds, so odd but signed input (40 digits, Arabic-Indic digits) is ignored
instead of failing a webhook."""

from __future__ import annotations

import re

_ASCII_DIGITS = re.compile(r"[0-9]{1,9}")
#: Longer than any phone call or queue wait (a day), shorter than any column overflows.
MAX_SECONDS = 86_400
MAX_COUNT = 10_000


def _bounded(text: str | None, most: int) -> int | None:
    if text is None or not _ASCII_DIGITS.fullmatch(text.strip()):
        return None
    value = int(text.strip())
    return value if value <= most else None


def seconds(text: str | None) -> int | None:
    """A duration in whole seconds, or None when absent, malformed or beyond a day."""
    return _bounded(text, MAX_SECONDS)


def count(text: str | None) -> int | None:
    """A small count (a queue position), or None when absent, malformed or implausible."""
    return _bounded(text, MAX_COUNT)
