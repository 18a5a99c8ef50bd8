"""Browser pages for requests, flags, reconciliation runs and notifications.

Lists come from ``visible_to``; each action button is shown when ``access.can`` says so, and the action itself
calls the same service as the API, so the browser and the API can never disagree."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.tables import TableListView
from core.web import (
    RestrictedDetailView,
    RestrictedListView,
    finish,
    render_list,
    service_action,
    visible_or_404,
)
from inventory.lookup import item_for_entry
from inventory.models import LogisticsCenter
from nations import access
from nations.access import visibility
from nations.models import Nation

from . import decision, lifecycle, runs, services
from .filters import (
    DiscrepancyFilter,
    NotificationFilter,
    ReconciliationRunFilter,
    ShortfallFilter,
    SupplyRequestFilter,
)
from .flag_tables import ROW_KEY, ShortfallTable, last_reconciliation, most_severe_first, shortfalls_by_stock
from .follow_up import remainder_of
from .forms import SupplyRequestForm, TransitionForm
from .models import (
    Discrepancy,
    DiscrepancyKind,
    Notification,
    ReconciliationRun,
    RequestEvent,
    RequestStatus,
    RequisitionLine,
    Shortfall,
    SupplyRequest,
)
from .prefill import excluded_suppliers, prefill_for
from .queries import ShortfallScope, default_scope
from .run_findings import disclose_findings
from .sourcing import sourcing_options
from .tables import REQUEST_WORK_ORDER, DiscrepancyTable, NotificationTable, ReconciliationRunTable, RequestTable


def visible_requests(user):
    return SupplyRequest.objects.visible_to(user).select_related(
        "requesting_nation", "supplying_nation", "item", "source_center", "destination_center", "created_by"
    )


class RequestListView(TableListView):
    """The requests the user may see: open ones first, the most urgent first, then the soonest required."""

    queryset = SupplyRequest.objects.select_related(
        "requesting_nation", "supplying_nation", "item", "source_center", "destination_center"
    )
    filterset_class = SupplyRequestFilter
    table_class = RequestTable
    ordering = REQUEST_WORK_ORDER
    template_name = "coordination/request_list.html"

    def get_context_data(self, **extra):
        return super().get_context_data(can_create=bool(access.profile(self.request.user).logistics_nations), **extra)


request_list = RequestListView.as_view()


def _request_nations(user):
    return Nation.objects.filter(id__in=access.nation_ids_for(user, [access.Role.LOGISTICS])).order_by("code")


@login_required
def request_new(request):
    """Raise a request.  It may open prefilled from a shortage (``coordination.prefill``: a stock, a request's
    remainder, or plain codes), with its sourcing suggestions already shown; they follow the item, quantity and
    destination as the user changes them (htmx, ``request_sourcing``)."""
    nations = _request_nations(request.user)
    if not nations.exists():
        raise PermissionDenied(_("Only a nation's logistics officers raise requests."))
    prefill, status = None, 200
    if request.method == "POST":
        form = SupplyRequestForm(request.POST, nations=nations)
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
        values = request.POST
        excluded = excluded_suppliers(request.user, request.POST.get("follow_up"), nations)
    else:
        prefill = prefill_for(request.user, request.GET, nations)
        follow_up = prefill.follow_up.pk if prefill.follow_up else None
        form = SupplyRequestForm(nations=nations, initial={**prefill.initial, "follow_up": follow_up})
        values, excluded = prefill.initial, prefill.exclude_nation_ids
    sourcing = _sourcing_context(request.user, values, exclude_nation_ids=excluded)
    response = render(
        request, "coordination/request_new.html", {"form": form, "prefill": prefill, "sourcing": sourcing}
    )
    response.status_code = status
    return response


def _sourcing_context(user, values, *, exclude_nation_ids=frozenset()) -> dict:
    """The sourcing suggestions for the item, quantity and destination in `values` (a form's data or its initial
    values): never the user's own nations nor `exclude_nation_ids`; the option in ``source_option`` stays
    selected, else the first (the nearest)."""
    item = item_for_entry(str(values.get("nsn") or ""))
    destination = LogisticsCenter.objects.filter(code=values.get("destination_center") or "").first()
    try:
        quantity = int(values.get("quantity") or "")
    except (TypeError, ValueError):
        quantity = 0
    ready = bool(item and destination and quantity > 0)
    options = []
    if ready:
        options = sourcing_options(
            user=user,
            item=item,
            quantity=quantity,
            destination=destination,
            exclude_nation_ids=access.profile(user).logistics_nations | exclude_nation_ids,
        )[:10]
    choices = [(f"{o.stock.nation.code}|{o.stock.center.code}", o) for o in options]
    selected = values.get("source_option") or ""
    if selected not in {value for value, _option in choices}:
        selected = choices[0][0] if choices else ""
    return {"choices": choices, "ready": ready, "item": item, "quantity": quantity, "selected": selected}


@login_required
def request_sourcing(request):
    """The sourcing suggestions fragment for the new-request form (a follow-up's ``follow_up`` leaves out the
    nation that supplied the first request)."""
    excluded = excluded_suppliers(request.user, request.GET.get("follow_up"), _request_nations(request.user))
    return render(
        request,
        "coordination/_sourcing.html",
        _sourcing_context(request.user, request.GET, exclude_nation_ids=excluded),
    )


def _approve_quantity(supply_request, typed) -> int:
    """The quantity the approval context is shown for: the one typed or proposed when it is a possible approval
    (1 to the quantity requested), else the full request (what the approve form starts from)."""
    try:
        quantity = int(typed)
    except (TypeError, ValueError):
        return supply_request.quantity_requested
    return quantity if 1 <= quantity <= supply_request.quantity_requested else supply_request.quantity_requested


def _request_discrepancies(user, supply_request) -> list[Discrepancy]:
    """The request's own discrepancies (a short receipt, an overdue dispatch), as the viewer may see them."""
    flags = list(
        Discrepancy.objects.visible_to(user)
        .filter(request_id=supply_request.pk)
        .select_related("acknowledged_by")
        .order_by("first_seen", "id")
    )
    for flag in flags:
        flag.request = supply_request  # the acknowledge rule reads it: no query per flag
    _mark_acknowledgeable(user, flags)
    return flags


