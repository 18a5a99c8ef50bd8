"""CSV exports that a spreadsheet opens safely (OWASP, "CSV Injection").

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel and LibreOffice
as a formula (``=HYPERLINK(...)`` in an item name becomes a link that leaks data when clicked): such text is written
with a leading single quote, which spreadsheets show as text.  Only text is touched: numbers the portal writes
itself (an int or Decimal, e.g. a negative adjustment) stay numbers, so totals still add up.  Every CSV export goes
through ``csv_writer`` (a test fails on a bare ``csv.writer`` elsewhere).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """`value` as a spreadsheet should show it: text that would be evaluated gets a leading quote; anything else
    (numbers, None) is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write returns the line: the writer then yields lines for a streamed response."""

    def write(self, value: str) -> str:
        return value


class SafeWriter:
    """``csv.writer`` whose rows are neutralised cell by cell; ``writerow`` returns the line it wrote."""

    def __init__(self, stream=None, **options):
        self._writer = csv.writer(stream if stream is not None else _Echo(), **options)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream=None, **options) -> SafeWriter:
    """A CSV writer for an export; without `stream`, ``writerow`` returns each line (for streaming responses)."""
    return SafeWriter(stream, **options)
