"""What the charts show, computed here and drawn in the browser by Chart.js (static/js/charts.js); a template hands
the data over with ``json_script`` (no inline script: the Content-Security-Policy allows none) and prints the same
figures as a table for screen readers and for whoever wants the numbers.

- A stock's balance: on hand at the end of each of the last 90 days, rebuilt from the ledger, against the safety
  level (today's; its past values are not recorded), and where the recent consumption leads: the outflow (issues and
  transfers out; adjustments and count corrections are book corrections, not consumption) of the last 30 days,
  divided by 30, is the daily rate; available / rate is the days left, today + that the projected stock-out date.
- A nation's days of supply per supply class: the class's available over its planning consumption (sums over the
  nation's stocks of the class at every center), against the nation's target for the class."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import OUTGOING_KINDS, Movement, Stock, SupplyClass

BALANCE_DAYS = 90
CONSUMPTION_DAYS = 30
PROJECTION_DAYS = 30  # how far the chart draws the projection past today (the date itself is given whatever it is)


@dataclass(frozen=True)
class Projection:
    """Where the recent consumption leads a stock: `daily_rate` units a day over the last CONSUMPTION_DAYS days;
    `days_left` and `stock_out` are None when nothing went out (no rate to project)."""

    daily_rate: Decimal
    days_left: Decimal | None
    stock_out: dt.date | None


def project(*, available: int, outflow: int, today: dt.date, window: int = CONSUMPTION_DAYS) -> Projection:
    """`outflow`: units issued or transferred out over the last `window` days (positive)."""
    rate = (Decimal(outflow) / window).quantize(Decimal("0.01")) if outflow > 0 else Decimal(0)
    if outflow <= 0:
        return Projection(daily_rate=Decimal(0), days_left=None, stock_out=None)
    days_left = max(Decimal(available) * window / outflow, Decimal(0))
    return Projection(
        daily_rate=rate,
        days_left=days_left.quantize(Decimal("0.1")),
        stock_out=today + dt.timedelta(days=math.floor(days_left)),
    )


@dataclass(frozen=True)
class BalanceChart:
    """A stock's chart: one label (ISO date) per day, on hand at each day's end (None in the projection's days),
    the projection from today's available (None before today), the safety level."""

    labels: list[str]
    on_hand: list[int | None]
    projected: list[int | None]
    safety_level: int
    projection: Projection
    days: int = BALANCE_DAYS
    consumption_days: int = CONSUMPTION_DAYS

    @property
    def history(self) -> list[tuple[str, int]]:
        """(day, on hand) of the days past, newest first: the table under the chart."""
        return [(day, value) for day, value in zip(self.labels, self.on_hand, strict=True) if value is not None][::-1]

    def data(self) -> dict:
        """What static/js/charts.js draws (through ``json_script``)."""
        datasets = [
            {"role": "on_hand", "label": _("On hand (end of day, from the ledger)"), "data": self.on_hand},
            {"role": "safety", "label": _("Safety level"), "data": [self.safety_level] * len(self.labels)},
        ]
        if self.projection.stock_out is not None:
            datasets.append(
                {
                    "role": "projection",
                    "label": _("Projected available at the last %(days)d days' consumption")
                    % {"days": self.consumption_days},
                    "data": self.projected,
                }
            )
        return {"type": "line", "labels": self.labels, "datasets": datasets, "y_title": _("Units of issue")}


def stock_balance_chart(stock: Stock, *, days: int = BALANCE_DAYS, now: dt.datetime | None = None) -> BalanceChart:
    """A stock's chart, from one query: the net change and the outflow of each day of the window, summed by the
    database over the stock's ledger (its (stock, occurred_at) index)."""
    today = timezone.localdate(now)
    first_day = today - dt.timedelta(days=days - 1)
    since = timezone.make_aware(dt.datetime.combine(first_day, dt.time.min))
    per_day = {
        row["day"]: row
        for row in Movement.objects.filter(stock=stock, occurred_at__gte=since)
        .annotate(day=TruncDate("occurred_at"))
        .values("day")
        .annotate(net=Sum("quantity"), outflow=Sum("quantity", filter=Q(kind__in=OUTGOING_KINDS)))
        .order_by("day")
    }
    # on hand is the sum of the ledger: a day's closing balance is today's on hand less what came after that day
    # (movements dated after today included, should a device's clock have run ahead)
    after = sum(row["net"] for day, row in per_day.items() if day > today)
    labels, on_hand = [], []
    for offset in range(days):
        day = today - dt.timedelta(days=offset)
        labels.append(day.isoformat())
        on_hand.append(stock.on_hand - after)
        after += per_day[day]["net"] if day in per_day else 0
    labels.reverse()
    on_hand.reverse()

    recent_since = today - dt.timedelta(days=CONSUMPTION_DAYS - 1)
    outflow = -sum(row["outflow"] or 0 for day, row in per_day.items() if recent_since <= day <= today)
    projection = project(available=stock.available, outflow=outflow, today=today)
    projected: list[int | None] = [None] * len(labels)
    if projection.stock_out is not None:
        projected[-1] = stock.available
        for step in range(1, min(PROJECTION_DAYS, math.ceil(projection.days_left)) + 1):
            labels.append((today + dt.timedelta(days=step)).isoformat())
            on_hand.append(None)
            projected.append(max(round(stock.available - projection.daily_rate * step), 0))
    return BalanceChart(
        labels=labels,
        on_hand=on_hand,
        projected=projected,
        safety_level=stock.safety_level,
        projection=projection,
        days=days,
    )


@dataclass(frozen=True)
class ClassSupply:
    """One supply class of one nation: available, planning consumption per day, days of supply, target."""

    supply_class: str
    label: str
    available: int
    daily_consumption: Decimal
    target: int

    @property
    def days_of_supply(self) -> Decimal | None:
        """None when nothing of the class is consumed (it lasts indefinitely at the planning rate)."""
        if not self.daily_consumption:
            return None
        return (Decimal(self.available) / self.daily_consumption).quantize(Decimal("0.1"))

    @property
    def below_target(self) -> bool:
        return self.days_of_supply is not None and self.days_of_supply < self.target


def supply_by_class(stocks) -> dict[int, dict[str, tuple[int, Decimal]]]:
    """{nation id: {supply class: (available, daily consumption)}} over `stocks`, in one aggregate query."""
    totals: dict[int, dict[str, tuple[int, Decimal]]] = {}
    for row in (
        stocks.values("nation_id", "item__supply_class")
        .annotate(available=Sum(F("on_hand") - F("reserved")), consumption=Sum("daily_consumption"))
        .order_by()
    ):
        totals.setdefault(row["nation_id"], {})[row["item__supply_class"]] = (
            row["available"] or 0,
            row["consumption"] or Decimal(0),
        )
    return totals


def nation_supply_chart(by_class: dict[str, tuple[int, Decimal]], targets: dict[str, int]) -> list[ClassSupply]:
    """The classes a nation holds, in class order, each with its target (`targets`: every class's)."""
    labels = dict(SupplyClass.choices)
    return [
        ClassSupply(
            supply_class=code,
            label=str(labels[code]),
            available=by_class[code][0],
            daily_consumption=by_class[code][1],
            target=targets[code],
        )
        for code in SupplyClass.values
        if code in by_class
    ]


def supply_chart_data(classes: list[ClassSupply]) -> dict:
    """What static/js/charts.js draws for a nation (through ``json_script``): a bar per class, its target beside it.
    The axis stops at three times the highest target, so that a class held for a year does not flatten the others
    (the table under the chart gives every figure)."""
    top = 3 * max((c.target for c in classes), default=1)
    return {
        "type": "bar",
        "labels": [f"{c.supply_class} {c.label}" for c in classes],
        "datasets": [
            {
                "role": "days",
                "label": _("Days of supply"),
                "data": [float(c.days_of_supply) if c.days_of_supply is not None else None for c in classes],
                "below": [c.below_target for c in classes],
            },
            {"role": "target", "label": _("Target"), "data": [c.target for c in classes]},
        ],
        "y_title": _("Days"),
        "y_max": top,
    }