def _requisition_line_of(user, supply_request) -> RequisitionLine | None:
    """The requisition line the request sources, if the viewer may see it (else no reference of it is shown)."""
    if not supply_request.requisition_line_id:
        return None
    lines = RequisitionLine.objects.visible_to(user).select_related("requisition")
    return lines.filter(pk=supply_request.requisition_line_id).first()


def _request_context(request, supply_request, outcome=None, forms=None, approve_quantity=None):
    """The request panel: the request, its timeline, and a form for each transition this viewer may make now
    (`forms` holds a rejected form, shown again with its errors); for a submitted request, the supplier's stock
    now and after approving (`approve_quantity`, or what the approve form holds); its discrepancies; and the
    remainder a follow-up request would raise."""
    forms = forms or {}
    user = request.user
    actions = [
        forms.get(row.action) or TransitionForm(transition=row, supply_request=supply_request)
        for row in lifecycle.available_actions(user, supply_request)
    ]
    approve_form = next((form for form in actions if form.transition.action == "approve"), None)
    if approve_form is not None and approve_form.is_bound:
        approve_quantity = approve_form.data.get("quantity")
    quantity = _approve_quantity(supply_request, approve_quantity)
    if approve_form is not None and not approve_form.is_bound:
        approve_form.initial["quantity"] = quantity  # the quantity proposed ("approve 30 instead") fills the form
    remainder = remainder_of(supply_request)
    return {
        "req": supply_request,
        "events": supply_request.events.select_related("actor").all(),
        "actions": actions,
        "outcome": outcome,
        "approval": (
            decision.approval_context(user, supply_request, quantity)
            if supply_request.status == RequestStatus.SUBMITTED
            else None
        ),
        "can_approve": approve_form is not None,
        "discrepancies": _request_discrepancies(user, supply_request),
        "requisition_line": _requisition_line_of(user, supply_request),
        # raising the remainder is the requesting nation's logistics officers' move (they create requests)
        "follow_up_remainder": (
            remainder
            if remainder and supply_request.requesting_nation_id in access.profile(user).logistics_nations
            else 0
        ),
    }


@login_required
def request_detail(request, pk):
    """The request page; ``?quantity=`` shows the approval context for that quantity and fills the approve form
    with it (htmx asks for the panel alone as the liaison officer types or takes the proposed quantity)."""
    supply_request = visible_or_404(
        visible_requests(request.user).prefetch_related(
            Prefetch("events", queryset=RequestEvent.objects.select_related("actor"))
        ),
        pk=pk,
    )
    context = _request_context(request, supply_request, approve_quantity=request.GET.get("quantity"))
    if request.htmx:
        return render(request, "coordination/_request_panel.html", context)
    return render(request, "coordination/request_detail.html", context)


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


def _shortfall_scopes(user) -> list[tuple[str, str, str]]:
    """(scope, tab label, link) for the scopes that can hold anything for this user."""
    p = access.profile(user)
    scopes = []
    if p.officer_nations or p.operated_centers:
        scopes.append((ShortfallScope.MINE, _("My nation") if p.officer_nations else _("My centers")))
    if p.officer_nations:  # what their nations' shared stock could cover
        scopes.append((ShortfallScope.HELP, ShortfallScope.HELP.label))
    scopes.append((ShortfallScope.ALL, ShortfallScope.ALL.label))
    return [(value, label, f"?scope={value}") for value, label in scopes]


