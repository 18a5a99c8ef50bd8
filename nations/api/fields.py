"""Serializer fields that render an object shown inside another for the caller (``nations.access.nested``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from nations.access.nested import Disclosure, disclosure_for


def caller_disclosure(field: serializers.Field) -> Disclosure | None:
    """The disclosure of the API call being answered, or None when the serializer renders for no caller (a
    webhook payload, addressed to the nation the object concerns)."""
    request = field.context.get("request")
    return disclosure_for(request) if request is not None else None


def page_rows(field: serializers.Field, disclosure: Disclosure) -> list | None:
    """The rows of the list being serialized, the first time `field` renders one of them (None afterwards, and
    for a single object): to decide for the whole page at once."""
    list_serializer = getattr(field.parent, "parent", None)
    if not isinstance(list_serializer, serializers.ListSerializer):
        return None
    rows = list_serializer.instance
    if not isinstance(rows, list | tuple) or not disclosure.first_time((id(rows), field.field_name)):
        return None
    return list(rows)


class _NestedObjectField(serializers.Field):
    """The object a row names through a foreign key, for the caller: its reference (`text`) or its id when they
    may see it; when they may not, the neutral text of its kind (an id field: null), never its reference or id.

    Reads the relation from the row: a related object the query did not load is never loaded here."""

    as_id = False

    def __init__(self, relation: str, *, text: Callable[[Any], Any] | None = None, **kwargs):
        self.relation = relation
        self.text = text
        kwargs.update(read_only=True, allow_null=True, source="*")
        super().__init__(**kwargs)

    def to_representation(self, row):
        pk = getattr(row, f"{self.relation}_id")
        if pk is None:
            return None
        disclosure = caller_disclosure(self)
        if disclosure is not None:
            rows = page_rows(self, disclosure)
            if rows:
                disclosure.prime_related(rows, self.relation)
            shown = disclosure.show_related(row, self.relation, text=self.text)
            if shown.hidden:
                return None if self.as_id else str(shown.text)
        return pk if self.text is None else self.text(getattr(row, self.relation))


@extend_schema_field({"type": "string", "nullable": True})
class NestedReferenceField(_NestedObjectField):
    """The reference of the object inside (``NestedReferenceField("request", text=attrgetter("reference"))``), or
    the neutral text of its kind ("transfer to another nation") when the caller may not see it."""


@extend_schema_field({"type": "integer", "nullable": True})
class NestedIdField(_NestedObjectField):
    """The id of the object inside, or null when the caller may not see it."""

    as_id = True


class NestedLinkField(serializers.CharField):
    """A stored link (a notification's), kept only when the page it opens shows an object the caller may see.
    `links` maps the URL names of object pages to their model's label."""

    def __init__(self, *, links: Mapping[str, str], **kwargs):
        self.links = links
        kwargs.update(read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        disclosure = caller_disclosure(self)
        if disclosure is None:
            return value
        rows = page_rows(self, disclosure)
        if rows:
            disclosure.prime_links((getattr(r, self.source) for r in rows), self.links)
        return disclosure.link(value, self.links)
