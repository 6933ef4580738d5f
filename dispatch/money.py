"""Rupees as people type and read them, and integer paise as the ledger keeps them.

`paise_of` reads an amount typed in rupees ("450", "450.5", "450.50", "₹1,450", "Rs 450")
into exact integer paise with no float on the way (4.35 rupees is 435 paise, not 434);
`rupees` writes paise back as "₹1,450.50" for the reasons reconciliation gives; `plain` as a
form field shows it ("1450.50"), read back exactly. All pure; every form that takes money (an
agent's takings, a supervisor's hand-over, a service's fees) reads it here.

Not here: money on pages (`web.templating.rupees` is the same format) or in SMS
(`dispatch.notifications.texts`, per language); the limits of each amount (its caller's).
"""

from __future__ import annotations

import re

from dispatch.errors import InvalidFee

#: Digits with an optional thousands grouping (Indian "1,00,000" or "100,000") and up to two
#: decimals. ASCII digits only: the form asks for them (`inputmode="decimal"`).
_AMOUNT = re.compile(r"(?P<whole>[0-9]+|[0-9]{1,3}(?:,[0-9]{2,3})+)(?:\.(?P<frac>[0-9]{0,2}))?")
_CURRENCY = re.compile(r"^(?:₹|rs\.?|inr)\s*", re.IGNORECASE)


def paise_of(text: str, *, field: str, most: int, blank: int | None = 0) -> int:
    """Exact paise of an amount typed in rupees, at most `most`; `InvalidFee` (naming `field`)
    with words a person can act on for anything else. An empty text is `blank` (refused when
    None)."""
    cleaned = _CURRENCY.sub("", (text or "").strip()).strip()
    if not cleaned:
        if blank is None:
            raise InvalidFee(field, text, "type an amount in rupees, like 30 or 30.50")
        return blank
    if cleaned.startswith("-"):
        raise InvalidFee(field, text, "cannot be negative")
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        if re.fullmatch(r"[0-9]*\.[0-9]{3,}", cleaned):
            raise InvalidFee(field, text, "at most two digits after the point (paise)")
        raise InvalidFee(field, text, "type an amount in rupees, like 450 or 450.50")
    whole = int(match["whole"].replace(",", ""))
    frac = (match["frac"] or "").ljust(2, "0")
    paise = whole * 100 + int(frac)
    if paise > most:
        raise InvalidFee(field, text, f"more than {rupees(most)}: check the amount")
    return paise


def rupees(paise: int) -> str:
    """`₹1,234.50` (`₹1,234` for whole rupees; `-₹50` below zero)."""
    sign = "-" if paise < 0 else ""
    whole, frac = divmod(abs(paise), 100)
    return f"{sign}₹{whole:,}" if frac == 0 else f"{sign}₹{whole:,}.{frac:02d}"


def plain(paise: int) -> str:
    """Paise as a form field shows rupees: "30", or "30.50" (`paise_of` reads it back)."""
    whole, frac = divmod(paise, 100)
    return f"{whole}" if frac == 0 else f"{whole}.{frac:02d}"
