"""Tables of the list pages (django-tables2, NetBox style): sortable columns, a page-size choice, CSV and XLSX
exports, over the same visible, filtered rows as the page.

How to use it::

    # <app>/tables.py
    class StockTable(PortalTable):
        center = tables.Column(accessor="center__code", verbose_name=_("Center"), order_by=("center__code", "pk"))
        ...
        class Meta(PortalTable.Meta):
            model = Stock
            fields = ("center", ...)        # the page's columns, in order
        export_name = "stocks"              # stocks.csv / stocks.xlsx

    # <app>/views.py
    class StockListView(TableListView):    # a RestrictedListView: rows still come through visible_to(user)
        queryset = ...
        filterset_class = StockFilter       # the API's filterset
        table_class = StockTable
        ordering = ("center__code", "item__nsn")   # when ?sort= names no column

    # the template
    {% include "includes/table_controls.html" %}   filters as dropdowns, page size, export links
    {% render_table table %}                       (load django_tables2) the table and its pager

The query string: ``sort=<column>`` or ``sort=-<column>`` (the column's ``order_by`` fields, then the primary key, so
pages never overlap), ``per_page=25|50|100|250``, ``page=<n>``, ``format=csv|xlsx``.

Exports: a column's export value is its ``value_<name>`` (else ``render_<name>``) method, else its raw value (a
stored code, not its translated label); the header is the column's name (the same file in every language).  Columns
with ``exclude_from_export=True`` (row actions) stay on the page; columns with ``visible=False`` are in the export
only.  CSV streams (any size, through ``core.export.csv_writer``); XLSX is built in memory, so it is bounded to
``XLSX_MAX_ROWS`` rows and refused beyond with a message.  Both neutralise text a spreadsheet would evaluate.

Cells that show an object nested in the row (a discrepancy's request) decide for the viewer in ``prepare_rows``,
once per batch of rows (``nations.access.nested``), on the page and in the exports alike; the page's template
context (``request``, ``page``) is also there for a ``TemplateColumn``.  ``self.user`` is the viewer.
"""

from __future__ import annotations

import datetime as dt
from itertools import islice

import django_tables2 as tables
import tablib
from django.contrib import messages
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tables2.columns import ManyToManyColumn
from django_tables2.columns.linkcolumn import BaseLinkColumn
from django_tables2.rows import BoundRow
from django_tables2.tables import TableOptions
from django_tables2.utils import Accessor, signature

from core.export import csv_writer, neutralise
from core.web import RestrictedListView, query_without_page

PAGE_SIZES = (25, 50, 100, 250)
EXPORT_FORMATS = ("csv", "xlsx")
XLSX_MAX_ROWS = 20_000  # an XLSX file is built whole in memory: about 10 s and 100 MB at this size
CSV_CHUNK = 2000


def quantity_with_unit(value, unit: str) -> str:
    """A quantity as every table shows it: the language's grouping (12,500 / 12 500) and the unit of issue."""
    return "—" if value is None else f"{formats.number_format(value, use_l10n=True, force_grouping=True)} {unit}"


def page_size(request, default: int = 50) -> int:
    """The page size the user chose (``?per_page=``), if it is one of PAGE_SIZES; else `default`."""
    value = request.GET.get("per_page", "")
    return int(value) if value.isdigit() and int(value) in PAGE_SIZES else default


