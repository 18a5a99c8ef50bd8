"""The one step every page and API view takes before reading rows: narrow them to what the user may see.

core imports no domain app: it relies on the queryset's ``visible_to(user)`` (every restricted model's manager has
it; the rules live in ``nations.access.visibility``).  A view serving a model without it, and not declared public,
is a configuration error, raised at the first request rather than served unrestricted."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


def visible_rows(queryset, user, *, view):
    """`queryset` narrowed to `user`'s rows; ImproperlyConfigured when its model has no visibility rule."""
    visible_to = getattr(queryset, "visible_to", None)
    if visible_to is None:
        raise ImproperlyConfigured(
            f"{type(view).__name__} serves {queryset.model._meta.label}, whose queryset has no visible_to(user): "
            "build its manager on nations.querysets.VisibleQuerySet, or declare the view public = True "
            "(reference data only)."
        )
    return visible_to(user)
