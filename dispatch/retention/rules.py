"""What the retention purge keeps and what it blanks, and when it is due (pure; no database).

Kept, for statistics and money: every row and its counts, fees and ledger, dates, service,
district, village, status, channel, language. Blanked once older than `retention_days`:

- a call's recorded answers and progress (`CallSession.data`, `CallAnswer` rows) and its
  caller's number (masked, `+9198•••••123`): by the call's start;
- a message's body (and its recipient's number, masked): by its creation, once settled (not
  queued or sending);
- a feedback's and a grievance's comment, a closed grievance's note: by when it was asked /
  opened;
- a call-back's number (masked) and note: by its creation, once done;
- a citizen's name, phone (replaced by `purged:<id>`, which no phone line can match) and their
  addresses' landmarks and exact coordinates (moved to the village's): only when none of their
  requests is open and their last activity (registration, an address used, a request logged or
  changed) is older than the cutoff — with it, their closed requests' cancel reasons (the
  citizen's own words) go blank.

The audit trail is not touched: it holds ids, never a citizen's personal values (pinned by
tests/dispatch/test_audit_append_only.py), and it is append-only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

#: The purge's hour is read in India's time (every state served is in it).
ZONE = ZoneInfo("Asia/Kolkata")
#: What replaces a purged citizen's phone: unique per citizen (the column is unique per state),
#: never a valid number, so no caller and no search finds them again.
PURGED_PHONE_PREFIX = "purged:"
ACTOR = "retention"


def cutoff(now: dt.datetime, days: int) -> dt.datetime:
    """Records strictly older than this are purged."""
    return now - dt.timedelta(days=days)


def purged_phone(citizen_id: int) -> str:
    return f"{PURGED_PHONE_PREFIX}{citizen_id}"


def is_purged_phone(phone: str) -> bool:
    return phone.startswith(PURGED_PHONE_PREFIX)


def local_day(now: dt.datetime) -> dt.date:
    return now.astimezone(ZONE).date()


def due(*, now: dt.datetime, at: dt.time, last_run: dt.datetime | None) -> bool:
    """Whether the day's purge is due: from `at` (India's time), once a day."""
    local = now.astimezone(ZONE)
    if local.time() < at:
        return False
    return last_run is None or local_day(last_run) < local.date()


@dataclass(frozen=True)
class Purged:
    """How many records of each kind one purge blanked (what its audit entry says)."""

    calls: int = 0
    call_answers: int = 0
    messages: int = 0
    feedback: int = 0
    grievances: int = 0
    callbacks: int = 0
    citizens: int = 0
    addresses: int = 0
    requests: int = 0

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def counts(self) -> dict[str, int]:
        return asdict(self)
