"""Reads that combine the apps: the dashboard (what needs the user's attention, by role) and a stock's open flags."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q

from coordination import lifecycle
from coordination.designators import QUEUE_ORDER
from coordination.flag_tables import last_reconciliation, most_severe_first, shortfalls_by_stock
from coordination.models import (
    DaysOfSupplyTarget,
    Discrepancy,
    ReconciliationRun,
    RequestEvent,
    Shortfall,
    SupplyRequest,
)
from coordination.queries import default_scope, shortfalls_in_scope
from inventory.charts import nation_supply_chart, supply_by_class, supply_chart_data
from inventory.models import SAFETY_MARGIN, Stock, SupplyClass
from nations import access
from nations.access import visibility
from nations.models import Nation

QUEUE_SIZE = 10
CLOSEST = 4
# The days-of-supply chart sums a nation's stocks (some 30,000 at 1M stocks: 250 ms): kept this long in the cache
SUPPLY_CHART_SECONDS = 120


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
    # every queue's total in one query; then the first rows of each, most pressing designator first, then soonest due
    totals = requests.aggregate(**{name: Count("id", filter=condition) for name, condition in queues}) if queues else {}
    return [
        (name, list(requests.filter(condition).order_by(*QUEUE_ORDER)[:QUEUE_SIZE]), totals[name])
        for name, condition in queues
    ]


def supply_charts(user) -> list[dict]:
    """For each nation the user acts for as an officer: its days of supply per supply class against its targets.

    Operators and coordinators have no nation of their own and get none (alliance-wide sums over a million stocks
    would cost the dashboard its time budget).  The sums are the nation's own stocks, all of which each of its
    officers sees, so one cached answer per nation serves them all; they are at most SUPPLY_CHART_SECONDS old.  Only
    the figures are cached: the labels are written in each reader's language."""
    nation_ids = sorted(access.profile(user).officer_nations)
    if not nation_ids:
        return []
    figures = cache.get_or_set(
        f"dashboard:supply-by-class:{','.join(map(str, nation_ids))}",
        lambda: _supply_figures(user, nation_ids),
        SUPPLY_CHART_SECONDS,
    )
    charts = []
    for code, name, by_class, targets in figures:
        classes = nation_supply_chart(by_class, targets)
        if classes:
            charts.append({"code": code, "name": name, "classes": classes, "data": supply_chart_data(classes)})
    return charts


def _supply_figures(user, nation_ids: list[int]) -> list[tuple]:
    """(code, name, {class: (available, consumption)}, {class: target days}) per nation, by code: three queries."""
    totals = supply_by_class(Stock.objects.visible_to(user).filter(nation_id__in=nation_ids))
    targets = {pk: dict.fromkeys(SupplyClass.values, settings.DEFAULT_DAYS_OF_SUPPLY_TARGET) for pk in nation_ids}
    for nation_id, supply_class, days in DaysOfSupplyTarget.objects.filter(nation_id__in=nation_ids).values_list(
        "nation_id", "supply_class", "days"
    ):
        targets[nation_id][supply_class] = days
    return [
        (code, name, totals.get(pk, {}), targets[pk])
        for pk, code, name in Nation.objects.filter(pk__in=nation_ids)
        .order_by("code")
        .values_list("pk", "code", "name")
    ]


def dashboard(user) -> dict:
    """Everything the home page shows `user`: request queues, shortfalls, open discrepancies, the stocks closest to
    running out, the days-of-supply chart of the user's nations, recent activity and the last reconciliation run."""
    p = access.profile(user)
    requests = SupplyRequest.objects.visible_to(user).select_related(
        "requesting_nation", "supplying_nation", "item", "source_center", "destination_center"
    )

    # the shortfall list's default scope: an officer's nation, an operator's centers, all a coordinator sees
    shortfalls = shortfalls_in_scope(
        Shortfall.objects.visible_to(user).filter(resolved_at__isnull=True), user, default_scope(user)
    )
    # lines of the list by severity: a stock's flags all share its severity, a pool has one flag
    by_severity = dict(
        shortfalls.values_list("severity")
        .annotate(n=Count("stock_id", distinct=True) + Count("id", filter=Q(stock_id__isnull=True)))
        .order_by()
    )
    # most severe first: "critical" sorts before "warning"
    # one line per stock with its flags' kinds, as on the list (a stock below safety is also short of days)
    worst = list(most_severe_first(shortfalls_by_stock(shortfalls))[:QUEUE_SIZE])

    # The stocks closest to running out: lowest available relative to the safety level.
    own_stocks = Stock.objects.visible_to(user).filter(safety_level__gt=0)
    if p.officer_nations:
        own_stocks = own_stocks.filter(nation_id__in=p.officer_nations)
    # the four ids first, from the stock rows alone; then those four with their nation, center and item (joining
    # every candidate before sorting made this the dashboard's slowest query)
    closest_ids = list(
        own_stocks.annotate(margin=SAFETY_MARGIN).order_by("margin", "id").values_list("id", flat=True)[:CLOSEST]
    )
    by_id = Stock.objects.select_related("nation", "center", "item").in_bulk(closest_ids)
    closest = [by_id[pk] for pk in closest_ids]

    return {
        "roles": access.roles_of(user),
        "queues": _queue_rows(requests, request_queues(user)),
        "shortfalls_by_severity": by_severity,
        "worst_shortfalls": worst,
        "request_nations": p.logistics_nations,
        "last_reconciliation": last_reconciliation(),
        "open_discrepancies": Discrepancy.objects.visible_to(user).filter(resolved_at__isnull=True).count(),
        "closest": closest,
        "supply_charts": supply_charts(user),
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
