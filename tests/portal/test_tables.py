# ruff: noqa: F811  (the scenario fixtures are imported from tests/web/conftest.py)
"""The list pages' tables (core/tables.py): sorting by every column, the page size, dropdown filters that are the
API's filterset, CSV and XLSX exports that are formula-safe and hold only the rows the page would show, and
query counts that do not grow with the rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from coordination.filters import NotificationFilter
from coordination.models import Notification, Priority, RequestStatus, Severity, ShortfallKind, SupplyRequest
from core import tables as core_tables
from inventory.filters import StockFilter
from inventory.models import Stock
from inventory.tables import StockTable
from tests.factories import ItemFactory, stock_with
from tests.web.conftest import browser, count_discrepancy_on, make_request, shortfall_on, world  # noqa: F401

HOSTILE = '=HYPERLINK("http://evil.example","click")'


def stock_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'href="/stocks/(\d+)/"', html)]


def request_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'href="/requests/(\d+)/"', html)]


def more_fra_stocks(world, n: int) -> list[Stock]:
    """`n` FRA stocks at MLC-A of new items, with figures that differ from row to row."""
    return [
        stock_with(10 + (i * 7) % 23, nation=world.fra, center=world.mlc_a, item=ItemFactory(), safety_level=i % 5)
        for i in range(n)
    ]


STOCK_KEYS = {
    "center": lambda s: s.center.code,
    "nation": lambda s: s.nation.code,
    "nsn": lambda s: s.item.nsn,
    "item": lambda s: s.item.name,
    "supply_class": lambda s: s.item.supply_class,
    "on_hand": lambda s: s.on_hand,
    "reserved": lambda s: s.reserved,
    "available": lambda s: s.available,
    "safety_level": lambda s: s.safety_level,
}


def test_every_sortable_stock_column_is_tested():
    sortable = {c.name for c in StockTable([]).columns if c.orderable}
    assert sortable == set(STOCK_KEYS)


@pytest.mark.parametrize("column", sorted(STOCK_KEYS))
def test_the_stock_list_sorts_by_each_column_both_ways(world, browser, column):
    more_fra_stocks(world, 6)
    client = browser("fra_logistics")
    ascending = stock_ids(client.get(reverse("stock-list") + f"?sort={column}").content.decode())
    descending = stock_ids(client.get(reverse("stock-list") + f"?sort=-{column}").content.decode())
    stocks = Stock.objects.select_related("nation", "center", "item").in_bulk(ascending)
    keys = [STOCK_KEYS[column](stocks[pk]) for pk in ascending]
    assert len(ascending) == 8 and keys == sorted(keys)
    assert descending == ascending[::-1]  # the tie-break (the id) turns too: the same rows, the other way


def test_the_sorted_column_says_so_and_its_link_sorts_the_other_way(world, browser):
    html = browser("fra_logistics").get(reverse("stock-list") + "?sort=on_hand&page=1").content.decode()
    header = re.search(
        r'<th scope="col" class="[^"]*" aria-sort="ascending">\s*<a class="tbl-sort" href="([^"]+)"', html
    )
    assert header and "sort=-on_hand" in header.group(1) and "page=" not in header.group(1)


@pytest.mark.parametrize(
    "column", ["reference", "status", "priority", "requesting_nation", "nsn", "quantity_requested", "required_by"]
)
def test_the_request_list_sorts_by_its_columns(world, browser, column):
    for days in (3, 9, 5):
        make_request(world, required_by=timezone.localdate() + dt.timedelta(days=days))
    client = browser("fra_logistics")
    ascending = request_ids(client.get(reverse("request-list") + f"?sort={column}").content.decode())
    descending = request_ids(client.get(reverse("request-list") + f"?sort=-{column}").content.decode())
    assert len(ascending) == 3 and descending == ascending[::-1]


def test_the_request_list_puts_open_urgent_work_first_then_the_soonest_required(world, browser):
    today = timezone.localdate()
    routine_soon = make_request(world, required_by=today + dt.timedelta(days=2))
    urgent_late = make_request(world, required_by=today + dt.timedelta(days=20))
    urgent_soon = make_request(world, required_by=today + dt.timedelta(days=4))
    closed_urgent = make_request(world, RequestStatus.CANCELLED, required_by=today + dt.timedelta(days=1))
    # the list sorts by priority designator (issue 16): urgent and routine raised at FAD IV are 07 and 14
    SupplyRequest.objects.filter(pk__in=[urgent_late.pk, urgent_soon.pk, closed_urgent.pk]).update(
        priority=Priority.URGENT, priority_designator=7
    )
    SupplyRequest.objects.filter(pk=routine_soon.pk).update(priority=Priority.ROUTINE, priority_designator=14)
    html = browser("fra_logistics").get(reverse("request-list")).content.decode()
    assert request_ids(html) == [urgent_soon.pk, urgent_late.pk, routine_soon.pk, closed_urgent.pk]
    # sorting by priority itself ranks by urgency, not alphabetically ("priority" < "routine" < "urgent")
    by_priority = request_ids(browser("fra_logistics").get(reverse("request-list") + "?sort=priority").content.decode())
    assert by_priority.index(routine_soon.pk) == 3


def test_the_page_size_is_one_of_the_offered_sizes(world, browser):
    more_fra_stocks(world, 30)
    client = browser("fra_logistics")
    assert len(stock_ids(client.get(reverse("stock-list") + "?per_page=25").content.decode())) == 25
    assert len(stock_ids(client.get(reverse("stock-list") + "?per_page=25&page=2").content.decode())) == 7
    html = client.get(reverse("stock-list") + "?per_page=7").content.decode()  # not offered: the default, 25
    assert len(stock_ids(html)) == 25
    assert 'aria-current="true">25<' in html and "per_page=250" in html
    assert len(stock_ids(client.get(reverse("stock-list") + "?per_page=50").content.decode())) == 32


def test_filters_are_dropdowns_of_codes_and_yes_no_any(world, browser):
    html = browser("fra_logistics").get(reverse("stock-list")).content.decode()
    center = re.search(r'<select name="center"[^>]*>(.*?)</select>', html, re.S).group(1)
    assert re.findall(r'<option value="([^"]*)"', center) == ["", "MLC-A", "NAT-B", "NAT-F"]
    shared = re.search(r'<select name="shared"[^>]*>(.*?)</select>', html, re.S).group(1)
    assert re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)<', shared) == [
        ("", "Any"),
        ("true", "Yes"),
        ("false", "No"),
    ]
    assert "Unknown" not in html
    chosen = browser("fra_logistics").get(reverse("stock-list") + "?center=NAT-F&shared=false").content.decode()
    assert '<option value="NAT-F" selected>' in chosen and '<option value="false" selected>' in chosen


def test_the_dropdown_choice_filters_the_list_and_the_api_reads_codes_as_before(world, browser):
    html = browser("fra_logistics").get(reverse("stock-list") + "?center=MLC-A").content.decode()
    assert set(stock_ids(html)) == {world.stocks["fra_private"].pk, world.stocks["deu_shared"].pk}
    stocks = Stock.objects.all()
    assert set(StockFilter({"center": "mlc-a"}, queryset=stocks).qs) == set(stocks.filter(center=world.mlc_a))
    assert not StockFilter({"center": "central"}, queryset=stocks).qs.exists()  # finds nothing, no error
    assert StockFilter({"shared": "true"}, queryset=stocks).qs.count() == stocks.filter(shared=True).count()
    assert not NotificationFilter({"unread": "perhaps"}, queryset=Notification.objects.all()).is_valid()
    assert NotificationFilter({"unread": "1"}, queryset=Notification.objects.all()).is_valid()


def test_request_supplies_shows_on_the_stocks_of_nations_the_viewer_raises_requests_for(world, browser):
    link = r'href="{}\?stock=(\d+)"'.format(re.escape(reverse("request-new")))
    fra = browser("fra_logistics").get(reverse("stock-list")).content.decode()
    assert {int(pk) for pk in re.findall(link, fra)} == {world.stocks["fra_private"].pk}
    assert "Request supplies" in fra
    liaison = browser("fra_liaison").get(reverse("stock-list")).content.decode()
    assert re.findall(link, liaison) == []


def read_xlsx(response) -> list[list]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()], sheet


def test_the_xlsx_export_opens_and_neutralises_formulas(world, browser):
    stock_with(3, nation=world.fra, center=world.mlc_a, item=ItemFactory(name=HOSTILE))
    rows, sheet = read_xlsx(browser("fra_logistics").get(reverse("stock-list") + "?format=xlsx&sort=on_hand"))
    header = rows[0]
    assert header[:4] == ["center", "nation", "nsn", "item"]
    names = [row[header.index("item")] for row in rows[1:]]
    assert "'" + HOSTILE in names
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)  # no formula anywhere
    assert [row[header.index("on_hand")] for row in rows[1:]] == [3, 50, 200]  # numbers stay numbers


def test_the_request_csv_is_formula_safe_too(world, browser):
    make_request(world, item=ItemFactory(name=HOSTILE))
    response = browser("fra_logistics").get(reverse("request-list") + "?format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["reference", "status", "priority"]
    assert rows[1][rows[0].index("item")] == "'" + HOSTILE
    assert rows[1][1] == "submitted"  # the stored code, whatever the reader's language
    assert not any(cell[:1] in {"=", "+", "@", "\t", "\r"} for row in rows for cell in row)


@pytest.mark.parametrize("export", ["csv", "xlsx"])
def test_exports_hold_only_what_the_viewer_may_see_and_follow_the_filters(world, browser, export):
    response = browser("fra_logistics").get(reverse("stock-list") + f"?format={export}")
    if export == "csv":
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    else:
        rows, _ = read_xlsx(response)
    listed = {(r[0], r[1]) for r in rows[1:]}
    assert listed == {("MLC-A", "FRA"), ("MLC-A", "DEU")}  # DEU's private stock and ITA's never
    assert len(rows) == 3
    filtered = browser("fra_logistics").get(reverse("stock-list") + f"?format={export}&nation=DEU")
    body = b"".join(filtered.streaming_content) if export == "csv" else filtered.content
    assert world.stocks["fra_private"].item.nsn.encode() not in body or export == "xlsx"


def test_an_xlsx_export_beyond_its_bound_is_refused_with_a_message(world, browser, monkeypatch):
    monkeypatch.setattr(core_tables, "XLSX_MAX_ROWS", 1)
    client = browser("fra_logistics")
    response = client.get(reverse("stock-list") + "?format=xlsx&sort=nation", follow=True)  # two rows
    assert response.redirect_chain[0][0] == reverse("stock-list") + "?sort=nation"
    assert "at most 1 rows" in response.content.decode()


def test_the_discrepancy_export_names_a_subject_only_to_those_who_may_see_it(world, browser):
    from tests.web.conftest import count_discrepancy_on

    count_discrepancy_on(world.stocks["fra_private"], counted=40, by=world.users["mlc_a_operator"])
    response = browser("fra_logistics").get(reverse("discrepancy-list") + "?format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    stock = world.stocks["fra_private"]
    assert rows[1][rows[0].index("subject")] == f"FRA {stock.item.nsn} @ MLC-A"
    other = browser("deu_logistics").get(reverse("discrepancy-list") + "?format=csv")
    assert stock.item.nsn.encode() not in b"".join(other.streaming_content)


def add_notifications(world, n):
    for i in range(n):
        Notification.objects.create(user=world.users["fra_logistics"], event="request.approved", title=f"N{i}")


def add_stocks(world, n):
    more_fra_stocks(world, n)


@pytest.mark.parametrize(
    ("url_name", "add"),
    [("notification-list", add_notifications), ("stock-list", add_stocks), ("audit-log", None)],
)
def test_list_and_export_queries_do_not_grow_with_rows(world, browser, django_assert_max_num_queries, url_name, add):
    client = browser("coordinator" if url_name == "audit-log" else "fra_logistics")
    add = add or (lambda w, n: [make_request(w) for _ in range(n)])  # each request writes audit entries
    counts = []
    for n in (3, 20):
        add(world, n)
        for suffix in ("", "?format=csv", "?format=xlsx"):
            client.get(reverse(url_name) + suffix)  # warm
            with django_assert_max_num_queries(20) as captured:
                response = client.get(reverse(url_name) + suffix)
                if suffix == "?format=csv":
                    b"".join(response.streaming_content)
            assert response.status_code == 200
            counts.append(len(captured.captured_queries))
    assert counts[:3] == counts[3:], counts


def portal_tables() -> list[type]:
    import coordination.flag_tables, coordination.tables, inventory.tables, nations.tables  # noqa: E401, F401, I001

    def below(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    return list(below(core_tables.PortalTable))


def test_every_table_takes_the_portal_look_whether_or_not_it_declares_a_meta():
    # tables2 reads only a class's own Meta: five tables without one were drawn by tables2's own template
    tables = portal_tables()
    assert {t.__name__ for t in tables} >= {"RequestTable", "CenterTable", "AuditEntryTable", "StockTable"}
    for table in tables:
        assert table([]).template_name == "includes/table.html", table
        assert table._meta.attrs == {"class": "data"} and table._meta.order_by_field == "sort", table


@pytest.mark.parametrize(
    ("url_name", "user"),
    [
        ("request-list", "fra_logistics"),
        ("stock-list", "fra_logistics"),
        ("center-list", "fra_logistics"),
        ("shortfall-list", "fra_logistics"),
        ("discrepancy-list", "fra_logistics"),
        ("notification-list", "deu_liaison"),
        ("audit-log", "coordinator"),
    ],
)
def test_cells_are_what_django_tables2_would_render_in_the_portals_table(world, browser, url_name, user):
    for status in (RequestStatus.SUBMITTED, RequestStatus.APPROVED, RequestStatus.REJECTED):
        make_request(world, status)
    shortfall_on(world.stocks["fra_private"], kind=ShortfallKind.BELOW_SAFETY, severity=Severity.WARNING)
    count_discrepancy_on(world.stocks["fra_private"], counted=1, by=world.users["fra_logistics"])
    response = browser(user).get(reverse(url_name))
    assert response.status_code == 200
    table = response.context["table"]
    rows = table.paginated_rows
    assert rows, "the scenario should give every list rows"
    for row in rows:
        cells = row.page_cells()
        assert [str(cell) for _, cell in cells] == [str(row.get_cell(c.name)) for c in table.columns]
        assert [css for css, _ in cells] == [(c.attrs.get("td") or {}).get("class", "") for c in table.columns]
    html = response.content.decode()
    assert re.search(r'<table class="data"', html), "the portal's table, not tables2's own template"
    assert "tbl-sort" in html or not any(c.orderable for c in table.columns)


@pytest.mark.parametrize("value", [None, "", "FRA", ["FRA"], "b", "nothing-listed"])
def test_the_lean_dropdown_writes_what_djangos_select_writes(value):
    from django import forms
    from django.test.html import parse_html

    from core.widgets import LeanSelect

    choices = [("", "Any"), ("FRA", "France <&>"), ("DEU", 'Germany "DE"'), ("Group", [("a", "A"), ("b", "B")])]
    attrs = {"id": "id_n", "aria-describedby": "help"}
    expected = forms.Select(choices=choices).render("n", value, attrs)
    assert parse_html(LeanSelect(choices=choices).render("n", value, attrs)) == parse_html(expected)


def test_dropdowns_say_any_even_after_the_api_schema_built_the_filters_fields(world, browser):
    # drf-spectacular and django-filter's DRF backend read `base_filters[...].field`, which caches a form field
    # with the library's defaults on the class's filter; every page filterset copies it
    from coordination.filters import SupplyRequestFilter

    SupplyRequestFilter.base_filters["priority"].field  # noqa: B018 - what the schema does
    html = browser("fra_logistics").get(reverse("request-list")).content.decode()
    priority = re.search(r'<select name="priority"[^>]*>(.*?)</select>', html, re.S).group(1)
    assert re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)<', priority)[0] == ("", "Any")
    assert "---------" not in html
