"""Browser pages for requests, flags, reconciliation runs and notifications.

Lists come from ``visible_to``; each action button is shown when ``access.can`` says so, and the action itself
calls the same service as the API, so the browser and the API can never disagree."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.web import (
    RestrictedDetailView,
    RestrictedListView,
    finish,
    render_list,
    service_action,
    visible_or_404,
)
from inventory.models import Item, LogisticsCenter
from nations import access
from nations.access import visibility
from nations.models import Nation

from . import lifecycle, runs, services
from .filters import DiscrepancyFilter, ShortfallFilter, SupplyRequestFilter
from .forms import SupplyRequestForm, TransitionForm
from .models import (
    Discrepancy,
    DiscrepancyKind,
    Notification,
    ReconciliationRun,
    RequestEvent,
    Shortfall,
    SupplyRequest,
)
from .run_findings import disclose_findings
from .sourcing import sourcing_options


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def visible_requests(user):
    return SupplyRequest.objects.visible_to(user).select_related(
        "requesting_nation", "supplying_nation", "item", "source_center", "destination_center", "created_by"
    )


@login_required
def request_list(request):
    request_filter = SupplyRequestFilter(request.GET, queryset=visible_requests(request.user).order_by("-id"))
    page = Paginator(request_filter.qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "coordination/request_list.html",
        {
            "filter": request_filter,
            "page": page,
            "query": _query_without_page(request),
            "can_create": bool(access.profile(request.user).logistics_nations),
        },
    )


def _request_nations(user):
    return Nation.objects.filter(id__in=access.nation_ids_for(user, [access.Role.LOGISTICS])).order_by("code")


@login_required
def request_new(request):
    """Raise a request; once item, quantity and destination are chosen, sourcing suggestions appear (htmx)."""
    nations = _request_nations(request.user)
    if not nations.exists():
        raise PermissionDenied(_("Only a nation's logistics officers raise requests."))
    form = SupplyRequestForm(request.POST or None, nations=nations)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            with service_action(request) as outcome:
                created = services.create_request(
                    requester=request.user,
                    requesting_nation=data["requesting_nation"],
                    supplying_nation=data["supplying_nation"],
                    item=data["nsn"],
                    source_center=data["source_center"],
                    destination_center=data["destination_center"],
                    quantity=data["quantity"],
                    required_by=data["required_by"],
                    justification=data["justification"],
                    priority=data["priority"],
                    submit=data["submit_now"],
                )
            if outcome.ok:
                return redirect("request-detail-page", created.pk)
            status = outcome.status
            for field, errors in outcome.field_errors.items():
                if field in form.fields:
                    form.add_error(field, errors)
        else:
            status = 400
    response = render(request, "coordination/request_new.html", {"form": form})
    response.status_code = status
    return response


@login_required
def request_sourcing(request):
    """The sourcing suggestions fragment for the new-request form."""
    item = Item.objects.filter(nsn=request.GET.get("nsn", "").strip()).first()
    destination = LogisticsCenter.objects.filter(code=request.GET.get("destination_center", "")).first()
    try:
        quantity = int(request.GET.get("quantity", ""))
    except ValueError:
        quantity = 0
    options = []
    if item and destination and quantity > 0:
        own = access.profile(request.user).logistics_nations
        options = sourcing_options(
            user=request.user, item=item, quantity=quantity, destination=destination, exclude_nation_ids=own
        )[:10]
    return render(
        request,
        "coordination/_sourcing.html",
        {
            "options": options,
            "ready": bool(item and destination and quantity > 0),
            "item": item,
            "quantity": quantity,
            "selected": request.GET.get("source_option", ""),
        },
    )


def _request_context(request, supply_request, outcome=None, forms=None):
    """The request panel: the request, its timeline, and a form for each transition this viewer may make now
    (`forms` holds a rejected form, shown again with its errors)."""
    forms = forms or {}
    return {
        "req": supply_request,
        "events": supply_request.events.select_related("actor").all(),
        "actions": [
            forms.get(row.action) or TransitionForm(transition=row, supply_request=supply_request)
            for row in lifecycle.available_actions(request.user, supply_request)
        ],
        "outcome": outcome,
    }


@login_required
def request_detail(request, pk):
    supply_request = visible_or_404(
        visible_requests(request.user).prefetch_related(
            Prefetch("events", queryset=RequestEvent.objects.select_related("actor"))
        ),
        pk=pk,
    )
    return render(request, "coordination/request_detail.html", _request_context(request, supply_request))


@login_required
def request_action(request, pk, action):
    """Any transition of the lifecycle table (its row's form, then its service), answered as the API answers."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if action not in lifecycle.BY_ACTION:
        raise Http404  # no such address, whatever the request: the same answer for every pk
    supply_request = visible_or_404(visible_requests(request.user), pk=pk)
    form = TransitionForm(request.POST, transition=lifecycle.transition(action))
    success = ""
    with service_action(request) as outcome:
        if not access.can(request.user, f"request.{action}", supply_request):
            raise PermissionDenied(_("You may not do that with this request."))
        if not form.is_valid():
            outcome.status = 400
            outcome.errors = [
                f"{form.fields[f].label}: {e}" if f in form.fields else e
                for f, errors in form.errors.items()
                for e in errors
            ]
        else:
            services.make_transition(action=action, request=supply_request, actor=request.user, **form.cleaned_data)
            success = _("Done: the request is now %(status)s.") % {
                "status": SupplyRequest.objects.get(pk=pk).get_status_display().lower()
            }
    # A refused right raised PermissionDenied inside service_action: answer it as 403 (the page stays visible).

    def render_page(fragment: bool):
        fresh = visible_requests(request.user).get(pk=pk)
        context = _request_context(request, fresh, outcome=outcome, forms=None if outcome.ok else {action: form})
        if outcome.ok:
            context["success"] = success
        template = "coordination/_request_panel.html" if fragment else "coordination/request_detail.html"
        return render(request, template, context)

    return finish(
        request, outcome, render=render_page, redirect_to=reverse("request-detail-page", args=[pk]), success=success
    )


# --- flags ----------------------------------------------------------------------------------------------------


def _mark_acknowledgeable(user, flags) -> None:
    """The same rule as the action decides whether the button shows (no second set of rules in templates)."""
    for flag in flags:
        flag.can_acknowledge = access.can(user, "flag.acknowledge", flag)


class FlagListView(RestrictedListView):
    """Open flags by default (a page opened with no query); each row says whether its button shows."""

    def get_filter_data(self):
        return self.request.GET or {"open": "true"}

    def get_context_data(self, **extra):
        context = super().get_context_data(**extra)
        _mark_acknowledgeable(self.request.user, context["page"])
        return context


class ShortfallListView(FlagListView):
    queryset = Shortfall.objects.select_related("nation", "center", "item", "stock", "acknowledged_by")
    filterset_class = ShortfallFilter
    # most severe first: "critical" sorts before "warning" (the only two severities, a check constraint says so)
    ordering = ("severity", "-last_seen")
    template_name = "coordination/shortfall_list.html"


class DiscrepancyListView(FlagListView):
    queryset = Discrepancy.objects.select_related(
        "stock__nation", "stock__center", "stock__item", "request", "acknowledged_by"
    )
    filterset_class = DiscrepancyFilter
    ordering = ("-last_seen",)
    template_name = "coordination/discrepancy_list.html"

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.request.GET.get("stock", "").isdigit():
            queryset = queryset.filter(stock_id=int(self.request.GET["stock"]))
        return queryset

    def get_context_data(self, **extra):
        return super().get_context_data(
            resolvable_nations=access.profile(self.request.user).logistics_nations,
            count_kind=DiscrepancyKind.COUNT_MISMATCH,
            **extra,
        )


shortfall_list = ShortfallListView.as_view()
discrepancy_list = DiscrepancyListView.as_view()


@login_required
@require_POST
def flag_acknowledge(request, kind, pk):
    model = {"shortfalls": Shortfall, "discrepancies": Discrepancy}.get(kind)
    if model is None:
        raise Http404
    flag = visible_or_404(model.objects.visible_to(request.user).select_related("stock"), pk=pk)
    access.require(request.user, "flag.acknowledge", flag)
    services.acknowledge_flag(flag=flag, user=request.user)
    if request.htmx:
        return render(
            request, "coordination/_ack.html", {"flag": model.objects.select_related("acknowledged_by").get(pk=pk)}
        )
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("shortfall-list" if kind == "shortfalls" else "discrepancy-list")  # never off the site
    return redirect(next_url)


@login_required
@require_POST
def discrepancy_resolve(request, pk):
    flag = visible_or_404(Discrepancy.objects.visible_to(request.user), pk=pk)
    decision = request.POST.get("decision")
    accept = decision == "accept"
    with service_action(request) as outcome:
        if decision not in ("accept", "reject"):  # a missing or garbled choice never settles the count
            raise ValidationError({"decision": _("Choose to accept or to reject the count.")})
        services.resolve_count_discrepancy(
            discrepancy=flag, user=request.user, accept=accept, comment=request.POST.get("comment", "")[:2000]
        )

    def render_row(fragment: bool):
        fresh = Discrepancy.objects.select_related(
            "stock__nation", "stock__center", "stock__item", "request", "acknowledged_by"
        ).get(pk=pk)
        return render(
            request,
            "coordination/_discrepancy_row.html",
            {
                "d": fresh,
                "outcome": outcome,
                "resolvable_nations": access.profile(request.user).logistics_nations,
                "count_kind": DiscrepancyKind.COUNT_MISMATCH,
            },
        )

    if not request.htmx and not outcome.ok:
        return _list_with_status(DiscrepancyListView, request, outcome.status)  # the list, with the error message
    return finish(
        request,
        outcome,
        render=render_row,
        redirect_to=reverse("discrepancy-list"),
        success=_("Count accepted: the books were adjusted.") if accept else _("Count rejected."),
    )


def _list_with_status(list_view_class, request, status: int):
    """A refused plain form post: the list page again, with the error message and the API's status."""
    response = render_list(list_view_class, request)
    response.status_code = status
    return response


# --- reconciliation -------------------------------------------------------------------------------------------


RUN_ROWS = ReconciliationRun.objects.select_related("center", "started_by")


class ReconciliationListView(RestrictedListView):
    """The runs, newest first, and the centers whose reconciliation the user may start."""

    queryset = RUN_ROWS
    ordering = ("-id",)
    paginate_by = 25
    template_name = "coordination/reconciliation_list.html"

    def get_context_data(self, **extra):
        profile = access.profile(self.request.user)
        startable = LogisticsCenter.objects.filter(visibility.reconcilable_center(profile)).order_by("code")
        context = super().get_context_data(
            coordinator=profile.coordinator,
            startable=startable,
            preselected=self.request.GET.get("center", ""),
            **extra,
        )
        page = context["page"]
        page.object_list = list(page.object_list)  # the rows the template shows are the ones disclosed
        disclose_findings(page.object_list, self.request.user)
        return context


reconciliation_list = ReconciliationListView.as_view()


@login_required
@require_POST
def reconciliation_start(request):
    code = request.POST.get("center", "")
    center = LogisticsCenter.objects.filter(code=code).first() if code else None
    if code and center is None:
        raise Http404
    run = None
    with service_action(request) as outcome:
        run = runs.start_reconciliation(user=request.user, center=center, trigger="browser")
    if request.htmx:
        if outcome.ok:
            run = ReconciliationRun.objects.select_related("center", "started_by").get(pk=run.pk)
        response = render(request, "coordination/_run_progress.html", {"run": run, "outcome": outcome})
        response.status_code = outcome.status
        return response
    if not outcome.ok:
        return _list_with_status(ReconciliationListView, request, outcome.status)  # the list, with the error message
    return redirect("reconciliation-list")


class ReconciliationProgressView(RestrictedDetailView):
    """The live progress bar: htmx polls this fragment until the run finishes."""

    queryset = RUN_ROWS
    template_name = "coordination/_run_progress.html"
    context_object_name = "run"

    def get_object(self):
        run = super().get_object()
        disclose_findings([run], self.request.user)
        return run


reconciliation_progress = ReconciliationProgressView.as_view()


# --- notifications --------------------------------------------------------------------------------------------


class NotificationListView(RestrictedListView):
    """The user's own notifications (their visibility: the addressee only)."""

    model = Notification
    paginate_by = 30
    template_name = "coordination/notification_list.html"


notification_list = NotificationListView.as_view()


@login_required
@require_POST
def notification_read(request, pk=None):
    if pk is not None:  # someone else's notification answers 404, as in the API
        visible_or_404(Notification.objects.visible_to(request.user), pk=pk)
    services.mark_notifications_read(user=request.user, ids=None if pk is None else [pk])
    return redirect("notification-list")
