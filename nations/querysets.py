"""The queryset every restricted model's manager is built on: ``Model.objects.visible_to(user)``."""

from __future__ import annotations

from django.db import models


class VisibleQuerySet(models.QuerySet):
    """Rows follow the access rules: ``visible_to(user)`` is the door (``nations.access.visibility`` holds the rule of
    each model; a model with none raises LookupError, so a new model cannot be listed unrestricted by mistake)."""

    def visible_to(self, user):
        # nations.access reads this app's models (the grant tables), which are built on this class: the one import
        # made at call time, to break that cycle.
        from nations.access.visibility import restrict

        return restrict(self, user)
