"""The dashboard: what needs the user's attention, by role."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render

from coordination.models import Discrepancy, ReconciliationRun, RequestEvent, RequestStatus, Shortfall, SupplyRequest
from inventory.charts import charts_for_stocks
from inventory.models import SAFETY_MARGIN, Stock
from nations import access

QUEUE_SIZE = 10
CHARTS = 4


def _requests(user):
    return SupplyRequest.objects.visible_to(user).select_related(
        "requesting_nation", "supplying_nation", "item", "source_center", "destination_center"
    )


@login_required
def home(request):
    user = request.user
    p = access.profile(user)
    requests = _requests(user)
    queues = []  # (name, the condition a visible request meets to wait in that queue)
    if p.liaison_nations:
        queues.append(("approval", Q(status=RequestStatus.SUBMITTED, supplying_nation_id__in=p.liaison_nations)))
    if p.logistics_nations or p.operated_centers:
        queues.append(
            (
                "dispatch",
                Q(status=RequestStatus.APPROVED)
                & (Q(supplying_nation_id__in=p.logistics_nations) | Q(source_center_id__in=p.operated_centers)),
            )
        )
        queues.append(
            (
                "receipt",
                Q(status=RequestStatus.DISPATCHED)
                & (Q(requesting_nation_id__in=p.logistics_nations) | Q(destination_center_id__in=p.operated_centers)),
            )
        )
    if p.logistics_nations:
        queues.append(("draft", Q(status=RequestStatus.DRAFT, requesting_nation_id__in=p.logistics_nations)))
    # every queue's total in one query; then the first rows of each
    totals = requests.aggregate(**{name: Count("id", filter=condition) for name, condition in queues}) if queues else {}
    queue_rows = [
        (name, list(requests.filter(condition).order_by("required_by", "id")[:QUEUE_SIZE]), totals[name])
        for name, condition in queues
    ]

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
    # the four ids first, from the stock rows alone; then those four with their nation, center and item (joining
    # every candidate before sorting made this the dashboard's slowest query)
    closest_ids = list(
        own_stocks.annotate(margin=SAFETY_MARGIN).order_by("margin", "id").values_list("id", flat=True)[:CHARTS]
    )
    by_id = Stock.objects.select_related("nation", "center", "item").in_bulk(closest_ids)
    closest = [by_id[pk] for pk in closest_ids]
    charts = list(zip(closest, charts_for_stocks(closest), strict=True))

    activity = (
        RequestEvent.objects.filter(request__in=requests.values("id"))
        .select_related("request", "actor")
        .order_by("-at", "-id")[:QUEUE_SIZE]
    )
    return render(
        request,
        "portal/home.html",
        {
            "roles": access.roles_of(user),
            "queues": queue_rows,
            "shortfalls_by_severity": by_severity,
            "worst_shortfalls": worst,
            "open_discrepancies": Discrepancy.objects.visible_to(user).filter(resolved_at__isnull=True).count(),
            "charts": charts,
            "activity": activity,
            "last_run": ReconciliationRun.objects.order_by("-id").first(),
        },
    )
