"""What a liaison officer reads before deciding on a request: the supplier's own stock at the source center, now
and after approving a quantity, and the largest quantity that keeps it at or above its safety level.

The stock is read through ``Stock.objects.visible_to(user)``, like every other read: a viewer who may not see the
supplier's stock (a third nation's officer, the destination's operators, the requester when the stock is private)
gets no context at all, not a partial one.  One query for a request page; the approval queue annotates its rows
with the same figures in its own single query (``with_supplier_stock``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, OuterRef, QuerySet, Subquery

from inventory.models import Stock

from .models import SupplyRequest


def _supplier_stock_of(user, request_ref) -> QuerySet:
    """The supplier's stock of the request's item at its source center, among the stocks `user` may see."""
    return Stock.objects.visible_to(user).filter(
        nation_id=request_ref("supplying_nation_id"),
        center_id=request_ref("source_center_id"),
        item_id=request_ref("item_id"),
    )


@dataclass(frozen=True)
class ApprovalContext:
    """The supplier's stock now (`stock`) and as it would be once `quantity` is reserved for the request (`after`:
    reserved grows, on hand stays until dispatch)."""

    request: SupplyRequest
    stock: Stock
    after: Stock
    quantity: int

    @property
    def short(self) -> bool:
        """The approval would be refused: less than `quantity` is available."""
        return self.quantity > self.stock.available

    @property
    def below_safety_after(self) -> bool:
        return not self.short and self.after.below_safety

    @property
    def largest_safe_quantity(self) -> int:
        """The most that can be approved (never more than requested) leaving available >= safety level; 0 when the
        stock is already at or below it."""
        headroom = self.stock.available - self.stock.safety_level
        return max(0, min(self.request.quantity_requested, headroom))

    @property
    def offer_safe_quantity(self) -> bool:
        """Propose the largest safe quantity instead of the one being approved (when it differs and is not 0)."""
        return (self.short or self.below_safety_after) and 0 < self.largest_safe_quantity != self.quantity


def approval_context(user, supply_request: SupplyRequest, quantity: int) -> ApprovalContext | None:
    """The context for approving `quantity` of `supply_request`, or None when `user` may not see the supplier's
    stock at the source center (or it does not exist)."""
    stock = _supplier_stock_of(user, lambda field: getattr(supply_request, field)).first()
    if stock is None:
        return None
    after = Stock(
        on_hand=stock.on_hand,
        reserved=stock.reserved + quantity,
        safety_level=stock.safety_level,
        daily_consumption=stock.daily_consumption,
    )
    return ApprovalContext(request=supply_request, stock=stock, after=after, quantity=quantity)


def with_supplier_stock(requests: QuerySet, user) -> QuerySet:
    """`requests` annotated with their supplier's ``supplier_available`` and ``supplier_safety_level`` at the source
    center: subqueries of the one statement, not a query per row; NULL where `user` may not see that stock."""
    stock = _supplier_stock_of(user, OuterRef)
    return requests.annotate(
        supplier_available=Subquery(stock.annotate(free=F("on_hand") - F("reserved")).values("free")[:1]),
        supplier_safety_level=Subquery(stock.values("safety_level")[:1]),
    )
