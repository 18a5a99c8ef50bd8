"""Browser pages for stocks and centers.  Lists and details are the base page views of ``core.web`` (rows through
``visible_to``; centers are reference data, declared public); every button comes from ``access.can``: the same
rules as the API."""

from django.core.paginator import Paginator
from django.db.models import Case, F, Sum, Value, When
from django.http import StreamingHttpResponse

from core.export import csv_writer
from core.filters import item_search
from core.web import RestrictedDetailView, RestrictedListView
from nations import access

from .filters import StockFilter
from .models import LogisticsCenter, Stock

STOCK_SORTS = {
    "center": ("center__code", "item__nsn"),
    "nation": ("nation__code", "center__code", "item__nsn"),
    "nsn": ("item__nsn", "center__code"),
    "name": ("item__name", "item__nsn"),
    "on_hand": ("on_hand", "id"),
    "available": ("available_qty", "id"),
    "safety": ("safety_level", "id"),
}


def _sorted(queryset, key: str):
    descending = key.startswith("-")
    fields = STOCK_SORTS.get(key.lstrip("-"), STOCK_SORTS["center"])
    return queryset.order_by(*(f"-{f}" if descending else f for f in fields))


class IdsFirstPaginator(Paginator):
    """Pages of a large sorted queryset in two steps: the ids of the page first -- a narrow query the database
    answers from an index (stock_center_reconcile_idx carries every column the visibility rule and the sort
    read) -- then those rows with their nation, center and item.  Sorting whole joined rows to keep 50 of them
    made the stock list the slowest page on a million stocks."""

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        rows = self.object_list.order_by().in_bulk(ids)
        return self._get_page([rows[pk] for pk in ids], number, self)


STOCK_ROWS = Stock.objects.select_related("nation", "center", "item", "release_list")


def visible_stocks(user):
    return STOCK_ROWS.all().visible_to(user).with_available()


class StockListView(RestrictedListView):
    """The stocks the user may see: filters (the API's filterset), sorting, pages of 50, CSV export."""

    queryset = STOCK_ROWS
    filterset_class = StockFilter
    paginator_class = IdsFirstPaginator
    template_name = "inventory/stock_list.html"

    def get_queryset(self):
        return super().get_queryset().with_available()

    def sort(self, rows):
        return _sorted(rows, self.request.GET.get("sort", "center"))

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "csv":
            return _csv(self.get_rows())
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **extra):
        return super().get_context_data(sort=self.request.GET.get("sort", "center"), **extra)


stock_list = StockListView.as_view()


def _csv(rows):
    """Streamed, so an export of many thousand rows starts at once and holds no list in memory.  Text cells that
    a spreadsheet would evaluate (an item named "=HYPERLINK(...)") are quoted by ``core.export``."""
    writer = csv_writer()
    header = [
        "center",
        "nation",
        "nsn",
        "item",
        "supply_class",
        "unit",
        "on_hand",
        "reserved",
        "available",
        "safety_level",
        "daily_consumption",
        "shared",
        "updated_at",
        "releasable_to",
    ]

    def lines():
        yield writer.writerow(header)
        for s in rows.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    s.center.code,
                    s.nation.code,
                    s.item.nsn,
                    s.item.name,
                    s.item.supply_class,
                    s.item.unit_of_issue,
                    s.on_hand,
                    s.reserved,
                    s.available,
                    s.safety_level,
                    s.daily_consumption,
                    "yes" if s.shared else "no",
                    s.updated_at.isoformat(),
                    "ALL" if s.shared else " ".join(s.releasable_to),  # codes apart by spaces; empty: private
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="stocks.csv"'
    return response


CENTER_ROWS = LogisticsCenter.objects.select_related("host_nation").prefetch_related("participants")


class CenterListView(RestrictedListView):
    """Every center (reference data), on one page."""

    public = True
    queryset = CENTER_ROWS
    template_name = "inventory/center_list.html"

    def get_context_data(self, **extra):
        return {"centers": self.get_rows(), **extra}


center_list = CenterListView.as_view()


class CenterDetailView(RestrictedDetailView):
    """A center (reference data) and its pool as the user may see it: per item, totals over the visible stocks
    (on hand, reserved, available, shared available) and, by nation, the stocks themselves.  Totals are computed
    from visible rows only, so the page never reveals the sum of another nation's private stock."""

    public = True
    queryset = CENTER_ROWS
    template_name = "inventory/center_detail.html"
    lookup_field = "code"

    def get_context_data(self, **extra):
        return _center_context(self.request, self.object)


center_detail = CenterDetailView.as_view()


def _center_context(request, center) -> dict:
    visible = Stock.objects.visible_to(request.user).filter(center=center)
    q = request.GET.get("q", "").strip()
    visible = item_search(visible, q, item_path="item__")
    available = F("on_hand") - F("reserved")
    pool = (
        visible.values("item_id", "item__nsn", "item__name", "item__unit_of_issue")
        .annotate(
            on_hand_total=Sum("on_hand"),
            reserved_total=Sum("reserved"),
            available_total=Sum(available),
            shared_available=Sum(Case(When(shared=True, then=available), default=Value(0))),
        )
        .order_by("item__nsn")
    )
    page = Paginator(pool, 50).get_page(request.GET.get("page"))
    item_ids = [row["item_id"] for row in page]
    by_item: dict[int, list] = {}
    for stock in visible.filter(item_id__in=item_ids).select_related("nation").order_by("nation__code"):
        by_item.setdefault(stock.item_id, []).append(stock)
    rows = [(row, by_item.get(row["item_id"], [])) for row in page]
    return {
        "center": center,
        "page": page,
        "rows": rows,
        "q": q,
        "can_reconcile": access.can(request.user, "reconciliation.start", center),
    }
