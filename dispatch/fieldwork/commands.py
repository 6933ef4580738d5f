"""The SMS commands agents and citizens send to the state's number, read into typed values.

Holds the grammar and nothing else: `parse(text, default_state=...)` turns one message into one
frozen command (`Arrive`, `Complete`, `Fail`, `NoShow`, `Help`, `Stop`, `Start`, `Rating`) or a
`Malformed` carrying a short reply that tells the sender how to put it right. It never raises on
what a phone sends. The fail reasons an agent may give are data here too (`FailReason`): a code
word and a keypad digit each, so a phone menu can offer the same list.

Not here: who sent the message (an agent's or a citizen's number), whether the request exists
or may move to the new status, checking the visit code against the stored one
(`dispatch.visits.rules.code_matches`), recording anything or sending the reply. No database,
no clock, no I/O.

Agents type on basic phones, so the reading is forgiving: keywords in any case and with common
aliases, commas and extra spaces, references with or without the state prefix and dashes,
Devanagari or other non-ASCII digits, and a trailing signature (words after a complete command,
and anything after a `--`, are ignored). It is strict where a slip costs money or a visit:
a reference whose Verhoeff check digit fails is refused as mistyped, and a number that looks
like a UPI reference but is not one is refused rather than recorded as cash.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from dispatch.errors import InvalidReference
from dispatch.requests.rules import KEYPAD_DIGITS, make_reference, parse_reference
from dispatch.visits.rules import CODE_DIGITS

# --- fail reasons ---------------------------------------------------------------------------


class FailReason(StrEnum):
    """Why an agent could not deliver the service at the door (`FAIL <ref> <reason>`)."""

    DOCS = "docs"
    PORTAL = "portal"
    ADDRESS = "address"
    REFUSED = "refused"
    OTHER = "other"

    @property
    def code(self) -> str:
        """The word an agent types: `DOCS`."""
        return self.name

    @property
    def keypad(self) -> int:
        """The digit an agent may type (or key in a phone menu) instead of the word."""
        return _REASON_DETAILS[self][0]

    @property
    def description(self) -> str:
        """Plain English, for the console and the help text."""
        return _REASON_DETAILS[self][1]


_REASON_DETAILS: dict[FailReason, tuple[int, str]] = {
    FailReason.DOCS: (1, "documents missing"),
    FailReason.PORTAL: (2, "portal or network down"),
    FailReason.ADDRESS: (3, "address not found"),
    FailReason.REFUSED: (4, "citizen declined the service"),
    FailReason.OTHER: (9, "other"),
}
#: Other words agents use for the same reasons (upper case, without dashes).
_REASON_ALIASES: dict[str, FailReason] = {
    "DOC": FailReason.DOCS,
    "DOCUMENTS": FailReason.DOCS,
    "NETWORK": FailReason.PORTAL,
    "SERVER": FailReason.PORTAL,
    "ADDR": FailReason.ADDRESS,
    "NOTFOUND": FailReason.ADDRESS,
    "REFUSE": FailReason.REFUSED,
    "DECLINED": FailReason.REFUSED,
}


def fail_reason_for_word(word: str) -> FailReason | None:
    """The reason an agent named by its code word (`docs`, `DOCS`, `Documents`), or None."""
    key = word.strip().upper().replace("-", "")
    if key in FailReason.__members__:
        return FailReason[key]
    return _REASON_ALIASES.get(key)


def fail_reason_for_keypad(key: str) -> FailReason | None:
    """The reason an agent chose by its keypad digit (`"3"`, also `"३"`), or None."""
    digit = _ascii_digits(key.strip())
    return next((reason for reason in FailReason if str(reason.keypad) == digit), None)


# --- what a message may say -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrive:
    """`ARR <ref>`: the agent is at the citizen's door."""

    reference: str


@dataclass(frozen=True, slots=True)
class Complete:
    """`DONE <ref> <visit code> [UPI ref]`: served; paid by UPI if a reference is given, else cash.

    `visit_code` is the 4 digits as typed, not yet checked against the stored code.
    """

    reference: str
    visit_code: str
    upi_reference: str | None


