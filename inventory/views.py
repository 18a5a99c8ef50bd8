"""Browser pages for stocks and centers.  Lists and details are the base page views of ``core.web`` (rows through
``visible_to``; centers are reference data, declared public); every button comes from ``access.can``: the same
rules as the API."""

from django.core.paginator import Paginator
from django.db.models import Case, F, Sum, Value, When

from core.filters import item_search
from core.tables import TableListView
from core.web import RestrictedDetailView
from nations import access

from .filters import CenterFilter, StockFilter
from .models import LogisticsCenter, Stock
from .tables import CenterTable, StockTable


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


class StockListView(TableListView):
    """The stocks the user may see: filters (the API's filterset), sortable columns, pages of a chosen size,
    CSV (streamed) and XLSX exports of the same rows."""

    queryset = STOCK_ROWS
    filterset_class = StockFilter
    table_class = StockTable
    ordering = ("center__code", "item__nsn", "pk")
    paginator_class = IdsFirstPaginator
    template_name = "inventory/stock_list.html"

    def get_queryset(self):
        return super().get_queryset().with_available()


stock_list = StockListView.as_view()


CENTER_ROWS = LogisticsCenter.objects.select_related("host_nation").prefetch_related("participants")


class CenterListView(TableListView):
    """Every center (reference data), filtered by host nation, participant and kind (the API's filterset)."""

    public = True
    queryset = CENTER_ROWS
    filterset_class = CenterFilter
    table_class = CenterTable
    ordering = ("code",)
    template_name = "inventory/center_list.html"


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
