"""Importing a sheet of requisition lines (coordination/requisition_import.py) and the new-requisition page that does
it: a CSV or XLSX of NSN and quantity (optional rdd, substitutes) fills the line editor; a sheet with bad rows names
every one of them by its row number and fills and creates nothing."""

from __future__ import annotations

import csv
import io
from html import unescape
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from openpyxl import Workbook

from coordination.models import Requisition, RequisitionStatus, SupplyRequest
from coordination.requisition_import import MAX_SHEET_BYTES, read_rows, read_sheet
from coordination.requisitions import MAX_LINES
from tests.factories import ItemFactory
from tests.requisitions.conftest import in_days

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(world) -> Client:
    client = Client()
    client.force_login(world.users["fra_logistics"])
    return client


@pytest.fixture
def catalog(world) -> list:
    """40 items: a 40-line sheet."""
    return [ItemFactory(nsn=f"5305-12-{n:03d}-{n:04d}", name=f"Screw {n}", unit_of_issue="BX") for n in range(1, 41)]


def csv_sheet(rows, *, name="lines.csv", delimiter=",", encoding="utf-8") -> SimpleUploadedFile:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    for row in rows:
        writer.writerow(row)
    return SimpleUploadedFile(name, out.getvalue().encode(encoding), content_type="text/csv")


def xlsx_sheet(rows, *, name="lines.xlsx") -> SimpleUploadedFile:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return SimpleUploadedFile(name, out.getvalue(), content_type="application/octet-stream")


HEADER = {
    "requesting_nation": "FRA",
    "destination_center": "NAT-F",
    "required_by": "",
    "urgency": "A",
    "justification": "Brigade resupply",
    "lines-TOTAL_FORMS": "2",
    "lines-INITIAL_FORMS": "0",
}


def header(**values) -> dict:
    return {**HEADER, "required_by": in_days(10).isoformat(), **values}


