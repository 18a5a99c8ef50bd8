"""Read side of the inventory: querysets that apply the access rules, and annotations users ask for.

``visible_to(user)`` is the only way views, the API and exports obtain stocks, movements and counts.
"""

from __future__ import annotations

from django.db import models
from django.db.models import ExpressionWrapper, F, Q

from nations import access


def stock_visibility(user, prefix: str = "") -> Q | None:
    """The condition a stock row (reached through `prefix`, e.g. 'stock__') must meet to be visible.

    None means everything is visible (administrators)."""
    if access.sees_everything(user):
        return None
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Q(pk__in=[])
    officer_nations = access.nation_ids_for(user)
    condition = (
        Q(**{f"{prefix}nation_id__in": officer_nations})
        | Q(**{f"{prefix}center_id__in": access.center_ids_operated_by(user)})
        | Q(**{f"{prefix}shared": True, f"{prefix}center_id__in": access.participating_center_ids(user)})
    )
    # coordinators see shared stock; asked inside the same query, not by loading permissions beforehand
    condition |= Q(**{f"{prefix}shared": True}) & Q(access.coordinator_grant_exists(user))
    return condition


class StockQuerySet(models.QuerySet):
    def visible_to(self, user) -> StockQuerySet:
        condition = stock_visibility(user)
        return self if condition is None else self.filter(condition)

    def with_available(self) -> StockQuerySet:
        return self.annotate(
            available_qty=ExpressionWrapper(F("on_hand") - F("reserved"), output_field=models.BigIntegerField())
        )

    def below_safety(self) -> StockQuerySet:
        return self.filter(safety_level__gt=F("on_hand") - F("reserved"))


class MovementQuerySet(models.QuerySet):
    def visible_to(self, user) -> MovementQuerySet:
        condition = stock_visibility(user, "stock__")
        return self if condition is None else self.filter(condition)


class StockCountQuerySet(models.QuerySet):
    def visible_to(self, user) -> StockCountQuerySet:
        condition = stock_visibility(user, "stock__")
        return self if condition is None else self.filter(condition)
