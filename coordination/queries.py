"""Read side of coordination: requests, flags and notifications as the access rules let a user see them.

The conditions live in ``nations.access.visibility``; these querysets only name the door and the common filters."""

from __future__ import annotations

from nations.querysets import VisibleQuerySet


class SupplyRequestQuerySet(VisibleQuerySet):
    pass


class FlagQuerySet(VisibleQuerySet):
    """Shortfalls and discrepancies."""

    def open(self) -> FlagQuerySet:
        return self.filter(resolved_at__isnull=True)


class NotificationQuerySet(VisibleQuerySet):
    def unread_for(self, user) -> NotificationQuerySet:
        return self.visible_to(user).filter(read_at__isnull=True)
