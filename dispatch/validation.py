"""Shared input checks used by every service function (and so by the seed loader).

Each raises a subclass of `InvalidInput` that names the field and the bad value.
"""

from __future__ import annotations

import re

import phonenumbers

from dispatch.errors import InvalidFee, InvalidInput, InvalidPhone

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


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


def fee(value: int, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFee(field, value, "must be a whole number of paise")
    if value < 0:
        raise InvalidFee(field, value, "must not be negative")
    return value


def text(value: str | None, *, field: str, max_length: int = 200, required: bool = True) -> str:
    cleaned = (value or "").strip()
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