class PortalTable(tables.Table):
    """Every list's table: the portal's look, ``?sort=`` for sorting, exports by column name."""

    export_name = "export"  # the file name of its exports, without extension
    caption = ""  # what the table lists, read by screen readers
    page_sizes = PAGE_SIZES

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # django-tables2 reads only a table's own Meta: a table declaring none got tables2's defaults (its template,
        # no "data" class, no portal pager), silently.  Without its own Meta a table takes its parent's.
        if "Meta" not in cls.__dict__:
            cls._meta = TableOptions(cls.Meta, cls.__name__)

    def __init__(self, data, *, for_request=None, **kwargs):
        # `for_request`, not tables2's `request`, which would sort and page the whole list by itself
        super().__init__(data, **kwargs)
        self.for_request = for_request  # what a cell decides for the viewer is decided once per request
        self.user = getattr(for_request, "user", None)

    class Meta:
        template_name = "includes/table.html"
        attrs = {"class": "data"}
        order_by_field = "sort"
        empty_text = gettext_lazy("Nothing matches.")

    def show_page(self, page, *, query: str, per_page: int) -> None:
        """Show `page` (a page of records from the view's own paginator, which keeps its way of paging); `query`
        (the query string without ``page``) and `per_page` are for the pager."""
        page.object_list = list(page.object_list)
        self.prepare_rows(page.object_list)
        self.page, self.paginator = page, page.paginator
        self.query, self.per_page = query, per_page

    @property
    def paginated_rows(self):
        if hasattr(self, "page"):
            return [PageRow(record, table=self) for record in self.page.object_list]
        return self.rows

    def cell_plans(self) -> list[CellPlan]:
        """How each shown column renders its cells, worked out once per table (see :class:`CellPlan`)."""
        if not hasattr(self, "_cell_plans"):
            self._cell_plans = [CellPlan(column) for column in self.columns]
        return self._cell_plans

    def export_columns(self) -> list:
        return [c for c in self.columns.iterall() if not c.column.exclude_from_export]

    def prepare_rows(self, records: list) -> None:
        """Called with each batch of records before they are shown (the page, or a chunk of an export): decide at
        once, for the whole batch, what its cells need (which nested objects the viewer may see), so no cell
        costs a query."""

    def export_rows(self, records):
        """The header (column names), then one list of values per record of `records` (any iterable)."""
        columns = self.export_columns()
        # a column with a value_<name> (or render_<name>) method exports what it returns; any other its raw value:
        # the stored code, not its label in the reader's language, so an export reads the same in every language
        computed = {c.name for c in columns if hasattr(self, f"value_{c.name}") or hasattr(self, f"render_{c.name}")}
        yield [c.name for c in columns]
        records = iter(records)
        while chunk := list(islice(records, CSV_CHUNK)):
            self.prepare_rows(chunk)
            for record in chunk:
                row = BoundRow(record, table=self)
                yield [
                    row.get_cell_value(c.name) if c.name in computed else c.accessor.resolve(record, quiet=True)
                    for c in columns
                ]


class CellPlan:
    """One column's cells as django-tables2 renders them (``BoundRow.get_cell``: the model field's display value
    for a field with choices, the column's default for an empty value, ``render_<name>`` or the column's
    ``render`` called with the arguments it names, the column's link), with what does not change from row to row
    looked up once: the accessor, the render function's signature, the default and the cell's class.  tables2
    looks them up per cell (an ``inspect.signature`` each): about 0.15 ms a cell, 45 ms of a 25-row page."""

    def __init__(self, bound_column):
        self.bound_column = bound_column
        self.column = bound_column.column
        self.accessor = Accessor(bound_column.accessor)
        self.render = bound_column.render
        self.arguments, self.takes_any = signature(self.render)
        self.default = bound_column.default
        self.td_class = (bound_column.attrs.get("td") or {}).get("class", "")
        self.link = bound_column.link
        self.display = None  # the name of the record's get_<field>_display, once a first record has shown it
        self.decided = False
        # the exceptions tables2 makes, kept by taking its own path for them
        self.as_tables2 = isinstance(self.column, ManyToManyColumn) or (
            isinstance(self.column, BaseLinkColumn) and self.column.text is not None
        )

    def _decide_display(self, record) -> None:
        penultimate, remainder = self.accessor.penultimate(record)
        if isinstance(penultimate, models.Model):
            try:
                field = self.accessor.get_field(record)
            except FieldDoesNotExist:
                field = None
            if getattr(field, "choices", ()) and hasattr(penultimate, f"get_{remainder}_display"):
                self.display = f"get_{remainder}_display"
        self.decided = True

    def cell(self, row: BoundRow):
        if self.as_tables2:
            return row.get_cell(self.bound_column.name)
        record = row.record
        if not self.decided:
            self._decide_display(record)
        try:
            if self.display:
                penultimate, _remainder = self.accessor.penultimate(record)
                value = getattr(penultimate, self.display)()
            else:
                value = self.accessor.resolve(record)
        except Exception:  # as tables2: a column whose accessor does not resolve shows its default
            value = None
        if value in self.column.empty_values:
            return self.default
        kwargs = {
            "value": value,
            "record": record,
            "column": self.column,
            "bound_column": self.bound_column,
            "bound_row": row,
            "table": row.table,
        }
        content = self.render(**(kwargs if self.takes_any else {name: kwargs[name] for name in self.arguments}))
        return self.link(content, **kwargs) if self.link else content


