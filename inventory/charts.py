"""Small server-rendered SVG charts (no JavaScript, no chart library): a stock's balance against its safety level.

The ledger records every change of on hand, so the balance line is exact; reservations are not ledgered, so the
chart shows on hand over time, with today's available as the last point and the safety level as a line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from .models import Movement, Stock

WIDTH, HEIGHT, PAD = 600, 180, 28


@dataclass
class Chart:
    points: str  # SVG polyline points of the on-hand step line
    safety_y: float | None
    available_x: float
    available_y: float
    max_value: int
    start: datetime
    end: datetime
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD

    @property
    def plot_bottom(self) -> float:
        return self.height - self.pad

    @property
    def plot_right(self) -> float:
        return self.width - self.pad


def balance_chart(
    *,
    movements: list[tuple[datetime, int]],
    opening: int,
    on_hand: int,
    reserved: int,
    safety_level: int,
    days: int = 30,
    now: datetime | None = None,
) -> Chart:
    """`movements`: (occurred_at, balance_after) within the window, oldest first; `opening`: balance before it."""
    now = now or timezone.now()
    start = now - timedelta(days=days)
    steps = [(start, opening), *[(t, b) for t, b in movements if t >= start], (now, on_hand)]
    top = max([safety_level, on_hand, *(b for _, b in steps), 1])
    span = (now - start).total_seconds() or 1

    def x(t: datetime) -> float:
        return round(PAD + (WIDTH - 2 * PAD) * (t - start).total_seconds() / span, 1)

    def y(v: int) -> float:
        return round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top, 1)

    coords: list[str] = []
    previous = None
    for t, balance in steps:
        if previous is not None:
            coords.append(f"{x(t)},{y(previous)}")  # step: the balance holds until the next movement
        coords.append(f"{x(t)},{y(balance)}")
        previous = balance
    return Chart(
        points=" ".join(coords),
        safety_y=y(safety_level) if safety_level else None,
        available_x=x(now),
        available_y=y(max(on_hand - reserved, 0)),
        max_value=top,
        start=start,
        end=now,
    )


def charts_for_stocks(stocks, days: int = 30) -> list[Chart]:
    """One chart per stock, in the order given, in two queries whatever their number: each stock's balance
    before the window, and the movements of all of them in it."""
    stocks = list(stocks)
    ids = [stock.pk for stock in stocks]
    start = timezone.now() - timedelta(days=days)
    latest_before = (
        Movement.objects.filter(stock=OuterRef("pk"), occurred_at__lt=start)
        .order_by("-occurred_at", "-id")
        .values("balance_after")[:1]
    )
    opening = dict(
        Stock.objects.filter(pk__in=ids).annotate(opening=Subquery(latest_before)).values_list("pk", "opening")
    )
    window: dict[int, list[tuple[datetime, int]]] = {pk: [] for pk in ids}
    for stock_id, occurred_at, balance in (
        Movement.objects.filter(stock_id__in=ids, occurred_at__gte=start)
        .order_by("stock_id", "occurred_at", "id")
        .values_list("stock_id", "occurred_at", "balance_after")
    ):
        window[stock_id].append((occurred_at, balance))
    return [
        balance_chart(
            movements=window[stock.pk],
            opening=opening.get(stock.pk) or 0,
            on_hand=stock.on_hand,
            reserved=stock.reserved,
            safety_level=stock.safety_level,
            days=days,
        )
        for stock in stocks
    ]


def chart_for_stock(stock, days: int = 30) -> Chart:
    return charts_for_stocks([stock], days=days)[0]