class ShortfallListView(TableListView):
    """One row per stock (or pool) with its flags (``flag_tables``), most severe first, in the user's scope
    ("mine" unless they hold no nation and no center); open flags unless the query filters otherwise."""

    queryset = Shortfall.objects.all()
    filterset_class = ShortfallFilter
    table_class = ShortfallTable
    template_name = "coordination/shortfall_list.html"

    def get_filter_data(self):
        data = self.request.GET.copy()
        if not any(name in data for name in ShortfallFilter.base_filters if name != "scope"):
            data["open"] = "true"  # a page opened without filters (or with a scope only) lists open flags
        data.setdefault("scope", default_scope(self.request.user))
        return data

    def sort(self, rows):
        """Group the filtered flags by stock, then sort the groups (never by a flag's primary key)."""
        rows = shortfalls_by_stock(rows)
        self.table = self.get_table(rows)
        self.table.order_by = self.request.GET.get("sort", "")
        if not self.table.order_by:
            return most_severe_first(rows)
        grouped = self.table.data.data
        return grouped.order_by(*grouped.query.order_by, *ROW_KEY)

    def get_context_data(self, **extra):
        context = super().get_context_data(**extra)
        page = context["page"]
        page.object_list = list(page.object_list)  # the rows read once, for the table and the bulk form
        user = self.request.user
        scope = self.filter.form.cleaned_data.get("scope") if self.filter.is_valid() else ""
        context.update(
            scope=scope,
            scopes=_shortfall_scopes(user),
            page_flags=",".join(
                str(pk)
                for row in page.object_list
                if row.to_acknowledge and access.can(user, "flag.acknowledge", row.as_flag())
                for pk in row.to_acknowledge
            ),
            last_reconciliation=last_reconciliation(),
            next=self.request.get_full_path(),
        )
        return context


class DiscrepancyListView(TableListView, FlagListView):
    table_class = DiscrepancyTable
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


def _next_on_site(request, default: str) -> str:
    """Where a form post returns: its ``next`` field if it stays on this site, else `default` (never off the site)."""
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return next_url
    return default


SELECTION_LIMIT = 1000  # two flags per row at most, a page of 250 rows at most


def _selected_flag_ids(request) -> list[int]:
    """The flag ids of the rows ticked on a list (each checkbox holds its row's ids, apart by commas)."""
    values = [part.strip() for value in request.POST.getlist("flags") for part in value.split(",") if part.strip()]
    if not values:
        raise ValidationError(_("Select the rows whose flags you acknowledge."))
    if not all(value.isdigit() for value in values) or len(values) > SELECTION_LIMIT:
        raise ValidationError(_("The selection could not be read; reload the page and select again."))
    return sorted({int(value) for value in values})


@login_required
@require_POST
def shortfall_acknowledge(request):
    """Acknowledge the open flags of the rows selected on the shortfall list, in one transaction: all of them, or
    none when one is not the user's to acknowledge (403) or not visible to them (404)."""
    acknowledged = 0
    with service_action(request) as outcome:
        ids = _selected_flag_ids(request)
        flags = list(Shortfall.objects.visible_to(request.user).select_related("stock").filter(pk__in=ids))
        if len(flags) != len(ids):
            raise Http404  # one of them is gone or not the user's to see: the same answer either way
        acknowledged = services.acknowledge_flags(flags=flags, user=request.user)
    if not outcome.ok:
        return _list_with_status(ShortfallListView, request, outcome.status)  # the list, with the error message
    if acknowledged:
        success = ngettext("%(n)d flag acknowledged.", "%(n)d flags acknowledged.", acknowledged) % {"n": acknowledged}
    else:
        success = _("Nothing to acknowledge: those flags were acknowledged already.")
    messages.success(request, success)
    return redirect(_next_on_site(request, reverse("shortfall-list")))


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
    return redirect(_next_on_site(request, reverse("shortfall-list" if kind == "shortfalls" else "discrepancy-list")))


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


class ReconciliationListView(TableListView):
    """The runs, newest first, and the centers whose reconciliation the user may start."""

    queryset = RUN_ROWS
    filterset_class = ReconciliationRunFilter
    table_class = ReconciliationRunTable
    ordering = ("-id",)
    paginate_by = 25
    template_name = "coordination/reconciliation_list.html"

    def get_context_data(self, **extra):
        profile = access.profile(self.request.user)
        startable = LogisticsCenter.objects.filter(visibility.reconcilable_center(profile)).order_by("code")
        # the table shows each run's findings as this viewer may see them (ReconciliationRunTable.prepare_rows)
        return super().get_context_data(
            coordinator=profile.coordinator,
            startable=startable,
            preselected=self.request.GET.get("center", ""),
            **extra,
        )


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


class NotificationListView(TableListView):
    """The user's own notifications (their visibility: the addressee only), newest first."""

    model = Notification
    filterset_class = NotificationFilter
    table_class = NotificationTable
    ordering = ("-created_at", "-id")
    template_name = "coordination/notification_list.html"


notification_list = NotificationListView.as_view()


@login_required
@require_POST
def notification_read(request, pk=None):
    if pk is not None:  # someone else's notification answers 404, as in the API
        visible_or_404(Notification.objects.visible_to(request.user), pk=pk)
    services.mark_notifications_read(user=request.user, ids=None if pk is None else [pk])
    return redirect("notification-list")