class PageRow(BoundRow):
    """A row of a page: its cells as ``(class, content)`` pairs, rendered through the table's :class:`CellPlan`."""

    def page_cells(self):
        return [(plan.td_class, plan.cell(self)) for plan in self._table.cell_plans()]


def _csv_cell(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return neutralise(value)


def _xlsx_cell(value):
    """A value openpyxl writes as the spreadsheet should show it: numbers and dates stay typed (an aware time in the
    portal's time zone, as Excel has none), text that a spreadsheet would evaluate is neutralised (openpyxl itself
    stores any text starting with "=" as a formula)."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        return timezone.localtime(value).replace(tzinfo=None)
    if isinstance(value, int | float | dt.date) or value is None:
        return value
    if hasattr(value, "is_finite"):  # Decimal: a number in the sheet
        return value
    return neutralise(str(value))


def csv_response(table: PortalTable, records, *, filename: str) -> StreamingHttpResponse:
    """Streamed: an export of a million rows starts at once and holds no list in memory."""
    writer = csv_writer()
    lines = (writer.writerow([_csv_cell(v) for v in row]) for row in table.export_rows(records))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def xlsx_response(table: PortalTable, records, *, filename: str) -> HttpResponse:
    rows = table.export_rows(records)
    sheet = tablib.Dataset(headers=next(rows), title=filename[:31])
    for row in rows:
        sheet.append([_xlsx_cell(v) for v in row])
    response = HttpResponse(
        sheet.export("xlsx"), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    return response


class TableListView(RestrictedListView):
    """A list page with a table (``table_class``): the visible rows (``get_rows``: filtered by the API's filterset),
    sorted by ``?sort=`` through the table's columns (else ``ordering``), in pages of the chosen size (the view's
    ``paginator_class``, so a large list keeps its own way of paging), or exported with ``?format=csv|xlsx``.

    The template gets ``table`` (its page of rows and its pager), ``page``, ``query``, ``filter`` and
    ``export_formats``.  An export writes the same rows as the page, every page of them."""

    table_class: type[PortalTable] = PortalTable
    export_formats = EXPORT_FORMATS
    # 25 rows unless the user picks more: django-tables2 renders a cell in about 0.2 ms of CPU, so a page of 50
    # requests (12 columns) cost 290 ms of Python on the 1M-stock benchmark; 25 keeps every list under 200 ms
    paginate_by = 25

    def get(self, request, *args, **kwargs):
        export = request.GET.get("format", "")
        if export in self.export_formats:
            return self.export(export)
        return super().get(request, *args, **kwargs)

    def get_table(self, rows) -> PortalTable:
        return self.table_class(rows, for_request=self.request)

    def sort(self, rows):
        """By the column ``?sort=`` names (then the primary key: a stable order, pages never overlap); when it names
        none, by ``ordering``.  The table is kept (``self.table``) to show which column sorts."""
        self.table = self.get_table(rows)
        self.table.order_by = self.request.GET.get("sort", "")
        if not self.table.order_by:
            return super().sort(rows)
        sorted_rows = self.table.data.data
        descending = self.table.order_by[0].startswith("-")
        return sorted_rows.order_by(*sorted_rows.query.order_by, "-pk" if descending else "pk")

    def paginate(self, rows):
        """A page of the chosen size, shown by the table."""
        per_page = page_size(self.request, self.paginate_by)
        page = self.paginator_class(rows, per_page).get_page(self.request.GET.get("page"))
        self.table.show_page(page, query=query_without_page(self.request), per_page=per_page)
        return page

    def get_context_data(self, **extra):
        context = super().get_context_data(**extra)  # reads the rows: builds the table (sort) and its page
        return {"table": self.table, "export_formats": self.export_formats, **context}

    def export(self, export_format: str) -> HttpResponse:
        rows = self.get_rows()
        name = self.table.export_name
        if export_format == "csv":
            return csv_response(self.table, rows.iterator(chunk_size=CSV_CHUNK), filename=name)
        records = list(rows[: XLSX_MAX_ROWS + 1])
        if len(records) > XLSX_MAX_ROWS:
            messages.error(
                self.request,
                _(
                    "An XLSX export holds at most %(limit)s rows and this list has more: narrow the filters, or export CSV."
                )
                % {"limit": f"{XLSX_MAX_ROWS:,}"},
            )
            query = self.request.GET.copy()
            query.pop("format", None)
            return redirect(f"{self.request.path}?{query.urlencode()}")
        return xlsx_response(self.table, records, filename=name)
