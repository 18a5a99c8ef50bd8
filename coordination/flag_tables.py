"""The shortfall list: one row per stock (or per center's pool of an item, for unmet demand) with the kinds of its
flags, grouped in SQL, and the table that shows, sorts and exports those rows (``core.tables``).

Reconciliation raises up to two flags per stock (below safety, low days of supply) and one per pool: listed flag by
flag, an officer read the same item twice without knowing why.  The rows are one ``GROUP BY`` over the shortfall
rows themselves (they carry the stock's nation, center and item, so no stock is joined to group them), joined to
the small reference tables only; the page's stocks are read afterwards, one query per page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import django_tables2 as tables
from django.db.models import Count, F, Max, Min, Q, QuerySet
from django.db.models.query import ValuesIterable
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core.tables import PortalTable, quantity_with_unit
from inventory.models import Item, LogisticsCenter, Stock
from nations import access

from .models import CenterPass, Severity, Shortfall, ShortfallKind

# What a row is: a stock's flags share stock, nation, center and item; a pool's have no stock and no nation.
# Only these integer columns are grouped: names and codes are read for the rows shown (grouping the reference
# tables' text as well sorted 40,000 wide rows on disk for a coordinator, 0.6 s on the 1,000,000-stock database).
ROW_KEY = ("stock_id", "nation_id", "center_id", "item_id")
# the flags a row's checkbox acknowledges: at most two (one open flag per kind and stock, one per pool)
TO_ACKNOWLEDGE = Q(resolved_at__isnull=True, acknowledged_at__isnull=True)
ROW_BATCH = 2000


@dataclass
class ShortfallRow:
    """A stock (or a pool) with its shortfall flags, as the list shows it."""

    stock: Stock | None
    stock_id: int | None
    nation_id: int | None
    center_id: int
    item_id: int
    nation_code: str | None
    center_code: str
    nsn: str
    item_name: str
    unit: str
    supply_class: str
    kinds: list[ShortfallKind]
    severity: str
    available: int | None
    days_of_supply: Decimal | None
    target_days: Decimal | None
    open_demand: Decimal | None
    first_seen: datetime
    open_flags: int
    to_acknowledge: list[int]
    acknowledged_at: datetime | None
    acknowledged_by: str | None

    @property
    def key(self) -> str:
        return f"s{self.stock_id}" if self.stock_id else f"p{self.center_id}-{self.item_id}"

    @property
    def severity_label(self) -> str:
        return Severity(self.severity).label

    @property
    def safety_level(self) -> int | None:
        return self.stock.safety_level if self.stock is not None else None

    def as_flag(self) -> Shortfall:
        """An unsaved flag standing for the row, for the rules that take a flag (who may acknowledge it)."""
        return Shortfall(stock=self.stock, nation_id=self.nation_id, center_id=self.center_id, item_id=self.item_id)


def _rows(batch: list[dict]) -> list[ShortfallRow]:
    """Grouped values -> rows: their stocks (with nation, center and item) in one query; the centers and items of
    pools only when there are some."""
    stocks = Stock.objects.select_related("nation", "center", "item").in_bulk(
        [values["stock_id"] for values in batch if values["stock_id"]]
    )
    pools = [values for values in batch if not values["stock_id"]]
    centers = LogisticsCenter.objects.in_bulk([values["center_id"] for values in pools])
    items = Item.objects.in_bulk([values["item_id"] for values in pools])
    rows = []
    for values in batch:
        stock = stocks.get(values["stock_id"])
        center = stock.center if stock else centers[values["center_id"]]
        item = stock.item if stock else items[values["item_id"]]
        rows.append(_row(values, stock, center, item))
    return rows


def _row(values: dict, stock: Stock | None, center: LogisticsCenter, item: Item) -> ShortfallRow:
    return ShortfallRow(
        stock=stock,
        stock_id=values["stock_id"],
        nation_id=values["nation_id"],
        center_id=values["center_id"],
        item_id=values["item_id"],
        nation_code=stock.nation.code if stock else None,
        center_code=center.code,
        nsn=item.nsn,
        item_name=item.name,
        unit=item.unit_of_issue,
        supply_class=item.supply_class,
        kinds=[kind for kind in ShortfallKind if values[kind.value]],
        severity=values["worst_severity"],
        available=values["available_now"],
        days_of_supply=values["days_left"],
        target_days=values["target_days"],
        open_demand=values["open_demand"],
        first_seen=values["first_flagged"],
        open_flags=values["open_flags"],
        to_acknowledge=sorted({values["ack_first"], values["ack_last"]} - {None}),
        acknowledged_at=values["last_acknowledged"],
        acknowledged_by=values["acknowledger"],
    )


class ShortfallRowIterable(ValuesIterable):
    """Yields ``ShortfallRow`` objects for the grouped values: a page, a slice or an export (``.iterator()``) of the
    grouped queryset reads its stocks once per batch of rows, never once per row."""

    def __iter__(self):
        batch = []
        for values in super().__iter__():
            batch.append(values)
            if len(batch) == ROW_BATCH:
                yield from _rows(batch)
                batch = []
        if batch:
            yield from _rows(batch)


def shortfalls_by_stock(shortfalls: QuerySet[Shortfall]) -> QuerySet:
    """`shortfalls` (visible, filtered flags) as one row per stock or pool, iterated as ``ShortfallRow`` objects.

    Sorting names the annotations: ``worst_severity`` ("critical" sorts before "warning"), ``days_left``,
    ``available_now``, ``first_flagged``, ``to_acknowledge_count``."""
    rows = (
        shortfalls.order_by()
        .values(*ROW_KEY)
        .annotate(
            **{kind.value: Count("id", filter=Q(kind=kind)) for kind in ShortfallKind},
            worst_severity=Min("severity"),
            available_now=Max("available"),
            days_left=Min("days_of_supply"),
            target_days=Max("threshold", filter=Q(kind=ShortfallKind.LOW_DAYS_OF_SUPPLY)),
            open_demand=Max("threshold", filter=Q(kind=ShortfallKind.UNMET_DEMAND)),
            first_flagged=Min("first_seen"),
            open_flags=Count("id", filter=Q(resolved_at__isnull=True)),
            to_acknowledge_count=Count("id", filter=TO_ACKNOWLEDGE),
            ack_first=Min("id", filter=TO_ACKNOWLEDGE),
            ack_last=Max("id", filter=TO_ACKNOWLEDGE),
            last_acknowledged=Max("acknowledged_at"),
            acknowledger=Max("acknowledged_by__username"),
        )
    )
    rows._iterable_class = ShortfallRowIterable  # how values() querysets build their rows: ours builds ShortfallRow
    return rows


def most_severe_first(rows: QuerySet, *, descending: bool = False) -> QuerySet:
    """Critical before warning; within a severity, the fewest days of supply, then the least available."""
    nulls = {"nulls_first": True} if descending else {"nulls_last": True}
    order = [F("worst_severity"), F("days_left"), F("available_now")]
    return rows.order_by(*((f.desc(**nulls) if descending else f.asc(**nulls)) for f in order), *ROW_KEY)


def last_reconciliation() -> datetime | None:
    """When reconciliation last went over a center (any center); None if it never ran."""
    return CenterPass.objects.aggregate(last=Max("passed_at"))["last"]


# --- the table -------------------------------------------------------------------------------------------------

NUM = {"th": {"class": "num"}, "td": {"class": "num"}}
NOWRAP = {"td": {"class": "nowrap"}}


def _days(value) -> str:
    return floatformat(value, -1)  # whole days, or one decimal


def _when(value) -> str:
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT") if value else ""


class ShortfallTable(PortalTable):
    """One row per stock (or pool); the page's checkboxes belong to the bulk-acknowledge form (``form=`` attribute),
    so the table needs no form of its own around it."""

    export_name = "shortfalls"

    select = tables.Column(
        accessor="key", verbose_name=_("Select"), orderable=False, exclude_from_export=True, empty_values=()
    )
    severity = tables.Column(verbose_name=_("Severity"), order_by=("worst_severity",))
    kinds = tables.Column(verbose_name=_("Flags"), orderable=False, empty_values=())
    nation = tables.Column(accessor="nation_code", verbose_name=_("Nation"), order_by=("nation__code",))
    center = tables.Column(accessor="center_code", verbose_name=_("Center"), order_by=("center__code",))
    nsn = tables.Column(visible=False, order_by=("item__nsn",))
    item = tables.Column(
        accessor="item_name", verbose_name=_("Item"), order_by=("item__name", "item__nsn"), empty_values=()
    )
    supply_class = tables.Column(visible=False)
    unit = tables.Column(visible=False)
    available = tables.Column(verbose_name=_("Available"), order_by=("available_now",), attrs=NUM)
    safety_level = tables.Column(verbose_name=_("Safety level"), orderable=False, attrs=NUM)
    days_of_supply = tables.Column(verbose_name=_("Days of supply"), attrs=NUM)
    target_days = tables.Column(visible=False)
    open_demand = tables.Column(visible=False)
    first_seen = tables.Column(verbose_name=_("First seen"), order_by=("first_flagged",), attrs=NOWRAP)
    state = tables.Column(
        accessor="open_flags", verbose_name=_("State"), order_by=("-to_acknowledge_count",), empty_values=()
    )
    acknowledged_by = tables.Column(visible=False)
    acknowledged_at = tables.Column(visible=False)
    actions = tables.Column(
        accessor="key", verbose_name=_("Actions"), orderable=False, exclude_from_export=True, attrs=NOWRAP
    )

    class Meta(PortalTable.Meta):
        row_attrs = {"class": lambda record: f"flg-row flg-{record.severity}"}

    # sorting: the severity and days-of-supply orders put rows without a figure last

    def order_severity(self, rows, is_descending):
        return most_severe_first(rows, descending=is_descending), True

    def order_days_of_supply(self, rows, is_descending):
        days = F("days_left").desc(nulls_last=True) if is_descending else F("days_left").asc(nulls_last=True)
        return rows.order_by(days, *ROW_KEY), True

    # the page

    def render_select(self, record):
        if not record.to_acknowledge or not access.can(self.user, "flag.acknowledge", record.as_flag()):
            return ""
        return format_html(
            '<input type="checkbox" name="flags" value="{}" form="flg-ack" aria-label="{}">',
            ",".join(map(str, record.to_acknowledge)),
            _("Select %(item)s at %(center)s") % {"item": record.item_name, "center": record.center_code},
        )

    def render_severity(self, record):
        return format_html('<span class="badge {}">{}</span>', record.severity, record.severity_label)

    def render_kinds(self, record):
        return format_html_join(
            " ",
            '<span class="badge flg-kind flg-{}">{}</span>',
            ((kind.value, kind.label) for kind in record.kinds),
        )

    def render_nation(self, record):
        return record.nation_code or _("pool")

    def render_item(self, record):
        # a visible flag vouches for its stock (nations.access.visibility.VOUCHED): the link leaks nothing
        name = format_html("<code>{}</code> {}", record.nsn, record.item_name)
        if record.stock_id is None:
            return name
        return format_html('<a href="{}">{}</a>', reverse("stock-detail", args=[record.stock_id]), name)

    def render_available(self, record):
        return quantity_with_unit(record.available, record.unit)

    def render_safety_level(self, record):
        if record.stock_id is None:  # a pool's shortfall: what was asked of it instead
            return format_html(
                '<span class="flg-demand">{}</span>',
                _("open demand %(quantity)s") % {"quantity": quantity_with_unit(record.open_demand, record.unit)},
            )
        return quantity_with_unit(record.safety_level, record.unit)

    def render_days_of_supply(self, record):
        if record.days_of_supply is None:
            return "—"
        if record.target_days is None:
            return _("%(days)s d") % {"days": _days(record.days_of_supply)}
        return _("%(days)s d of %(target)s") % {
            "days": _days(record.days_of_supply),
            "target": _days(record.target_days),
        }

    def render_first_seen(self, record):
        # the day is what a reader weighs here; the time (UTC) is in the cell's title and in the exports
        if not record.first_seen:
            return ""
        moment = timezone.localtime(record.first_seen)
        return format_html(
            '<time datetime="{}" title="{}">{}</time>',
            moment.isoformat(),
            _when(record.first_seen),
            formats.date_format(moment, "SHORT_DATE_FORMAT"),
        )

    def render_state(self, record):
        if not record.open_flags:
            return _("Resolved")
        if record.to_acknowledge:
            return _("Open")
        return _("Acknowledged by %(who)s, %(when)s") % {
            "who": record.acknowledged_by or "—",
            "when": _when(record.acknowledged_at),
        }

    def render_actions(self, record):
        # the viewer raises requests for these nations (their grants are read once per page, not per row)
        if record.stock_id is None or record.nation_id not in access.profile(self.user).logistics_nations:
            return ""
        return format_html(
            '<a class="button small" href="{}?stock={}">{}</a>',
            reverse("request-new"),
            record.stock_id,
            _("Request supplies"),
        )

    # the export: machine values (codes, numbers, ISO times)

    def value_severity(self, record):
        return record.severity

    def value_kinds(self, record):
        return " ".join(kind.value for kind in record.kinds)

    def value_nation(self, record):
        return record.nation_code or ""

    def value_item(self, record):
        return record.item_name

    def value_available(self, record):
        return record.available

    def value_safety_level(self, record):
        return record.safety_level

    def value_days_of_supply(self, record):
        return record.days_of_supply

    def value_first_seen(self, record):
        return record.first_seen

    def value_state(self, record):
        if not record.open_flags:
            return "resolved"
        return "open" if record.to_acknowledge else "acknowledged"
