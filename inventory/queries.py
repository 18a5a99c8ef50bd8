"""Read side of the inventory: querysets that apply the access rules, and annotations users ask for.

``visible_to(user)`` is the only way views, the API and exports obtain stocks, movements and counts.
"""

from __future__ import annotations

from django.db import models
from django.db.models import ExpressionWrapper, F, Q

from nations import access


def stock_visibility(user, prefix: str = "") -> Q | None:
    """The condition a stock row (reached through `prefix`, e.g. 'stock__') must meet to be visible.

    None means everything is visible (administrators).  The ids are the few nations and centers of the user's
    grants (``access.profile``, one query per request), so PostgreSQL can answer from the (center, nation,
    shared) index."""
    if access.sees_everything(user):
        return None
    p = access.profile(user)
    terms = []
    if p.officer_nations:
        terms.append(Q(**{f"{prefix}nation_id__in": sorted(p.officer_nations)}))
    if p.operated_centers:
        terms.append(Q(**{f"{prefix}center_id__in": sorted(p.operated_centers)}))
    if p.coordinator:  # coordinators see all shared stock
        terms.append(Q(**{f"{prefix}shared": True}))
    elif p.participating_centers:
        terms.append(Q(**{f"{prefix}shared": True, f"{prefix}center_id__in": sorted(p.participating_centers)}))
    return any_of(terms)


def any_of(terms: list[Q]) -> Q:
    """OR of `terms`; no terms matches nothing."""
    if not terms:
        return Q(pk__in=[])
    condition = terms[0]
    for term in terms[1:]:
        condition |= term
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

    def bulk_create(self, objs, *args, **kwargs):
        """A movement carries its stock's center (and the database refuses any other): filled in where missing,
        from the stock the movement holds or, for those given only a stock id, in one query."""
        objs = list(objs)
        stock_field = self.model._meta.get_field("stock")
        for movement in objs:
            if movement.center_id is None and stock_field.is_cached(movement):
                movement.center_id = movement.stock.center_id
        unknown = {m.stock_id for m in objs if m.center_id is None and m.stock_id is not None}
        if unknown:
            centers = dict(stock_field.related_model.objects.filter(pk__in=unknown).values_list("pk", "center_id"))
            for movement in objs:
                if movement.center_id is None:
                    movement.center_id = centers.get(movement.stock_id)
        return super().bulk_create(objs, *args, **kwargs)


class StockCountQuerySet(models.QuerySet):
    def visible_to(self, user) -> StockCountQuerySet:
        condition = stock_visibility(user, "stock__")
        return self if condition is None else self.filter(condition)
