"""India's DLT templates: which registered template each message is, and whether a text fits it.

Carriers in India deliver a commercial or government SMS only when its text matches a
template registered on a DLT (distributed ledger) platform under the sender's entity ID and
header. A template is the message's fixed words with each variable part written `{#var#}`;
one variable holds at most 30 characters, so a value that may run longer (a list of
documents, a long service name) takes several variables side by side. The registrations are
data, `seed_data/messages/dlt.csv` (`key,language,template_id,template`): one row per whole
message (not the fragments, `texts.FRAGMENTS`) of every language file beside it.

What this module does not hold: the entity ID and header (settings: `dlt_entity_id`,
`dlt_header`), or any check made by a carrier (we can only make sure our texts would pass).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dispatch.errors import InvalidInput

VARIABLE = "{#var#}"
#: The most characters DLT lets one variable hold.
VARIABLE_LIMIT = 30
FILE_NAME = "dlt.csv"
#: Template IDs the data file holds until the state's real registrations are filled in.
DEVELOPMENT_PREFIX = "DEV-"


@lru_cache(maxsize=1024)
def pattern(template: str) -> re.Pattern[str]:
    """The texts `template` admits: its words exactly, each `{#var#}` any text up to the limit.

    Adjacent variables are one run of up to `n * VARIABLE_LIMIT` characters (the same texts):
    matched as separate lazy groups they backtrack combinatorially, about 40 ms a message."""
    parts = re.split(f"((?:{re.escape(VARIABLE)})+)", template)
    regex = []
    for part in parts:
        if part.startswith(VARIABLE) and part == VARIABLE * (len(part) // len(VARIABLE)):
            regex.append(f"(?:.{{0,{VARIABLE_LIMIT * (len(part) // len(VARIABLE))}}}?)")
        else:
            regex.append(re.escape(part))
    return re.compile("".join(regex), re.DOTALL)


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered template: message `key` in `language`."""

    key: str
    language: str
    template_id: str
    template: str

    def admits(self, text: str) -> bool:
        return pattern(self.template).fullmatch(text) is not None


class Registrations:
    """Every registered template, by message key and language."""

    def __init__(self, rows: list[Registration]) -> None:
        self.rows = rows
        self._by_key = {(row.key, row.language): row for row in rows}

    def get(self, key: str, language: str) -> Registration | None:
        return self._by_key.get((key, language))

    def development_ids(self) -> list[str]:
        """Template IDs that are still development placeholders."""
        return [r.template_id for r in self.rows if r.template_id.startswith(DEVELOPMENT_PREFIX)]


@lru_cache(maxsize=8)
def load(folder: Path) -> Registrations:
    """The registrations in `folder/dlt.csv` (read once per process); none if it is absent."""
    path = folder / FILE_NAME
    if not path.is_file():
        return Registrations([])
    rows: list[Registration] = []
    seen: set[tuple[str, str]] = set()
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            registration = Registration(
                key=row["key"].strip(),
                language=row["language"].strip(),
                template_id=row["template_id"].strip(),
                template=row["template"],
            )
            if (registration.key, registration.language) in seen:
                raise InvalidInput(
                    "dlt template", f"{registration.key}/{registration.language}", "given twice"
                )
            seen.add((registration.key, registration.language))
            rows.append(registration)
    return Registrations(rows)
