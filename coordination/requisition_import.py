"""Reading a sheet of requisition lines (CSV or XLSX) into the line editor of the new-requisition page.

A sheet holds one line per row: the NSN (with or without dashes: ``9130-12-000-0002`` or ``9130120000002``) and the
quantity, and optionally the line's own required delivery date (``rdd``, ``YYYY-MM-DD``) and whether substitutes are
allowed (``substitutes``: yes/no).  A first row naming the columns (``nsn``, ``quantity``, ``rdd``, ``substitutes``,
in any order, any case) is read as the header; without one the columns are taken in that order.  CSV may be
separated by commas, semicolons (a French spreadsheet's export) or tabs, in UTF-8 or Windows-1252.

Reading is all or nothing: every bad row is reported by its row number as the spreadsheet shows it (an NSN the
catalog does not know, a quantity that is not a positive whole number, a date that is not one or is past, an NSN
twice), and then no line is returned.  Nothing is written here: the lines fill the editor, and the requisition is
created when the officer saves or submits it (``coordination.requisitions.create_requisition``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext as _

from core.filters import dashed_nsn
from inventory.api.serializers import MAX_QUANTITY
from inventory.models import NSN_PATTERN, Item

from .requisitions import MAX_LINES

MAX_SHEET_BYTES = 2 * 1024 * 1024  # 2,000 lines of a few columns fit in far less
COLUMNS = ("nsn", "quantity", "rdd", "substitutes")
# the names a header may give each column (compared lower-cased, spaces and dashes as underscores)
HEADER_NAMES = {
    "nsn": "nsn",
    "quantity": "quantity",
    "qty": "quantity",
    "rdd": "rdd",
    "required_by": "rdd",
    "substitutes": "substitutes",
    "allow_substitutes": "substitutes",
}
YES = {"yes", "y", "true", "1", "x", "oui", "o"}
NO = {"no", "n", "false", "0", "non", ""}
XLSX_SIGNATURE = b"PK\x03\x04"  # an XLSX file is a zip archive


@dataclass(frozen=True)
class SheetLine:
    """One line read from the sheet; `row` is its row number in the sheet (the header is row 1)."""

    row: int
    item: Item
    quantity: int
    required_by: dt.date | None = None
    allow_substitutes: bool = False


@dataclass
class SheetReading:
    lines: list[SheetLine] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "Row 5: ...", in row order

    @property
    def ok(self) -> bool:
        return not self.errors


class UnreadableSheet(Exception):
    """The file is not a sheet this reads (not CSV or XLSX, too large, damaged)."""


def read_sheet(upload) -> SheetReading:
    """The lines of `upload` (an uploaded file), or every bad row's error and no lines."""
    try:
        rows = _rows_of(upload)
    except UnreadableSheet as exc:
        return SheetReading(errors=[str(exc)])
    return read_rows(rows)


def read_rows(rows: list[tuple[int, list]]) -> SheetReading:
    """The lines of `rows` ((row number, cells) as the sheet holds them, header included), or the errors."""
    rows = [(number, cells) for number, cells in rows if any(_text(c) for c in cells)]  # blank rows are skipped
    if not rows:
        return SheetReading(errors=[_("The sheet holds no lines.")])
    positions, rows = _columns(rows)
    if "nsn" not in positions or "quantity" not in positions:
        return SheetReading(errors=[_("The sheet's header must name an nsn column and a quantity column.")])
    if not rows:
        return SheetReading(errors=[_("The sheet holds no lines.")])
    if len(rows) > MAX_LINES:
        return SheetReading(
            errors=[_("The sheet holds more than %(max)s lines: split the requisition.") % {"max": MAX_LINES}]
        )

    def cell(cells: list, column: str):
        position = positions.get(column)
        return cells[position] if position is not None and position < len(cells) else None

    nsns = {number: _nsn(cell(cells, "nsn")) for number, cells in rows}
    catalog = {item.nsn: item for item in Item.objects.filter(nsn__in={n for n in nsns.values() if n})}
    today = timezone.localdate()
    reading = SheetReading()
    first_row_of: dict[int, int] = {}
    for number, cells in rows:
        problems = []
        raw_nsn, nsn = _text(cell(cells, "nsn")), nsns[number]
        item = catalog.get(nsn) if nsn else None
        if not raw_nsn:
            problems.append(_("the NSN is missing"))
        elif nsn is None:
            problems.append(_('"%(text)s" is not an NSN (13 digits, dashes optional)') % {"text": raw_nsn[:40]})
        elif item is None:
            problems.append(_("no item in the catalog has the NSN %(nsn)s") % {"nsn": nsn})
        elif item.pk in first_row_of:
            problems.append(
                _("%(nsn)s is on row %(row)s already: put the quantities on one line")
                % {"nsn": nsn, "row": first_row_of[item.pk]}
            )
        quantity = _quantity(cell(cells, "quantity"))
        if quantity is None:
            problems.append(
                _('the quantity "%(text)s" is not a whole number greater than zero')
                % {"text": _text(cell(cells, "quantity"))[:40]}
            )
        required_by, date_problem = _date(cell(cells, "rdd"), today)
        if date_problem:
            problems.append(date_problem)
        substitutes = _yes_no(cell(cells, "substitutes"))
        if substitutes is None:
            problems.append(
                _('substitutes "%(text)s" is neither yes nor no') % {"text": _text(cell(cells, "substitutes"))[:40]}
            )
        if problems:
            reading.errors.append(_("Row %(row)s: %(problems)s.") % {"row": number, "problems": "; ".join(problems)})
            continue
        first_row_of[item.pk] = number
        reading.lines.append(SheetLine(number, item, quantity, required_by, substitutes))
    if reading.errors:
        reading.lines = []
    return reading


