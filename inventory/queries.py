"""Read side of the inventory: querysets that apply the access rules, and annotations users ask for.

``visible_to(user)`` is the only way views, the API and exports obtain stocks, movements and counts; the conditions
themselves live in ``nations.access.visibility``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import ExpressionWrapper, F

from nations.querysets import VisibleQuerySet


class StockQuerySet(VisibleQuerySet):
    def with_available(self) -> StockQuerySet:
        return self.annotate(
            available_qty=ExpressionWrapper(F("on_hand") - F("reserved"), output_field=models.BigIntegerField())
        )

    def below_safety(self) -> StockQuerySet:
        return self.filter(safety_level__gt=F("on_hand") - F("reserved"))


class MovementQuerySet(VisibleQuerySet):
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


class StockCountQuerySet(VisibleQuerySet):
    pass


class StockReportQuerySet(VisibleQuerySet):
    pass
