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
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.web import finish, service_action, visible_or_404
from inventory.models import LogisticsCenter
from nations import access
from nations.models import Nation

from . import runs, services
from .filters import DiscrepancyFilter, ShortfallFilter, SupplyRequestFilter
from .forms import ApproveForm, CommentForm, ReceiveForm, RejectForm, SupplyRequestForm
from .models import (
    Discrepancy,
    DiscrepancyKind,
    Notification,
    ReconciliationRun,
    RequestEvent,
    RequestStatus,
    Shortfall,
    SupplyRequest,
)
from .sourcing import sourcing_options

REQUEST_ACTIONS = ("submit", "approve", "reject", "dispatch", "receive", "cancel")


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
    from inventory.models import Item

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
    user = request.user
    forms = forms or {}
    can = {
        a: access.can(user, f"request.{a}", supply_request)
        and supply_request.can_move_to(
            {
                "submit": RequestStatus.SUBMITTED,
                "approve": RequestStatus.APPROVED,
                "reject": RequestStatus.REJECTED,
                "dispatch": RequestStatus.DISPATCHED,
                "receive": RequestStatus.RECEIVED,
                "cancel": RequestStatus.CANCELLED,
            }[a]
        )
        for a in REQUEST_ACTIONS
    }
    return {
        "req": supply_request,
        "events": supply_request.events.select_related("actor").all(),
        "can": can,
        "approve_form": forms.get("approve") or ApproveForm(initial={"quantity": supply_request.quantity_requested}),
        "reject_form": forms.get("reject") or RejectForm(),
        "receive_form": forms.get("receive")
        or ReceiveForm(initial={"quantity": supply_request.quantity_dispatched or 0}),
        "comment_form": CommentForm(),
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
    """Submit, approve (an editable quantity), reject (a reason), dispatch, receive (the quantity), cancel."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if action not in REQUEST_ACTIONS:
        raise Http404  # no such address, whatever the request: the same answer for every pk
    supply_request = visible_or_404(visible_requests(request.user), pk=pk)
    form_class = {"approve": ApproveForm, "reject": RejectForm, "receive": ReceiveForm}.get(action, CommentForm)
    form = form_class(request.POST)
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
            data = form.cleaned_data
            comment = data.get("comment", "")
            if action == "submit":
                services.submit_request(request=supply_request, actor=request.user, comment=comment)
            elif action == "approve":
                services.approve_request(
                    request=supply_request, approver=request.user, quantity=data["quantity"], comment=comment
                )
            elif action == "reject":
                services.reject_request(request=supply_request, approver=request.user, reason=data["reason"])
            elif action == "dispatch":
                services.dispatch_request(request=supply_request, actor=request.user, comment=comment)
            elif action == "receive":
                services.receive_request(
                    request=supply_request, actor=request.user, quantity=data["quantity"], comment=comment
                )
            else:
                services.cancel_request(request=supply_request, actor=request.user, comment=comment)
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


@login_required
def shortfall_list(request):
    base = Shortfall.objects.visible_to(request.user).select_related(
        "nation", "center", "item", "stock", "acknowledged_by"
    )
    # most severe first: "critical" sorts before "warning" (the only two severities, a check constraint says so)
    flag_filter = ShortfallFilter(request.GET or {"open": "true"}, queryset=base.order_by("severity", "-last_seen"))
    page = Paginator(flag_filter.qs, 50).get_page(request.GET.get("page"))
    _mark_acknowledgeable(request.user, page)
    return render(
        request,
        "coordination/shortfall_list.html",
        {"filter": flag_filter, "page": page, "query": _query_without_page(request)},
    )


@login_required
def discrepancy_list(request):
    base = Discrepancy.objects.visible_to(request.user).select_related(
        "stock__nation", "stock__center", "stock__item", "request", "acknowledged_by"
    )
    if request.GET.get("stock", "").isdigit():
        base = base.filter(stock_id=int(request.GET["stock"]))
    flag_filter = DiscrepancyFilter(request.GET or {"open": "true"}, queryset=base.order_by("-last_seen"))
    page = Paginator(flag_filter.qs, 50).get_page(request.GET.get("page"))
    _mark_acknowledgeable(request.user, page)
    profile = access.profile(request.user)
    return render(
        request,
        "coordination/discrepancy_list.html",
        {
            "filter": flag_filter,
            "page": page,
            "query": _query_without_page(request),
            "resolvable_nations": profile.logistics_nations,
            "count_kind": DiscrepancyKind.COUNT_MISMATCH,
        },
    )


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
        return _list_with_status(discrepancy_list, request, outcome.status)  # the list, with the error message
    return finish(
        request,
        outcome,
        render=render_row,
        redirect_to=reverse("discrepancy-list"),
        success=_("Count accepted: the books were adjusted.") if accept else _("Count rejected."),
    )


def _list_with_status(list_view, request, status: int):
    """A refused plain form post: the list page again, with the error message and the API's status."""
    response = list_view(request)
    response.status_code = status
    return response


# --- reconciliation -------------------------------------------------------------------------------------------


@login_required
def reconciliation_list(request):
    user = request.user
    profile = access.profile(user)
    startable = LogisticsCenter.objects.order_by("code")
    if not profile.coordinator:
        startable = startable.filter(pk__in=profile.operated_centers)
    page = Paginator(ReconciliationRun.objects.select_related("center", "started_by").order_by("-id"), 25).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "coordination/reconciliation_list.html",
        {
            "page": page,
            "coordinator": profile.coordinator,
            "startable": startable,
            "preselected": request.GET.get("center", ""),
        },
    )


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
        return _list_with_status(reconciliation_list, request, outcome.status)  # the list, with the error message
    return redirect("reconciliation-list")


@login_required
def reconciliation_progress(request, pk):
    """The live progress bar: htmx polls this fragment until the run finishes."""
    run = visible_or_404(ReconciliationRun.objects.select_related("center", "started_by"), pk=pk)
    return render(request, "coordination/_run_progress.html", {"run": run})


# --- notifications --------------------------------------------------------------------------------------------


@login_required
def notification_list(request):
    notes = Notification.objects.filter(user=request.user)
    page = Paginator(notes, 30).get_page(request.GET.get("page"))
    return render(request, "coordination/notification_list.html", {"page": page})


@login_required
@require_POST
def notification_read(request, pk=None):
    notes = Notification.objects.filter(user=request.user)
    if pk is not None:
        notes = notes.filter(pk=pk)
        if not notes.exists():  # someone else's notification, as the API answers
            raise Http404
    notes.filter(read_at__isnull=True).update(read_at=timezone.now())
    return redirect("notification-list")
