"""The dashboard: what needs the user's attention, by role."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q
from django.shortcuts import render

from coordination.models import Discrepancy, ReconciliationRun, RequestEvent, RequestStatus, Shortfall, SupplyRequest
from inventory.charts import chart_for_stock
from inventory.models import Stock

from . import access

QUEUE_SIZE = 10
CHARTS = 4


def _requests(user):
    return SupplyRequest.objects.visible_to(user).select_related(
        "requesting_nation", "supplying_nation", "item", "source_center", "destination_center")


@login_required
def home(request):
    user = request.user
    p = access.profile(user)
    requests = _requests(user)
    queues = []
    if p.liaison_nations:
        queues.append(("approval", requests.filter(status=RequestStatus.SUBMITTED,
                                                   supplying_nation_id__in=p.liaison_nations)))
    if p.logistics_nations or p.operated_centers:
        queues.append(("dispatch", requests.filter(status=RequestStatus.APPROVED).filter(
            Q(supplying_nation_id__in=p.logistics_nations) | Q(source_center_id__in=p.operated_centers))))
        queues.append(("receipt", requests.filter(status=RequestStatus.DISPATCHED).filter(
            Q(requesting_nation_id__in=p.logistics_nations) | Q(destination_center_id__in=p.operated_centers))))
    if p.logistics_nations:
        queues.append(("draft", requests.filter(status=RequestStatus.DRAFT,
                                                requesting_nation_id__in=p.logistics_nations)))
    queue_rows = [(name, list(qs.order_by("required_by", "id")[:QUEUE_SIZE]), qs.count()) for name, qs in queues]

    shortfalls = Shortfall.objects.visible_to(user).filter(resolved_at__isnull=True)
    if p.officer_nations:  # an officer's dashboard is about their nation; operators and coordinators see their scope
        shortfalls = shortfalls.filter(nation_id__in=p.officer_nations)
    by_severity = dict(shortfalls.values_list("severity").annotate(n=Count("id")).order_by())
    # most severe first: "critical" sorts before "warning"
    worst = shortfalls.select_related("nation", "center", "item").order_by("severity", "available")[:QUEUE_SIZE]

    # The stocks closest to running out: lowest available relative to the safety level.
    own_stocks = Stock.objects.visible_to(user).filter(safety_level__gt=0)
    if p.officer_nations:
        own_stocks = own_stocks.filter(nation_id__in=p.officer_nations)
    closest = list(own_stocks.select_related("nation", "center", "item").annotate(
        margin=(F("on_hand") - F("reserved")) * 1.0 / F("safety_level")).order_by("margin", "id")[:CHARTS])
    charts = [(stock, chart_for_stock(stock)) for stock in closest]

    activity = (RequestEvent.objects.filter(request__in=requests.values("id"))
                .select_related("request", "actor").order_by("-at", "-id")[:QUEUE_SIZE])
    return render(request, "nations/home.html", {
        "roles": access.roles_of(user),
        "queues": queue_rows,
        "shortfalls_by_severity": by_severity,
        "worst_shortfalls": worst,
        "open_discrepancies": Discrepancy.objects.visible_to(user).filter(resolved_at__isnull=True).count(),
        "charts": charts,
        "activity": activity,
        "last_run": ReconciliationRun.objects.order_by("-id").first(),
    })
