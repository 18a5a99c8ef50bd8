"""Read side of coordination: requests and flags as the access rules let a user see them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from inventory.queries import any_of, stock_visibility
from nations import access


class SupplyRequestQuerySet(models.QuerySet):
    def visible_to(self, user) -> SupplyRequestQuerySet:
        if access.sees_everything(user):
            return self
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        p = access.profile(user)
        if p.coordinator:  # coordinators see every request
            return self
        terms = []
        if p.officer_nations:
            nations = sorted(p.officer_nations)
            terms += [Q(requesting_nation_id__in=nations), Q(supplying_nation_id__in=nations)]
        if p.operated_centers:
            centers = sorted(p.operated_centers)
            terms += [Q(source_center_id__in=centers), Q(destination_center_id__in=centers)]
        return self.filter(any_of(terms))

    def open(self) -> SupplyRequestQuerySet:
        from .models import OPEN_STATUSES

        return self.filter(status__in=OPEN_STATUSES)


class FlagQuerySet(models.QuerySet):
    """Shortfalls and discrepancies: a flag on a stock is visible with the stock; a pool flag (unmet demand)
    to the center's operators, its participating nations' officers and coordinators; a request flag with
    the request."""

    def visible_to(self, user) -> FlagQuerySet:
        if access.sees_everything(user):
            return self
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if self.model.__name__ == "Discrepancy":
            on_stock = Q(stock__isnull=False) & stock_visibility(user, "stock__")
            from .models import SupplyRequest

            # a request's discrepancy is seen with the request; a stock's with the stock
            condition = (Q(request__isnull=True) & on_stock) | Q(
                request__isnull=False, request__in=SupplyRequest.objects.visible_to(user).values("id")
            )
        else:  # shortfalls: on a stock, or on a center's pool of an item (unmet demand)
            # a stock's shortfall carries the stock's nation, center and shared flag: the stock's rule, no join
            on_stock = Q(stock__isnull=False) & stock_visibility(user)
            p = access.profile(user)
            centers = p.operated_centers | p.participating_centers
            # coordinators see every pool
            pool = Q() if p.coordinator else any_of([Q(center_id__in=sorted(centers))] if centers else [])
            condition = on_stock | (Q(stock__isnull=True) & pool)
        return self.filter(condition)

    def open(self) -> FlagQuerySet:
        return self.filter(resolved_at__isnull=True)
