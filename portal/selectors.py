"""Reads that combine the apps: the dashboard (what needs the user's attention, by role) and a stock's open flags."""

from __future__ import annotations

from django.db.models import Count, Q

from coordination import lifecycle
from coordination.models import Discrepancy, ReconciliationRun, RequestEvent, Shortfall, SupplyRequest
from inventory.charts import charts_for_stocks
from inventory.models import SAFETY_MARGIN, Stock
from nations import access
from nations.access import visibility

QUEUE_SIZE = 10
CHARTS = 4


def request_queues(user) -> list[tuple[str, Q]]:
    """(queue name, condition) for each lifecycle transition with a queue that this user can make: the requests
    in one of its source statuses on which the user acts as its party (the rule that offers the button)."""
    p = access.profile(user)
    queues = []
    for row in lifecycle.TRANSITIONS:
        if row.queue is None:
            continue
        party = visibility.party_condition(p, row.party)
        if party != visibility.NOTHING:  # never this party: no queue at all, rather than an empty one
            queues.append((row.queue, Q(status__in=sorted(row.sources)) & party))
    return queues


def _queue_rows(requests, queues: list[tuple[str, Q]]) -> list[tuple[str, list[SupplyRequest], int]]:
    # every queue's total in one query; then the first rows of each
    totals = requests.aggregate(**{name: Count("id", filter=condition) for name, condition in queues}) if queues else {}
    return [
        (name, list(requests.filter(condition).order_by("required_by", "id")[:QUEUE_SIZE]), totals[name])
        for name, condition in queues
    ]


def dashboard(user) -> dict:
    """Everything the home page shows `user`: request queues, shortfalls, open discrepancies, the stocks closest to
    running out with their charts, recent activity and the last reconciliation run."""
    p = access.profile(user)
    requests = SupplyRequest.objects.visible_to(user).select_related(
        "requesting_nation", "supplying_nation", "item", "source_center", "destination_center"
    )

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

    return {
        "roles": access.roles_of(user),
        "queues": _queue_rows(requests, request_queues(user)),
        "shortfalls_by_severity": by_severity,
        "worst_shortfalls": worst,
        "open_discrepancies": Discrepancy.objects.visible_to(user).filter(resolved_at__isnull=True).count(),
        "charts": list(zip(closest, charts_for_stocks(closest), strict=True)),
        "activity": (
            RequestEvent.objects.filter(request__in=requests.values("id"))
            .select_related("request", "actor")
            .order_by("-at", "-id")[:QUEUE_SIZE]
        ),
        "last_run": ReconciliationRun.objects.order_by("-id").first(),
    }


def open_flags_of(stock) -> dict:
    """A stock's open shortfalls and discrepancies, for its page (the stock is visible to the caller, so are its
    flags: they follow their stock)."""
    return {
        "shortfalls": Shortfall.objects.filter(stock=stock, resolved_at__isnull=True),
        "discrepancies": Discrepancy.objects.filter(stock=stock, resolved_at__isnull=True),
    }
