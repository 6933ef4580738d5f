"""Message texts: the words of every SMS, per language, read from `seed_data/messages/`.

One CSV file per written language (`key,text`, `{placeholders}` filled in at run time), so a
new state or language is new data, not new code. A language without a file falls back to
Hindi, then English (Kashmiri and Dogri are read by their speakers in Hindi's script today).
Holds the reading and the filling in; which message goes when is the use cases' business
(`dispatch.visits`).
"""

from __future__ import annotations

import csv
import datetime as dt
import string
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from dispatch.errors import InvalidInput

FALLBACKS = ("hi", "en")
#: Keys that are pieces of other messages (a date, "and", a payment method, a reason, one line
#: of a list of changes, the "next visit" tail of a reply, a closed grievance's outcome), never
#: sent alone: they have no DLT template of their own. Every other key is a whole message and
#: needs one (`dlt`).
FRAGMENTS = frozenset(
    {"date", "and", "none"}
    | {f"weekday_{i}" for i in range(7)}
    | {f"month_{i}" for i in range(1, 13)}
    | {"method_cash", "method_upi"}
    | {f"reason_{r}" for r in ("docs", "portal", "address", "refused", "other")}
    | {"change_added", "change_moved", "change_removed", "change_more"}
    | {"reply_next", "reply_last"}
    | {"money"}
    | {f"outcome_{o}" for o in ("put_right", "agent_spoken_to", "will_call", "no_fault")}
)
#: Files in the texts' folder that are not a language's texts.
NOT_LANGUAGES = frozenset({"dlt.csv"})
#: The keys every language's file must give (a test checks the files against this).
KEYS = frozenset(
    {"booked", "logged", "rescheduled", "cancelled", "assigned", "reminder", "on_the_way"}
    | {"receipt", "feedback_ask", "feedback_thanks", "failed", "no_show", "stopped", "started"}
    | {"itinerary_head", "itinerary_visit", "itinerary_changes"}
    | {"reply_arrived", "reply_done", "reply_failed", "reply_no_show", "reply_wrong_code"}
    | {"reply_not_found", "reply_not_today", "reply_closed", "reply_locked", "reply_help"}
    | {"reply_malformed"}
    | {"grievance_opened", "grievance_closed", "reoffered", "reoffer_waiting"}
    | FRAGMENTS
)


class Texts:
    """The message texts of every language found in one folder."""

    def __init__(self, by_language: dict[str, dict[str, str]]) -> None:
        self.by_language = by_language

    def language(self, wanted: str) -> str:
        """`wanted` if it has texts, else the first fallback that has."""
        for code in (wanted, *FALLBACKS):
            if code in self.by_language:
                return code
        raise InvalidInput("language", wanted, "no message texts in this language or Hindi")

    def text(self, key: str, language: str, **values: object) -> str:
        words = self.by_language[self.language(language)]
        if key not in words:
            raise InvalidInput("message", key, f"no text for it in {language}")
        return words[key].format(**values)

    def money(self, paise: int, language: str) -> str:
        """An amount as the language's messages write it: "Rs 50" in English (GSM-7, so an
        English SMS is not sent as Unicode for its rupee sign), "₹50" where the script is
        Unicode anyway."""
        whole, rest = divmod(paise, 100)
        amount = f"{whole}" if rest == 0 else f"{whole}.{rest:02d}"
        return self.text("money", language, rupees=amount)

    def listing(self, items: list[str], language: str) -> str:
        """ "a, b and c" in the language; its word for none if the list is empty."""
        if not items:
            return self.text("none", language)
        if len(items) == 1:
            return items[0]
        return f"{', '.join(items[:-1])} {self.text('and', language)} {items[-1]}"

    def window(self, start: dt.datetime, end: dt.datetime, language: str, timezone: str) -> str:
        """ "Tuesday 24 November 10:00-12:00" in the state's local time."""
        tz = ZoneInfo(timezone)
        local_start, local_end = start.astimezone(tz), end.astimezone(tz)
        day = self.text(
            "date",
            language,
            weekday=self.text(f"weekday_{local_start.weekday()}", language),
            day=local_start.day,
            month=self.text(f"month_{local_start.month}", language),
        )
        return f"{day} {local_start:%H:%M}-{local_end:%H:%M}"


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@lru_cache(maxsize=8)
def load(folder: Path) -> Texts:
    """Every `<language>.csv` in `folder` (read once per process; `dlt.csv` is not one)."""
    by_language: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.csv")):
        if path.name in NOT_LANGUAGES:
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            by_language[path.stem] = {row["key"]: row["text"] for row in csv.DictReader(handle)}
    if not by_language:
        raise InvalidInput("messages", str(folder), "no message texts found")
    return Texts(by_language)


def rupees(paise: int) -> str:
    """`₹250` or `₹250.50`, for SMS bodies."""
    whole, rest = divmod(paise, 100)
    return f"₹{whole}" if rest == 0 else f"₹{whole}.{rest:02d}"
