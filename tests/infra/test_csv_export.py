"""CSV formula injection (audit finding 10): a text cell that a spreadsheet would read as a formula (it starts with
=, +, -, @, a tab or a carriage return) is exported with a leading single quote (OWASP); numbers the portal itself
writes stay numbers."""

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from core.export import neutralise
from tests.api.conftest import build_scenario
from tests.factories import ItemFactory, stock_with

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text", ["=1+2", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x")'])
def test_text_that_a_spreadsheet_would_evaluate_is_quoted(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["Diesel fuel", "9130-12-000-0002", "", "a=b", -5, Decimal("-1.50"), 0, None])
def test_plain_text_and_numbers_are_left_alone(value):
    assert neutralise(value) == value


def test_every_csv_writer_of_the_portal_goes_through_the_neutraliser():
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {".venv", "tests", "bench"} or relative == Path("core/export.py"):
            continue
        if re.search(r"\bcsv\.(writer|DictWriter)\(", path.read_text(encoding="utf-8")):
            offenders.append(str(relative))
    assert offenders == [], "write CSV through core.export, which neutralises formulas"


def test_the_stock_export_neutralises_a_hostile_item_name(db):
    world = build_scenario()
    item = ItemFactory(name='=HYPERLINK("http://evil.example","click")')
    stock_with(3, nation=world.fra, center=world.mlc_a, item=item)
    browser = Client()
    browser.force_login(world.users["fra_logistics"])
    response = browser.get(reverse("stock-list") + "?format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    names = {row[3] for row in rows[1:]}
    assert '\'=HYPERLINK("http://evil.example","click")' in names
    assert not any(cell[:1] in {"=", "+", "-", "@", "\t", "\r"} for row in rows for cell in row)
