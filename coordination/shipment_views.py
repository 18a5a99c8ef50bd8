"""Browser pages for shipments: what is in transit to and from the user, one shipment with what it carries, and
dispatching several approved requests together (the same service as ``POST /api/v1/shipments/``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import django_tables2 as tables
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from core.tables import PortalTable, TableListView
from core.web import RestrictedDetailView, service_action
from nations import access

from . import shipments
from .models import RequestStatus, Shipment, SupplyRequest, TransportMode

NOWRAP = {"td": {"class": "nowrap"}}
MAX_SHOWN = 500  # approved requests listed on the dispatch page; the rest wait for the next shipment


def _state(shipment: Shipment) -> str:
    if shipment.arrived_at is not None:
        return "arrived"
    return "overdue" if shipments.is_overdue(shipment) else "in_transit"


STATE_LABELS = {
    "arrived": gettext_lazy("Arrived"),
    "in_transit": gettext_lazy("In transit"),
    "overdue": gettext_lazy("Overdue"),
}
STATE_CLASSES = {
    "arrived": "status status-received",
    "in_transit": "status status-dispatched",
    "overdue": "badge critical",
}


DIRECTION_LABELS = dict(shipments.DIRECTIONS)


def _directions(shipment: Shipment) -> list[str]:
    """Inbound, outbound, both or neither, for the viewer (``shipments.with_direction``)."""
    return [name for name in ("inbound", "outbound") if getattr(shipment, name, False)]


class ShipmentTable(PortalTable):
    export_name = "shipments"
    caption = gettext_lazy("Shipments to and from you")

    reference = tables.Column(
        verbose_name=gettext_lazy("Reference"), order_by="id", linkify=("shipment-detail-page", [tables.A("pk")])
    )
    state = tables.Column(
        accessor="pk", verbose_name=gettext_lazy("State"), order_by=("arrived_at", "expected_arrival")
    )
    direction = tables.Column(accessor="pk", verbose_name=gettext_lazy("Direction"), orderable=False)
    mode = tables.Column(verbose_name=gettext_lazy("Mode"))
    carrier = tables.Column(verbose_name=gettext_lazy("Carrier"), default="—")
    shipping_nation = tables.Column(
        accessor="shipping_nation__code", verbose_name=gettext_lazy("Shipped by"), order_by="shipping_nation__code"
    )
    source_center = tables.Column(
        accessor="source_center__code", verbose_name=gettext_lazy("From"), order_by="source_center__code"
    )
    destination_center = tables.Column(
        accessor="destination_center__code", verbose_name=gettext_lazy("To"), order_by="destination_center__code"
    )
    departed_at = tables.DateTimeColumn(
        verbose_name=gettext_lazy("Departed"), format="SHORT_DATETIME_FORMAT", attrs=NOWRAP
    )
    expected_arrival = tables.DateTimeColumn(
        verbose_name=gettext_lazy("Expected arrival"), format="SHORT_DATETIME_FORMAT", attrs=NOWRAP
    )
    arrived_at = tables.DateTimeColumn(
        verbose_name=gettext_lazy("Arrived"), format="SHORT_DATETIME_FORMAT", attrs=NOWRAP, default="—"
    )

    def render_state(self, record):
        state = _state(record)
        return format_html(
            '<span class="{}" data-testid="shipment-state">{}</span>', STATE_CLASSES[state], STATE_LABELS[state]
        )

    def value_state(self, record):
        return _state(record)

    def render_direction(self, record):
        return " / ".join(str(DIRECTION_LABELS[name]) for name in _directions(record)) or "—"

    def value_direction(self, record):
        return " ".join(_directions(record))

    def value_mode(self, record):
        return record.mode


class ShipmentListView(TableListView):
    """Inbound to the user's nations and centers and outbound from them (a coordinator: every shipment), those in
    transit first, the soonest expected first; overdue ones marked."""

    queryset = Shipment.objects.select_related("shipping_nation", "source_center", "destination_center")
    filterset_class = shipments.ShipmentFilter
    table_class = ShipmentTable
    ordering = shipments.IN_TRANSIT_FIRST
    template_name = "coordination/shipment_list.html"

    def get_queryset(self):
        return shipments.with_direction(super().get_queryset(), self.request.user)

    def get_context_data(self, **extra):
        p = access.profile(self.request.user)
        return super().get_context_data(
            can_dispatch=bool(p.logistics_nations or p.operated_centers),
            tolerance_hours=settings.ARRIVAL_OVERDUE_TOLERANCE_HOURS,
            **extra,
        )


shipment_list = ShipmentListView.as_view()


class ShipmentDetailView(RestrictedDetailView):
    """One shipment: how and when it travels, and per request (those the user may see) what was dispatched and
    what was received."""

    queryset = Shipment.objects.select_related("shipping_nation", "source_center", "destination_center", "created_by")
    template_name = "coordination/shipment_detail.html"
    context_object_name = "shipment"

    def get_context_data(self, **extra):
        shipment = self.object
        carried = (
            SupplyRequest.objects.visible_to(self.request.user)
            .filter(shipment=shipment)
            .select_related("requesting_nation", "item")
            .order_by("id")
        )
        state = _state(shipment)
        user = self.request.user
        may_receive = any(
            r.status == RequestStatus.DISPATCHED and access.can(user, "request.receive", r) for r in carried
        )
        return super().get_context_data(
            state=state, state_label=STATE_LABELS[state], carried=carried, may_receive=may_receive, **extra
        )


shipment_detail = ShipmentDetailView.as_view()


@login_required
@require_POST
def shipment_receive(request, pk: int):
    """Receive in full what the user may receive of a shipment (``shipments.receive_shipment``), then back to its
    page (post/redirect/get), which says what was received and what was refused."""
    shipment = get_object_or_404(Shipment.objects.visible_to(request.user), pk=pk)
    with service_action(request):
        receipts = shipments.receive_shipment(
            shipment=shipment, actor=request.user, comment=request.POST.get("comment", "")[:2000]
        )
        received = [r for r in receipts if not r.error]
        if received:
            messages.success(
                request,
                ngettext("%(n)s request received in full.", "%(n)s requests received in full.", len(received))
                % {"n": len(received)},
            )
        for refused in (r for r in receipts if r.error):
            messages.error(request, f"{refused.request.reference}: {refused.error}")
    return redirect("shipment-detail-page", pk=shipment.pk)


# --- dispatching together -------------------------------------------------------------------------------------------


class DateTimeLocalInput(forms.DateTimeInput):
    """A browser date-and-time picker (``<input type="datetime-local">``), its value ISO 8601 in every language."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class ShipmentForm(forms.Form):
    """How the chosen requests travel (the requests themselves are the page's ticked ``request`` boxes)."""

    mode = forms.ChoiceField(label=gettext_lazy("Mode"), choices=TransportMode.choices)
    carrier = forms.CharField(label=gettext_lazy("Carrier or convoy"), max_length=shipments.MAX_CARRIER, required=False)
    departed_at = forms.DateTimeField(
        label=gettext_lazy("Departed (UTC; empty: now)"), required=False, widget=DateTimeLocalInput
    )
    expected_arrival = forms.DateTimeField(label=gettext_lazy("Expected arrival (UTC)"), widget=DateTimeLocalInput)
    comment = forms.CharField(label=gettext_lazy("Comment"), max_length=2000, required=False)