class FormValues(HTMLParser):
    """The values a browser would post from a page's form: inputs (checked boxes and radios only), textareas and
    selected options; file inputs and buttons left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self._textarea = self._select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") not in ("file", "submit"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.values[a["name"]] = a.get("value") or ("on" if a.get("type") == "checkbox" else "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[self._textarea] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data.strip()


def form_values(html: str) -> dict[str, str]:
    parser = FormValues()
    parser.feed(html)
    return parser.values


def editor_rows(values: dict) -> list[tuple]:
    total = int(values["lines-TOTAL_FORMS"])
    return [
        tuple(values.get(f"lines-{i}-{name}", "") for name in ("nsn", "quantity", "required_by", "allow_substitutes"))
        for i in range(total)
    ]


# --- the page --------------------------------------------------------------------------------------------------------


def test_a_40_line_csv_fills_the_editor_and_the_filled_editor_submits_them(world, officer, catalog):
    rows = [["nsn", "quantity"]]
    for n, item in enumerate(catalog, start=1):
        rows.append([item.nsn.replace("-", "") if n % 2 else item.nsn, n])  # with and without dashes
    response = officer.post(reverse("requisition-new"), {**header(), "action": "import", "sheet": csv_sheet(rows)})

    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert "40 lines read from the sheet: check them, then save or submit the requisition." in html
    values = form_values(html)
    filled = [row for row in editor_rows(values) if row[0]]
    assert len(filled) == 40
    assert filled[0] == (f"{catalog[0].nsn} — Screw 1 (BX)", "1", "", "")
    assert filled[39][:2] == (f"{catalog[39].nsn} — Screw 40 (BX)", "40")
    assert values["justification"] == "Brigade resupply" and values["urgency"] == "A"  # the header kept
    assert not Requisition.objects.exists()  # nothing saved until the officer saves

    response = officer.post(reverse("requisition-new"), {**values, "action": "draft"})
    assert response.status_code == 302
    req = Requisition.objects.get()
    assert req.status == RequisitionStatus.DRAFT and req.urgency == "A"
    assert [(line.number, line.item, line.quantity) for line in req.lines.all()] == [
        (n, item, n) for n, item in enumerate(catalog, start=1)
    ]


def test_an_xlsx_fills_the_editor_with_dates_and_substitutes(world, officer):
    rdd = in_days(15)
    rows = [
        ["NSN", "Qty", "RDD", "Substitutes"],
        [world.fuel.nsn, 120, rdd, "yes"],
        [int(world.rations.nsn.replace("-", "")), 10.0, None, None],  # a number cell, as Excel keeps an NSN
        [],
        [world.jet.nsn, "30", rdd.isoformat(), "no"],
    ]
    response = officer.post(reverse("requisition-new"), {**header(), "action": "import", "sheet": xlsx_sheet(rows)})

    assert response.status_code == 200
    filled = [row for row in editor_rows(form_values(response.content.decode())) if row[0]]
    assert filled == [
        (f"{world.fuel.nsn} — Diesel fuel (L)", "120", rdd.isoformat(), "on"),
        (f"{world.rations.nsn} — Ration pack (EA)", "10", "", ""),
        (f"{world.jet.nsn} — Jet fuel JP-8 (L)", "30", rdd.isoformat(), ""),
    ]


def test_imported_lines_follow_the_lines_already_typed_and_submit_sources_them(world, officer):
    data = {
        **header(),
        "lines-0-nsn": world.jet.nsn,
        "lines-0-quantity": "20",
        "lines-1-nsn": "",
        "action": "import",
        "sheet": csv_sheet([[world.fuel.nsn, 400]]),  # no header row: nsn, quantity
    }
    response = officer.post(reverse("requisition-new"), data)
    values = form_values(response.content.decode())
    assert [row[:2] for row in editor_rows(values)] == [
        (world.jet.nsn, "20"),
        (f"{world.fuel.nsn} — Diesel fuel (L)", "400"),
    ]

    response = officer.post(reverse("requisition-new"), {**values, "action": "submit"})
    assert response.status_code == 302
    req = Requisition.objects.get()
    assert req.status == RequisitionStatus.OPEN
    assert sorted(SupplyRequest.objects.values_list("item__nsn", "quantity_requested")) == sorted(
        [(world.jet.nsn, 20), (world.fuel.nsn, 200), (world.fuel.nsn, 150)]
    )


def test_a_bad_sheet_lists_every_bad_row_and_fills_and_creates_nothing(world, officer):
    rows = [
        ["nsn", "quantity", "rdd", "substitutes"],
        [world.fuel.nsn, "10", "", ""],  # row 2: good
        ["9999-99-999-9999", "5", "", ""],  # row 3: unknown NSN
        [world.rations.nsn, "-3", "", ""],  # row 4: bad quantity
        [world.jet.nsn, "2.5", "", ""],  # row 5: bad quantity
        ["not an nsn", "1", "", ""],  # row 6
        [world.fuel.nsn, "1", "", ""],  # row 7: twice
        [world.rations.nsn, "1", in_days(-1).isoformat(), "perhaps"],  # row 8: past date, bad yes/no
        [world.jet.nsn, "", "14/12/2026", ""],  # row 9: no quantity, not an ISO date
    ]
    data = {**header(), "lines-0-nsn": world.jet.nsn, "lines-0-quantity": "3", "action": "import"}
    response = officer.post(reverse("requisition-new"), {**data, "sheet": csv_sheet(rows)})

    assert response.status_code == 400
    html = unescape(response.content.decode())
    errors = html.split('data-testid="import-errors"')[1].split("</div>")[0]
    assert "Nothing was imported." in errors
    assert "Row 2" not in errors
    assert "Row 3: no item in the catalog has the NSN 9999-99-999-9999." in errors
    assert 'Row 4: the quantity "-3" is not a whole number greater than zero.' in errors
    assert 'Row 5: the quantity "2.5" is not a whole number greater than zero.' in errors
    assert 'Row 6: "not an nsn" is not an NSN (13 digits, dashes optional).' in errors
    assert f"Row 7: {world.fuel.nsn} is on row 2 already: put the quantities on one line." in errors
    assert f"Row 8: the date {in_days(-1).isoformat()} is in the past; substitutes" in errors
    assert 'Row 9: the quantity "" is not a whole number greater than zero; the date "14/12/2026"' in errors
    # the editor holds what it held, and nothing was created
    assert [row[:2] for row in editor_rows(form_values(html)) if row[0]] == [(world.jet.nsn, "3")]
    assert not Requisition.objects.exists() and not SupplyRequest.objects.exists()


def test_importing_without_a_file_or_with_a_file_that_is_no_sheet_is_refused(world, officer):
    response = officer.post(reverse("requisition-new"), {**header(), "action": "import"})
    assert response.status_code == 400 and "Choose a CSV or XLSX sheet to import." in response.content.decode()
    broken = SimpleUploadedFile("lines.xlsx", b"PK\x03\x04 not really a zip")
    response = officer.post(reverse("requisition-new"), {**header(), "action": "import", "sheet": broken})
    assert response.status_code == 400 and "could not be read as an XLSX sheet" in response.content.decode()
    old = SimpleUploadedFile("lines.xls", b"\xd0\xcf\x11\xe0")
    response = officer.post(reverse("requisition-new"), {**header(), "action": "import", "sheet": old})
    assert response.status_code == 400 and "save the sheet as .xlsx or .csv" in response.content.decode()
    assert not Requisition.objects.exists()


def test_only_logistics_officers_import(world):
    client = Client()
    client.force_login(world.users["deu_liaison"])
    sheet = csv_sheet([["nsn", "quantity"], [world.fuel.nsn, 1]])
    response = client.post(reverse("requisition-new"), {**header(), "action": "import", "sheet": sheet})
    assert response.status_code == 403


# --- reading a sheet -------------------------------------------------------------------------------------------------


def test_a_semicolon_separated_windows_sheet_with_french_yes_reads(world):
    sheet = csv_sheet(
        [["NSN", "Quantity", "Substitutes"], [world.fuel.nsn, "1 200", "oui"], [world.jet.nsn, "5", "non"]],
        delimiter=";",
        encoding="cp1252",
    )
    reading = read_sheet(sheet)
    assert reading.ok
    assert [(line.row, line.item, line.quantity, line.allow_substitutes) for line in reading.lines] == [
        (2, world.fuel, 1200, True),
        (3, world.jet, 5, False),
    ]


def test_columns_are_found_by_their_names_in_any_order(world):
    reading = read_rows([(1, ["substitutes", "rdd", "quantity", "nsn"]), (2, ["y", in_days(3), 7, world.fuel.nsn])])
    assert reading.ok
    (line,) = reading.lines
    assert (line.item, line.quantity, line.required_by, line.allow_substitutes) == (world.fuel, 7, in_days(3), True)


def test_a_header_without_a_quantity_column_and_an_empty_sheet_are_refused(world):
    assert read_rows([(1, ["nsn", "amount"]), (2, [world.fuel.nsn, 3])]).errors == [
        "The sheet's header must name an nsn column and a quantity column."
    ]
    assert read_rows([(1, ["", None])]).errors == ["The sheet holds no lines."]
    assert read_rows([(1, ["nsn", "quantity"])]).errors == ["The sheet holds no lines."]


def test_a_sheet_longer_than_a_requisition_is_refused(world):
    rows = [(n, [world.fuel.nsn, 1]) for n in range(1, MAX_LINES + 2)]
    assert read_rows(rows).errors == [f"The sheet holds more than {MAX_LINES} lines: split the requisition."]


def test_a_file_too_large_is_refused_unread(world):
    big = SimpleUploadedFile("lines.csv", b"x" * (MAX_SHEET_BYTES + 1))
    assert read_sheet(big).errors == ["The file is larger than 2 MB: split the requisition."]


def test_any_bad_row_empties_the_reading(world):
    reading = read_rows([(1, [world.fuel.nsn, 3]), (2, [world.jet.nsn, 0])])
    assert reading.lines == [] and reading.errors == [
        'Row 2: the quantity "0" is not a whole number greater than zero.'
    ]