@dataclass(frozen=True, slots=True)
class Fail:
    """`FAIL <ref> <reason>`: the agent met the citizen but could not deliver the service."""

    reference: str
    reason: FailReason


@dataclass(frozen=True, slots=True)
class NoShow:
    """`NOSHOW <ref>`: nobody was at the door."""

    reference: str


@dataclass(frozen=True, slots=True)
class Help:
    """`HELP`: send the list of commands."""


@dataclass(frozen=True, slots=True)
class Stop:
    """`STOP`: the citizen wants no more non-essential messages."""


@dataclass(frozen=True, slots=True)
class Start:
    """`START`: the citizen takes non-essential messages again."""


@dataclass(frozen=True, slots=True)
class Rating:
    """A citizen's feedback reply: `4` or `4 good service` (the rest is the comment)."""

    stars: int
    comment: str


class Problem(StrEnum):
    """What was wrong with a message: a closed set, so logs never carry what a person typed."""

    EMPTY = "empty message"
    UNKNOWN_COMMAND = "unknown command"
    REFERENCE_MISSING = "reference missing"
    REFERENCE_LENGTH = "reference has the wrong number of digits"
    REFERENCE_CHECK_DIGIT = "reference check digit does not match"
    VISIT_CODE_MISSING = "visit code missing"
    VISIT_CODE_LENGTH = "visit code has the wrong number of digits"
    UPI_REFERENCE = "UPI reference not recognised"
    REASON_MISSING = "fail reason missing"
    REASON_UNKNOWN = "fail reason unknown"
    RATING_RANGE = "rating out of range"


@dataclass(frozen=True, slots=True)
class Malformed:
    """A message that could not be read: `hint` is the reply (one GSM-7 SMS, at most 160)."""

    problem: Problem
    hint: str


Command: TypeAlias = Arrive | Complete | Fail | NoShow | Help | Stop | Start | Rating | Malformed

_REASON_LIST = ", ".join(f"{reason.keypad} {reason.code}" for reason in FailReason)
#: The reply to HELP: one SMS in GSM-7 (no `|`, `[`, `]`: they count double).
HELP_TEXT = (
    "ARR ref; DONE ref code (UPI ref); FAIL ref reason; NOSHOW ref. "
    f"Reasons: {_REASON_LIST}. Citizens: STOP, START, rate 1-5"
)

# --- reading --------------------------------------------------------------------------------

#: A message is read up to this length (ten SMS segments); the rest cannot be a command.
MAX_MESSAGE_CHARS = 1600
#: Longest comment kept with a rating.
MAX_COMMENT_CHARS = 500
UPI_RRN_DIGITS = 12
_UPI_ID = re.compile(r"[A-Za-z0-9]{8,35}")
_UPI_MARKERS = frozenset({"UPI", "RRN", "UTR", "TXN", "REF"})
_STATE = re.compile(r"[A-Z]{2,4}")
_PREFIXED = re.compile(r"([A-Za-z]{2,4})-*([0-9][0-9-]*)?")
_DIGITS = re.compile(r"[0-9][0-9-]*")
_RATING = re.compile(r"([0-9])[.!,)]*(?:\s+(.*))?", re.DOTALL)
# Zero-width characters some phones put around a message.
_INVISIBLE = string.whitespace + "\u200b\u200c\u200d\u2060\ufeff"

_KEYWORDS = {
    "ARR": "ARR",
    "ARRIVE": "ARR",
    "ARRIVED": "ARR",
    "REACHED": "ARR",
    "DONE": "DONE",
    "COMPLETE": "DONE",
    "COMPLETED": "DONE",
    "FAIL": "FAIL",
    "FAILED": "FAIL",
    "NOSHOW": "NOSHOW",
    "HELP": "HELP",
    "STOP": "STOP",
    "START": "START",
}


