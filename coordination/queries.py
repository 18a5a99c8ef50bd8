"""Read side of coordination: requests, flags and notifications as the access rules let a user see them.

The conditions live in ``nations.access.visibility``; these querysets only name the door and the common filters."""

from __future__ import annotations

from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from inventory.models import Stock
from nations import access
from nations.querysets import VisibleQuerySet


class SupplyRequestQuerySet(VisibleQuerySet):
    pass


class FlagQuerySet(VisibleQuerySet):
    """Shortfalls and discrepancies."""

    def open(self) -> FlagQuerySet:
        return self.filter(resolved_at__isnull=True)


class ShortfallScope(models.TextChoices):
    """Whose shortfalls a list shows, among those the user may see."""

    MINE = "mine", _("Mine")
    HELP = "help", _("Shared I can help with")
    ALL = "all", _("All I can see")


def default_scope(user) -> ShortfallScope:
    """An officer's or an operator's own shortfalls; everything visible for whoever holds neither (coordinators)."""
    p = access.profile(user)
    return ShortfallScope.MINE if p.officer_nations or p.operated_centers else ShortfallScope.ALL


def shortfalls_in_scope(shortfalls: FlagQuerySet, user, scope: str) -> FlagQuerySet:
    """`shortfalls` (already visible to `user`) narrowed to `scope`.

    MINE: the stocks of the nations the user is an officer of, and the stocks and pools of the centers they operate.
    HELP: other nations' shortfalls (and pools' unmet demand) at a center where one of the user's nations holds
    shared stock of the same item above its safety level: what the user could actually cover from there, rather
    than every shared stock that is short (most of which the user holds nothing to cover)."""
    p = access.profile(user)
    nations, centers = sorted(p.officer_nations), sorted(p.operated_centers)
    if scope == ShortfallScope.MINE:
        return shortfalls.filter(Q(nation_id__in=nations) | Q(center_id__in=centers))
    if scope == ShortfallScope.HELP:
        spare = Stock.objects.filter(
            nation_id__in=nations,
            center_id=OuterRef("center_id"),
            item_id=OuterRef("item_id"),
            shared=True,
            on_hand__gt=F("reserved") + F("safety_level"),
        )
        return shortfalls.exclude(nation_id__in=nations).filter(Exists(spare))
    return shortfalls


class NotificationQuerySet(VisibleQuerySet):
    def unread_for(self, user) -> NotificationQuerySet:
        return self.visible_to(user).filter(read_at__isnull=True)
