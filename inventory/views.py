"""Browser pages for stocks and centers.  Every queryset comes from ``visible_to``; every button from
``access.can``: the same rules as the API."""

import csv

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, F, Q, Sum, Value, When
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from coordination.models import Discrepancy, Shortfall
from core.web import finish, service_action, visible_or_404
from nations import access

from . import services
from .charts import chart_for_stock
from .filters import StockFilter
from .forms import AdjustForm, CountForm, StockSettingsForm
from .models import CountSource, LogisticsCenter, Stock

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


def visible_stocks(user):
    return Stock.objects.visible_to(user).select_related("nation", "center", "item").with_available()


@login_required
def stock_list(request):
    """The stocks the user may see: filters (the API's filterset), sorting, pages of 50, CSV export."""
    stock_filter = StockFilter(request.GET, queryset=visible_stocks(request.user))
    sort = request.GET.get("sort", "center")
    rows = _sorted(stock_filter.qs, sort)
    if request.GET.get("format") == "csv":
        return _csv(rows)
    page = IdsFirstPaginator(rows, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "inventory/stock_list.html",
        {
            "filter": stock_filter,
            "page": page,
            "sort": sort,
            "query": query.urlencode(),
        },
    )


class _Echo:
    def write(self, value):
        return value


def _csv(rows):
    """Streamed, so an export of many thousand rows starts at once and holds no list in memory."""
    writer = csv.writer(_Echo())
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
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="stocks.csv"'
    return response


def _stock_context(request, stock, forms=None, outcome=None):
    user = request.user
    forms = forms or {}
    can = {action: access.can(user, f"stock.{action}", stock) for action in ("adjust", "count", "edit")}
    return {
        "stock": stock,
        "can": can,
        "adjust_form": forms.get("adjust") or AdjustForm(),
        "count_form": forms.get("count") or CountForm(),
        "settings_form": forms.get("settings")
        or StockSettingsForm(
            initial={
                "safety_level": stock.safety_level,
                "daily_consumption": stock.daily_consumption,
                "shared": stock.shared,
            }
        ),
        "outcome": outcome,
    }


@login_required
def stock_detail(request, pk):
    """A stock: its figures, its chart, its ledger, its counts, its open flags, and the actions allowed."""
    stock = visible_or_404(visible_stocks(request.user), pk=pk)
    ledger = Paginator(stock.movements.select_related("actor", "request").order_by("-id"), 25).get_page(
        request.GET.get("page")
    )
    context = _stock_context(request, stock)
    context.update(
        {
            "ledger": ledger,
            "counts": stock.counts.select_related("counted_by")[:10],
            "shortfalls": Shortfall.objects.filter(stock=stock, resolved_at__isnull=True),
            "discrepancies": Discrepancy.objects.filter(stock=stock, resolved_at__isnull=True),
            "chart": chart_for_stock(stock),
        }
    )
    return render(request, "inventory/stock_detail.html", context)


def _stock_action(request, pk, action: str):
    stock = visible_or_404(visible_stocks(request.user), pk=pk)
    access.require(request.user, f"stock.{'edit' if action == 'settings' else action}", stock)
    form_class = {"adjust": AdjustForm, "count": CountForm, "settings": StockSettingsForm}[action]
    form = form_class(request.POST)
    success = ""
    with service_action(request) as outcome:
        if not form.is_valid():
            outcome.status = 400
            outcome.errors = [e for errors in form.errors.values() for e in errors]
        elif action == "adjust":
            services.adjust_stock(
                stock=stock, delta=form.cleaned_data["delta"], actor=request.user, reason=form.cleaned_data["reason"]
            )
            success = _("Adjustment booked.")
        elif action == "count":
            source = (
                CountSource.OPERATOR
                if stock.center_id in access.profile(request.user).operated_centers
                else CountSource.OFFICER
            )
            services.record_count(
                stock=stock,
                counted_quantity=form.cleaned_data["counted_quantity"],
                counted_by=request.user,
                source=source,
                note=form.cleaned_data["note"],
            )
            success = _("Count recorded.")
        else:
            services.update_stock_settings(stock=stock, actor=request.user, **form.cleaned_data)
            success = _("Stock settings saved.")
    if not form.is_valid():
        outcome.status = 400

    def render_page(fragment: bool):
        fresh = visible_stocks(request.user).get(pk=pk)
        context = _stock_context(request, fresh, forms={action: form} if not outcome.ok else None, outcome=outcome)
        if outcome.ok:
            context["success"] = success
        if fragment:
            return render(request, "inventory/_stock_panel.html", context)
        context.update(
            {
                "ledger": Paginator(fresh.movements.select_related("actor", "request").order_by("-id"), 25).get_page(1),
                "counts": fresh.counts.select_related("counted_by")[:10],
                "shortfalls": Shortfall.objects.filter(stock=fresh, resolved_at__isnull=True),
                "discrepancies": Discrepancy.objects.filter(stock=fresh, resolved_at__isnull=True),
                "chart": chart_for_stock(fresh),
            }
        )
        return render(request, "inventory/stock_detail.html", context)

    if request.htmx and outcome.ok:
        response = render_page(True)
        response["HX-Refresh"] = "true"  # balances, ledger and chart all changed: reload the page
        return response
    return finish(request, outcome, render=render_page, redirect_to=reverse("stock-detail", args=[pk]), success=success)


@login_required
@require_POST
def stock_adjust(request, pk):
    return _stock_action(request, pk, "adjust")


@login_required
@require_POST
def stock_count(request, pk):
    return _stock_action(request, pk, "count")


@login_required
@require_POST
def stock_settings(request, pk):
    return _stock_action(request, pk, "settings")


@login_required
def center_list(request):
    centers = LogisticsCenter.objects.select_related("host_nation").prefetch_related("participants")
    return render(request, "inventory/center_list.html", {"centers": centers})


@login_required
def center_detail(request, code):
    """A center and its pool as the user may see it: per item, totals over the visible stocks (on hand,
    reserved, available, shared available) and, by nation, the stocks themselves.  Totals are computed from
    visible rows only, so the page never reveals the sum of another nation's private stock."""
    center = visible_or_404(
        LogisticsCenter.objects.select_related("host_nation").prefetch_related("participants"), code=code
    )
    visible = Stock.objects.visible_to(request.user).filter(center=center)
    q = request.GET.get("q", "").strip()
    if q:
        visible = visible.filter(Q(item__nsn__startswith=q) | Q(item__name__icontains=q))
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
    return render(
        request,
        "inventory/center_detail.html",
        {
            "center": center,
            "page": page,
            "rows": rows,
            "q": q,
            "can_reconcile": access.can(request.user, "reconciliation.start", center),
        },
    )
