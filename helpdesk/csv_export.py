"""CSV that is safe to open in a spreadsheet.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or
``@`` as a formula, and some also treat a leading tab or carriage return that way (OWASP
"CSV injection"). Every CSV the help desk hands out goes through :func:`safe_cell`, which
prefixes such text with an apostrophe so the spreadsheet shows it as text. Numbers are
left alone (a negative number is a number, not a formula).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` unchanged unless it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


def dict_rows_to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """A whole table (list of dicts with the same keys) as CSV text, header first."""
    out = io.StringIO()
    if rows:
        columns = list(rows[0].keys())
        writer = csv.writer(out)
        writer.writerow(safe_row(columns))
        writer.writerows(safe_row(row[c] for c in columns) for row in rows)
    return out.getvalue()
