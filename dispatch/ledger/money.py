"""Rupees as people type and read them, and integer paise as the ledger keeps them.

`paise_of` reads an amount typed in rupees ("450", "450.5", "450.50", "₹1,450", "Rs 450")
into exact integer paise with no float on the way (4.35 rupees is 435 paise, not 434);
`rupees` writes paise back as "₹1,450.50" for the reasons reconciliation gives. Both pure.

Not here: money on pages (`web.templating.rupees` is the same format) or in SMS
(`dispatch.notifications.texts`, per language).
"""

from __future__ import annotations

import re

from dispatch.errors import InvalidFee

#: The most one agent may declare for one day, each of cash and UPI: an agent sees at most a
#: few dozen citizens a day at fees of a few hundred rupees; more is a slip of the thumb.
MOST_DECLARED_PAISE = 100_000_00  # ₹1,00,000

#: Digits with an optional thousands grouping (Indian "1,00,000" or "100,000") and up to two
#: decimals. ASCII digits only: the form asks for them (`inputmode="decimal"`).
_AMOUNT = re.compile(r"(?P<whole>[0-9]+|[0-9]{1,3}(?:,[0-9]{2,3})+)(?:\.(?P<frac>[0-9]{0,2}))?")
_CURRENCY = re.compile(r"^(?:₹|rs\.?|inr)\s*", re.IGNORECASE)


def paise_of(text: str, *, field: str, most: int = MOST_DECLARED_PAISE) -> int:
    """Exact paise of an amount typed in rupees; `InvalidFee` (naming `field`) with words a
    person can act on for anything else. An empty text is zero."""
    cleaned = _CURRENCY.sub("", text.strip())
    if not cleaned:
        return 0
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
