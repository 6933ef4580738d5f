"""An audited thing's history as the admin pages show it: who did what when, and for a change
each field's value before and after (money in rupees, lists joined, times as they were typed).

Shared by the agents' and the services' pages; it reads what `dispatch.audit` recorded and
decides only the words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.audit.models import AuditEntry
from web.templating import rupees

#: How the pages name an audit action.
ACTIONS = {
    "create": "created",
    "update": "changed",
    "leave": "leave put in",
    "leave_removed": "leave taken back",
    "leave_visits": "visits moved for leave",
}


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class Row:
    at: str
    who: str
    what: str
    changes: list[Change]
    note: str


def shown(field: str, value: Any) -> str:
    """A recorded value in words."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field.endswith("_paise") and isinstance(value, int):
        return rupees(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def rows(
    entries: Sequence[AuditEntry],
    tz: ZoneInfo,
    labels: dict[str, str],
    note: Callable[[AuditEntry], str] | None = None,
) -> list[Row]:
    """Each entry as a row: a change lists its fields (named by `labels`) before → after."""
    out = []
    for entry in entries:
        before: dict[str, Any] = entry.detail.get("before") or {}
        after: dict[str, Any] = entry.detail.get("after") or {}
        changes = []
        if entry.action != "create":
            for field in [*before, *(k for k in after if k not in before)]:
                changes.append(
                    Change(
                        labels.get(field, field.replace("_", " ")),
                        shown(field, before.get(field)),
                        shown(field, after.get(field)),
                    )
                )
        out.append(
            Row(
                at=f"{_aware(entry.at).astimezone(tz):%d %b %Y, %H:%M}",
                who=entry.actor.removeprefix("staff:"),
                what=ACTIONS.get(entry.action, entry.action.replace("_", " ")),
                changes=changes,
                note=note(entry) if note is not None else "",
            )
        )
    return out


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
