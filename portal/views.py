"""The pages that combine the apps: the dashboard (what needs the user's attention, by role) and the stock page
(its figures, chart, ledger and counts from inventory, its open flags from coordination, and the stock actions,
which re-render it)."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.web import RestrictedDetailView, finish, service_action, visible_or_404
from inventory import services
from inventory.charts import stock_balance_chart
from inventory.forms import AdjustForm, CountForm, StockSettingsForm
from inventory.models import CountSource
from inventory.views import STOCK_ROWS, visible_stocks
from nations import access

from .selectors import dashboard, open_flags_of


@login_required
def home(request):
    return render(request, "portal/home.html", dashboard(request.user))


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
            stock=stock,
            initial={
                "safety_level": stock.safety_level,
                "daily_consumption": stock.daily_consumption,
                "releasable_to": [stock.releasable_to] if stock.shared else stock.releasable_to,
            },
        ),
        "outcome": outcome,
    }


class StockDetailView(RestrictedDetailView):
    """A stock: its figures, its chart, its ledger, its counts, its open flags, and the actions allowed."""

    queryset = STOCK_ROWS
    template_name = "inventory/stock_detail.html"
    context_object_name = "stock"

    def get_queryset(self):
        return super().get_queryset().with_available()

    def get_context_data(self, **extra):
        stock = self.object
        ledger = Paginator(stock.movements.select_related("actor", "request").order_by("-id"), 25).get_page(
            self.request.GET.get("page")
        )
        context = _stock_context(self.request, stock)
        context.update(
            {
                "ledger": ledger,
                "counts": stock.counts.select_related("counted_by")[:10],
                **open_flags_of(stock),
                "chart": stock_balance_chart(stock),
                **extra,
            }
        )
        return context


stock_detail = StockDetailView.as_view()


def _stock_action(request, pk, action: str):
    stock = visible_or_404(visible_stocks(request.user), pk=pk)
    access.require(request.user, f"stock.{'edit' if action == 'settings' else action}", stock)
    form_class = {"adjust": AdjustForm, "count": CountForm, "settings": StockSettingsForm}[action]
    form = form_class(request.POST, stock=stock) if action == "settings" else form_class(request.POST)
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
                **open_flags_of(fresh),
                "chart": stock_balance_chart(fresh),
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