# --- the file ------------------------------------------------------------------------------------------------------


def _rows_of(upload) -> list[tuple[int, list]]:
    if upload.size > MAX_SHEET_BYTES:
        raise UnreadableSheet(
            _("The file is larger than %(n)s MB: split the requisition.") % {"n": MAX_SHEET_BYTES // 2**20}
        )
    content = upload.read()
    name = (upload.name or "").lower()
    if name.endswith(".xls"):
        raise UnreadableSheet(_("Old Excel files (.xls) are not read: save the sheet as .xlsx or .csv."))
    if content.startswith(XLSX_SIGNATURE) or name.endswith(".xlsx"):
        return _xlsx_rows(content)
    return _csv_rows(content)


def _xlsx_rows(content: bytes) -> list[tuple[int, list]]:
    from openpyxl import load_workbook  # only the import path pays for loading openpyxl

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise UnreadableSheet(_("The file could not be read as an XLSX sheet.")) from None
    try:
        sheet = workbook.worksheets[0]
        rows = []
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            if any(_text(c) for c in cells):
                rows.append((number, list(cells)))
            if len(rows) > MAX_LINES + 1:  # a header and more lines than a requisition holds: refused, read no further
                break
        return rows
    finally:
        workbook.close()


def _csv_rows(content: bytes) -> list[tuple[int, list]]:
    try:
        text = content.decode("utf-8-sig")  # a spreadsheet's UTF-8 export starts with a byte-order mark
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    if "\x00" in text:
        raise UnreadableSheet(_("The file could not be read as a CSV or XLSX sheet."))
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    try:
        return list(enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1))
    except csv.Error:
        raise UnreadableSheet(_("The file could not be read as a CSV or XLSX sheet.")) from None


def _columns(rows: list[tuple[int, list]]) -> tuple[dict[str, int], list[tuple[int, list]]]:
    """column -> position, from the header when the first row is one (then left out), else the default order."""
    _number, first = rows[0]
    names = [re.sub(r"[\s-]+", "_", _text(c).lower()) for c in first]
    if any(name in HEADER_NAMES for name in names):
        positions = {}
        for position, name in enumerate(names):
            if name in HEADER_NAMES:
                positions.setdefault(HEADER_NAMES[name], position)
        return positions, rows[1:]
    return {column: position for position, column in enumerate(COLUMNS)}, rows


# --- the cells -----------------------------------------------------------------------------------------------------


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _nsn(value) -> str | None:
    """The NSN as stored (NNNN-NN-NNN-NNNN), or None when the cell holds none."""
    nsn = dashed_nsn(_text(value))
    return nsn if re.match(NSN_PATTERN, nsn) else None


def _quantity(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if value.is_integer() else None
    elif not isinstance(value, int):
        digits = re.sub(r"[\s\u00a0\u202f]", "", _text(value))  # 1 200 as a French sheet writes it
        value = int(digits) if digits.isascii() and digits.isdigit() else None
    return value if value is not None and 0 < value <= MAX_QUANTITY else None


def _date(value, today: dt.date) -> tuple[dt.date | None, str | None]:
    if value is None or _text(value) == "":
        return None, None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(_text(value))
        except ValueError:
            return None, _('the date "%(text)s" is not a date (write YYYY-MM-DD)') % {"text": _text(value)[:40]}
    if value < today:
        return None, _("the date %(date)s is in the past") % {"date": value.isoformat()}
    return value, None


def _yes_no(value) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in YES:
        return True
    return False if text in NO else None
