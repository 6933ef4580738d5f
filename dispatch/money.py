"""Rupees as people type and read them, and integer paise as the ledger keeps them.

`paise_of` reads an amount typed in rupees ("450", "450.5", "450.50", "₹1,450", "1,00,000",
"Rs 450") into exact integer paise with no float on the way (4.35 rupees is 435 paise, not
434); `rupees` writes paise back in Indian grouping ("₹1,00,000.50") for pages and for the
reasons reconciliation gives; `plain` as a form field shows it ("100000.50"), read back
exactly. All pure; every form that takes money (an agent's takings, a supervisor's hand-over,
a service's fees) reads it here, and the console's `rupees` filter is this `rupees`.

Commas only group digits, never mark paise: "450,50" or "1,23" is refused (a decimal comma
read as a thousands separator would make ₹450.50 into ₹45,050). A grouping is either Indian
(the last group of three digits, the ones before it of two: "12,34,567") or Western (all of
three: "1,234,567"), never a mix.

Not here: money in SMS (`dispatch.notifications.texts`, per language); the limits of each
amount (its caller's).
"""

from __future__ import annotations

import re

from dispatch.errors import InvalidFee

#: An amount as typed: digits (maybe with commas) and maybe a point with digits after it.
#: ASCII digits only: the forms ask for them (`inputmode="decimal"`).
_AMOUNT = re.compile(r"(?P<whole>[0-9][0-9,]*)(?:\.(?P<frac>[0-9]*))?")
#: The rupees before the point when they hold commas: Western ("100,000", "1,234,567") or
#: Indian ("1,00,000", "12,34,567") grouping, the first group not starting with 0.
_GROUPED = re.compile(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+|[1-9][0-9]?(?:,[0-9]{2})*,[0-9]{3}")
_CURRENCY = re.compile(r"^(?:₹|rs\.?|inr)\s*", re.IGNORECASE)

DECIMAL_COMMA = "use a point for paise, like 450.50"
BAD_GROUPING = "commas go between thousands only, like 1,450.50 or 1,00,000"


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
        raise InvalidFee(field, text, "type an amount in rupees, like 450 or 450.50")
    whole_text, frac = match["whole"], match["frac"] or ""
    if "," in whole_text and not _GROUPED.fullmatch(whole_text):
        # "450,50", "1,23": a comma where the point goes. With a point too ("1,45.50"), the
        # commas are in the wrong places.
        raise InvalidFee(field, text, BAD_GROUPING if match["frac"] is not None else DECIMAL_COMMA)
    if len(frac) > 2:
        raise InvalidFee(field, text, "at most two digits after the point (paise)")
    paise = int(whole_text.replace(",", "")) * 100 + int(frac.ljust(2, "0"))
    if paise > most:
        raise InvalidFee(field, text, f"more than {rupees(most)}: check the amount")
    return paise


def grouped(whole: int) -> str:
    """A whole number of rupees in Indian grouping: 999, 1,000, 1,00,000, 12,34,567."""
    digits = str(whole)
    if len(digits) <= 3:
        return digits
    head, groups = digits[:-3], [digits[-3:]]
    while len(head) > 2:
        head, groups = head[:-2], [head[-2:], *groups]
    return ",".join([head, *groups])


def rupees(paise: int) -> str:
    """`₹1,234.50` in Indian grouping (`₹1,00,000`; `₹1,234` for whole rupees; `-₹50` below
    zero): money on every page, and in the reasons the ledger gives."""
    sign = "-" if paise < 0 else ""
    whole, frac = divmod(abs(paise), 100)
    text = grouped(whole)
    return f"{sign}₹{text}" if frac == 0 else f"{sign}₹{text}.{frac:02d}"


def plain(paise: int) -> str:
    """Paise as a form field shows rupees: "30", or "30.50" (`paise_of` reads it back)."""
    whole, frac = divmod(paise, 100)
    return f"{whole}" if frac == 0 else f"{whole}.{frac:02d}"
