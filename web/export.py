"""CSV exports of the console's tables: every supervision table has one, with the same rows and
columns as the page (money in rupees with two decimals, times in the state's local time).

The file opens in a spreadsheet as it is: UTF-8 with a byte-order mark (Excel needs it for
Devanagari and Urdu names), and a text cell that starts like a formula is quoted so a
spreadsheet does not run it (CSV injection: a citizen's comment could start with "="). A
number stays a number, a negative one too ("-50.00" from `paise_cell` sums in a spreadsheet).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

from fastapi.responses import Response

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A plain number as the exports write one (`paise_cell`'s "-50.00", a count): nothing a
#: spreadsheet could run, so it is left to be read as a number.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def cell(value: object) -> str:
    """One cell as text. Numbers (ints, floats, and texts that are a plain number such as
    `paise_cell`'s "-50.00") are written as they are, so -5 stays a number; any other text a
    spreadsheet would read as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _PLAIN_NUMBER.fullmatch(text):
        return text
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def paise_cell(paise: int) -> str:
    """Money as rupees with two decimals (a number a spreadsheet sums), e.g. `1234.50`."""
    sign = "-" if paise < 0 else ""
    whole, frac = divmod(abs(paise), 100)
    return f"{sign}{whole}.{frac:02d}"


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Response:
    """A download of the table as `filename` (e.g. `pendency-2026-12-01.csv`)."""
    body = "\ufeff" + csv_text(header, rows)
    return Response(
        content=body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",  # personal data: not kept by a shared cache
        },
    )
