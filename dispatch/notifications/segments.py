"""How many SMS segments a text costs, and in which encoding it travels (pure; no I/O).

A text made only of GSM 03.38 characters goes as GSM-7: 160 septets in a single message, 153
per segment once it is split (the user data header of a concatenated message takes the rest).
The extension table's characters (`^ { } \\ [ ~ ] | €` and form feed) are sent as an escape plus
a septet, so each counts 2 and is never split across two segments. Any other character (all of
Devanagari, Urdu's script, `₹`, curly quotes) makes the whole text UCS-2: 70 UTF-16 code units
in a single message, 67 per segment when split; a character outside the Basic Multilingual
Plane is a surrogate pair (2 units) and is never split either.

What this module does not do: choose look-alike replacements ("smart encoding"), or cut a
text; it only counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


#: The GSM 03.38 basic character set (the escape, 0x1B, is not a character of its own).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The extension table: each is sent as escape + septet, so it costs 2.
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

#: Capacity of one message on its own, and of each segment of a split one.
SINGLE = {Encoding.GSM7: 160, Encoding.UCS2: 70}
SPLIT = {Encoding.GSM7: 153, Encoding.UCS2: 67}


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """`segments` messages in `encoding`; `units` septets (GSM-7) or UTF-16 code units (UCS-2)."""

    encoding: Encoding
    segments: int
    units: int


def is_gsm(text: str) -> bool:
    """True if every character of `text` can go as GSM-7."""
    return all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)


def encoding(text: str) -> Encoding:
    return Encoding.GSM7 if is_gsm(text) else Encoding.UCS2


def _cost(char: str, used: Encoding) -> int:
    if used is Encoding.GSM7:
        return 2 if char in GSM_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def count(text: str) -> SegmentCount:
    """Segments `text` takes (an empty text still costs one message)."""
    used = encoding(text)
    costs = [_cost(char, used) for char in text]
    units = sum(costs)
    if units <= SINGLE[used]:
        return SegmentCount(encoding=used, segments=1, units=units)
    capacity = SPLIT[used]
    segments, filled = 1, 0
    for cost in costs:  # an escaped character or a surrogate pair is never split
        if filled + cost > capacity:
            segments, filled = segments + 1, 0
        filled += cost
    return SegmentCount(encoding=used, segments=segments, units=units)