@dataclass
class Group:
    """Approved requests that may travel together: one supplier, one source center, one destination."""

    key: str
    index: int
    requests: list = field(default_factory=list)
    form: ShipmentForm | None = None

    @property
    def first(self):
        return self.requests[0]


def _groups(user, *, posted_key: str = "", posted_form: ShipmentForm | None = None) -> tuple[list[Group], bool]:
    """The approved requests `user` may dispatch, grouped; the group of `posted_key` shows `posted_form` (with what
    was typed and its errors).  Also whether the list was cut at MAX_SHOWN."""
    rows = list(shipments.dispatchable_requests(user)[: MAX_SHOWN + 1])
    groups: dict[str, Group] = {}
    for r in rows[:MAX_SHOWN]:
        key = f"{r.supplying_nation.code}|{r.source_center.code}|{r.destination_center.code}"
        if key not in groups:
            groups[key] = Group(key=key, index=len(groups) + 1)
        groups[key].requests.append(r)
    for group in groups.values():
        auto_id = f"shp-{group.index}-%s"
        if group.key == posted_key and posted_form is not None:
            posted_form.auto_id = auto_id
            group.form = posted_form
        else:
            group.form = ShipmentForm(auto_id=auto_id)
    return list(groups.values()), len(rows) > MAX_SHOWN


def _chosen_ids(request) -> list[int]:
    values = request.POST.getlist("request")
    return [int(v) for v in values if v.isdigit()][: shipments.MAX_REQUESTS + 1]


@login_required
def shipment_new(request):
    """GET: the approved requests the user may dispatch, grouped by supplier, source and destination; tick several
    of a group, say how and when they travel, "Dispatch together".  POST: one shipment (refusals as the API's:
    400, 403, 409, nothing dispatched)."""
    status, posted_key, posted_form = 200, "", None
    preselected = {v for v in request.GET.getlist("request") if v.isdigit()}
    if request.method == "POST":
        posted_key = request.POST.get("group", "")
        posted_form = ShipmentForm(request.POST)
        preselected = {str(pk) for pk in _chosen_ids(request)}
        with service_action(request) as outcome:
            if not posted_form.is_valid():
                outcome.status = 400
                outcome.errors = [
                    f"{posted_form.fields[f].label}: {e}" if f in posted_form.fields else e
                    for f, errors in posted_form.errors.items()
                    for e in errors
                ]
            else:
                data = posted_form.cleaned_data
                shipment = shipments.dispatch_shipment(
                    requests=shipments.requests_named(user=request.user, names=_chosen_ids(request)),
                    actor=request.user,
                    mode=data["mode"],
                    carrier=data["carrier"],
                    departed_at=data["departed_at"],
                    expected_arrival=data["expected_arrival"],
                    comment=data["comment"],
                )
        if outcome.ok:
            n = shipment.requests.count()
            messages.success(
                request,
                ngettext(
                    "%(reference)s dispatched: %(n)s request on its way.",
                    "%(reference)s dispatched: %(n)s requests on their way.",
                    n,
                )
                % {"reference": shipment.reference, "n": n},
            )
            return redirect("shipment-detail-page", shipment.pk)
        status = outcome.status
    groups, cut = _groups(request.user, posted_key=posted_key, posted_form=posted_form)
    response = render(
        request,
        "coordination/shipment_new.html",
        {"groups": groups, "cut": cut, "max_shown": MAX_SHOWN, "preselected": preselected},
    )
    response.status_code = status
    return response
