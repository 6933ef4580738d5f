"""Shared input checks used by every service function (and so by the seed loader).

Each raises a subclass of `InvalidInput` that names the field and the bad value. Also the
maskers of personal numbers: `mask_phone` (a phone shown to someone who does not need it) and
`mask_aadhaar` / `mask_numbers` (an Aadhaar number typed or spoken into free text is never
stored: `dispatch.audit.guards` applies `mask_aadhaar` to every free-text column at the store).
"""

from __future__ import annotations

import re

import phonenumbers

from dispatch.errors import InvalidFee, InvalidInput, InvalidPhone

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
#: Twelve digits standing alone (not inside a word or a longer number, not after a "+"),
#: together or in groups (a space, dash or dot between any two): an Aadhaar number, Verhoeff-valid
#: or not. `\d` also reads Devanagari and other scripts' digits, as a speech result may give them.
AADHAAR = re.compile(r"(?<![\w+])(?<!\d[ .-])\d(?:[ .-]?\d){11}(?![ .-]?\d)(?!\w)")
#: Fields of `text` that hold a person's own words (where an Aadhaar number is masked).
WORDS = frozenset({"name", "landmark", "note", "reason", "comment"})
#: An Indian mobile number standing alone: ten digits from 6-9 (together, or 5 + 5), with or
#: without +91 / 91 / 0 before them.
MOBILE = re.compile(r"(?<![\w+])(?:\+?91[ -]?|0)?[6-9]\d{4}[ -]?\d{5}(?![ .-]?\d)(?!\w)")


def phone(value: str, *, field: str = "phone", region: str = "IN") -> str:
    """Normalise a phone number to E.164; raise `InvalidPhone` unless it is a valid number."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(field, value, "not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(field, value, "not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(value: str) -> str:
    """`+91 98•••••123`: enough to recognise, not enough to call."""
    if len(value) < 7:
        return "•" * len(value)
    return f"{value[:5]}{'•' * (len(value) - 8)}{value[-3:]}"


def mask_aadhaar(value: str) -> str:
    """`value` with every Aadhaar-like number in it masked to `XXXX XXXX 1234` (the last four
    digits are what the UIDAI's own masked Aadhaar shows)."""
    return AADHAAR.sub(lambda m: "XXXX XXXX " + _digits(m.group())[-4:], value)


def has_aadhaar(value: str) -> bool:
    return AADHAAR.search(value) is not None


def mask_personal_numbers(value: str) -> str:
    """`value` with every Aadhaar number (`mask_aadhaar`) and Indian mobile number
    (`mask_phone`) in it masked: for text kept where no personal number belongs (the audit log)."""
    return MOBILE.sub(lambda m: mask_phone("+91" + _digits(m.group())[-10:]), mask_aadhaar(value))


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def fee(value: int, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFee(field, value, "must be a whole number of paise")
    if value < 0:
        raise InvalidFee(field, value, "must not be negative")
    return value


def text(value: str | None, *, field: str, max_length: int = 200, required: bool = True) -> str:
    """Text, stripped and checked. In a person's words (`WORDS`: a name, a landmark, a note) an
    Aadhaar number is masked (`mask_aadhaar`) here already, so that what a service compares is
    what the store keeps; codes (a CSC ID is 12 digits) are kept as typed."""
    cleaned = (value or "").strip()
    if field in WORDS:
        cleaned = mask_aadhaar(cleaned)
    if required and not cleaned:
        raise InvalidInput(field, value, "is required")
    if len(cleaned) > max_length:
        raise InvalidInput(field, value, f"longer than {max_length} characters")
    return cleaned


def integer(value: object, *, field: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError as exc:
            raise InvalidInput(field, value, "must be a whole number") from exc
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, value, "must be a whole number")
    if low is not None and value < low:
        raise InvalidInput(field, value, f"must be at least {low}")
    if high is not None and value > high:
        raise InvalidInput(field, value, f"must be at most {high}")
    return value


def minutes_of_day(value: str, *, field: str) -> int:
    match = _HHMM.match(value.strip())
    if not match:
        raise InvalidInput(field, value, "expected a 24-hour time HH:MM")
    return int(match.group(1)) * 60 + int(match.group(2))


def choice(value: str, *, field: str, allowed: set[str] | frozenset[str]) -> str:
    if value not in allowed:
        raise InvalidInput(field, value, f"expected one of {', '.join(sorted(allowed))}")
    return value


def pincode(value: str | None, *, field: str = "pincode") -> str | None:
    if not value:
        return None
    if not re.fullmatch(r"[1-9]\d{5}", value.strip()):
        raise InvalidInput(field, value, "expected a 6-digit PIN code")
    return value.strip()