def parse(text: str, *, default_state: str) -> Command:
    """Read one SMS. References typed without a state prefix get `default_state`'s."""
    text = _ascii_digits(text.strip(_INVISIBLE)[:MAX_MESSAGE_CHARS]).strip(_INVISIBLE)
    example = _example_reference(default_state)
    if not text:
        return Malformed(Problem.EMPTY, HELP_TEXT)
    rating = _RATING.fullmatch(text)
    if rating:
        return _rating(int(rating.group(1)), rating.group(2) or "")
    words = _words(text)
    keyword, arguments = _keyword(words)
    if keyword == "HELP":
        return Help()
    if keyword == "STOP":
        return Stop()
    if keyword == "START":
        return Start()
    if keyword is None:
        return Malformed(
            Problem.UNKNOWN_COMMAND,
            "Not understood. Field agents: send HELP for the commands. "
            "Citizens: reply 1 to 5 to rate your visit, or STOP to stop messages.",
        )
    read = _reference(arguments, keyword, default_state, example)
    if isinstance(read, Malformed):
        return read
    reference, rest = read
    if keyword == "ARR":
        return Arrive(reference)
    if keyword == "NOSHOW":
        return NoShow(reference)
    if keyword == "FAIL":
        return _fail(reference, rest, example)
    return _complete(reference, rest, example)


def _rating(stars: int, comment: str) -> Rating | Malformed:
    if not 1 <= stars <= 5:
        return Malformed(
            Problem.RATING_RANGE,
            "Please rate your visit with one number from 1 (poor) to 5 (excellent).",
        )
    return Rating(stars, comment.strip()[:MAX_COMMENT_CHARS])


def _keyword(words: list[str]) -> tuple[str | None, list[str]]:
    if not words:
        return None, []
    first = words[0].upper().replace("-", "")
    if first == "NO" and len(words) > 1 and words[1].upper() == "SHOW":
        return "NOSHOW", words[2:]
    return _KEYWORDS.get(first), words[1:]


def _reference(
    words: list[str], keyword: str, default_state: str, example: str
) -> tuple[str, list[str]] | Malformed:
    """The reference at the start of `words` (it may be split by spaces), and what follows."""
    prefix, digits, taken = "", "", 0
    if words:
        prefixed = _PREFIXED.fullmatch(words[0])
        if prefixed:
            prefix, digits, taken = prefixed.group(1), _only_digits(prefixed.group(2) or ""), 1
    taken, digits = _gather_digits(words, taken, digits, KEYPAD_DIGITS)
    if not digits:
        return Malformed(Problem.REFERENCE_MISSING, _usage(keyword, example))
    if len(digits) != KEYPAD_DIGITS:
        return Malformed(
            Problem.REFERENCE_LENGTH,
            f"{keyword}: a reference has {KEYPAD_DIGITS} digits, e.g. {example}. "
            "Please check it on the request and send again.",
        )
    try:
        reference = parse_reference(
            f"{prefix}-{digits}" if prefix else digits, default_state=default_state
        )
    except InvalidReference:
        shown = f"{prefix.upper()}-" if prefix else ""
        shown += f"{digits[:2]}-{digits[2:-1]}-{digits[-1]}"
        return Malformed(
            Problem.REFERENCE_CHECK_DIGIT,
            f"{keyword}: reference {shown} looks mistyped (its check digit does not match). "
            "Please check it on the request and send again.",
        )
    return reference, words[taken:]


def _fail(reference: str, words: list[str], example: str) -> Fail | Malformed:
    if not words:
        return Malformed(Problem.REASON_MISSING, _usage("FAIL", example))
    word = words[0]
    reason = fail_reason_for_keypad(word) if word.isdigit() else fail_reason_for_word(word)
    if reason is None:
        return Malformed(
            Problem.REASON_UNKNOWN, f"FAIL: the reasons are {_REASON_LIST}. E.g. FAIL {example} 3"
        )
    return Fail(reference, reason)


