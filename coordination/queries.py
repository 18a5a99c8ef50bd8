"""Read side of coordination: requests and flags as the access rules let a user see them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from inventory.queries import stock_visibility
from nations import access


class SupplyRequestQuerySet(models.QuerySet):
    def visible_to(self, user) -> SupplyRequestQuerySet:
        if access.sees_everything(user):
            return self
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        nations = access.nation_ids_for(user)
        centers = access.center_ids_operated_by(user)
        return self.filter(
            Q(requesting_nation_id__in=nations)
            | Q(supplying_nation_id__in=nations)
            | Q(source_center_id__in=centers)
            | Q(destination_center_id__in=centers)
            | Q(access.coordinator_grant_exists(user))  # coordinators see every request
        )

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
        on_stock = Q(stock__isnull=False) & stock_visibility(user, "stock__")
        if self.model.__name__ == "Discrepancy":
            from .models import SupplyRequest

            # a request's discrepancy is seen with the request; a stock's with the stock
            condition = (Q(request__isnull=True) & on_stock) | Q(
                request__isnull=False, request__in=SupplyRequest.objects.visible_to(user).values("id")
            )
        else:  # shortfalls: on a stock, or on a center's pool of an item (unmet demand)
            pool = (
                Q(center_id__in=access.center_ids_operated_by(user))
                | Q(center_id__in=access.participating_center_ids(user))
                | Q(access.coordinator_grant_exists(user))  # coordinators see every pool
            )
            condition = on_stock | (Q(stock__isnull=True) & pool)
        return self.filter(condition)

    def open(self) -> FlagQuerySet:
        return self.filter(resolved_at__isnull=True)