def _complete(reference: str, words: list[str], example: str) -> Complete | Malformed:
    taken, code = _gather_digits(words, 0, "", CODE_DIGITS)
    if not code:
        return Malformed(Problem.VISIT_CODE_MISSING, _usage("DONE", example))
    if len(code) != CODE_DIGITS:
        return Malformed(
            Problem.VISIT_CODE_LENGTH,
            f"DONE: the visit code is the citizen's {CODE_DIGITS} digits, e.g. DONE {example} 4821",
        )
    rest = words[taken:]
    marked = False
    while rest and rest[0].upper() in _UPI_MARKERS:
        marked, rest = True, rest[1:]
    if rest and _DIGITS.fullmatch(rest[0]):
        # An RRN may be typed in groups, like the reference.
        _, rrn = _gather_digits(rest, 0, "", UPI_RRN_DIGITS)
        return Complete(reference, code, rrn) if len(rrn) == UPI_RRN_DIGITS else _bad_upi()
    if rest and _UPI_ID.fullmatch(rest[0]) and any(ch.isdigit() for ch in rest[0]):
        return Complete(reference, code, rest[0])
    if marked or (rest and any(ch.isdigit() for ch in rest[0])):
        # Something meant as a payment reference but not one: recording the visit as paid in
        # cash would be wrong, so ask again.
        return _bad_upi()
    # Words after the code (CASH, a signature) leave the visit paid in cash.
    return Complete(reference, code, None)


def upi_reference_ok(text: str) -> bool:
    """Whether `text` is a UPI payment reference as `DONE` accepts it: a 12-digit RRN (spaces
    allowed) or a transaction ID of 8-35 letters and digits with a digit in it. For the other
    ways in (the day page), so a typo is refused the same way everywhere."""
    text = text.strip()
    digits = text.replace(" ", "")
    if digits.isascii() and digits.isdigit():
        return len(digits) == UPI_RRN_DIGITS
    return bool(_UPI_ID.fullmatch(text)) and any(ch.isdigit() for ch in text)


def _bad_upi() -> Malformed:
    return Malformed(
        Problem.UPI_REFERENCE,
        f"DONE: the UPI ref is the {UPI_RRN_DIGITS}-digit number on the payment "
        "(or its transaction ID). Leave it out if paid in cash.",
    )


def _usage(keyword: str, example: str) -> str:
    if keyword == "DONE":
        return (
            f"DONE needs the reference and the citizen's {CODE_DIGITS}-digit visit code: "
            f"DONE {example} 4821 (add the UPI ref if paid by UPI)"
        )
    if keyword == "FAIL":
        return f"FAIL needs the reference and a reason: {_REASON_LIST}. E.g. FAIL {example} 3"
    return f"{keyword} needs the reference: {keyword} {example}"


def _gather_digits(words: list[str], start: int, digits: str, wanted: int) -> tuple[int, str]:
    """Add the digits of whole numeric words from `start` until there are `wanted` or more."""
    index = start
    while len(digits) < wanted and index < len(words) and _DIGITS.fullmatch(words[index]):
        digits += _only_digits(words[index])
        index += 1
    return index, digits


def _words(text: str) -> list[str]:
    """Split on spaces and punctuation (dashes stay: references have them), up to a `--`."""
    kept: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Pd" or ch in "-−":
            kept.append("-")
        elif ch.isspace() or category[0] in "PSCZ":
            kept.append(" ")
        else:
            kept.append(ch)
    words: list[str] = []
    for word in "".join(kept).split():
        if len(word) > 1 and not word.strip("-"):
            break  # `--` starts a signature
        if word.strip("-"):
            words.append(word.strip("-"))
    return words


def _ascii_digits(text: str) -> str:
    """`४८२१` (Devanagari), `۴۸۲۱` (Urdu) and other decimal digits as ASCII `4821`."""
    return "".join(
        str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text
    )


def _only_digits(text: str) -> str:
    return "".join(ch for ch in text if ch in "0123456789")


def _example_reference(default_state: str) -> str:
    """A valid reference to show in replies, in the sender's own state where it is sane."""
    state = default_state.upper()
    return make_reference(state, 26, 123) if _STATE.fullmatch(state) else "26-000123-5"
