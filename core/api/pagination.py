"""Pages of every API list: page numbers for people and reports, and cursors for systems that keep in sync.

``?page=N&page_size=M`` (at most 1000 a page) as before.  ``?cursor=start`` (then the ``next_cursor`` of each
answer) walks the list in the order its rows last changed -- ``(updated_at, id)``, or the time an append-only row was
written -- and is the way to sync: keep the last ``next_cursor`` and ask again with it later; every row created or
changed since comes back, none twice in one walk unless it changed again.  Filters apply as usual.

A cursor cannot miss a row whose change commits late: it never passes the **horizon**, the start of the oldest
transaction still running (minus ``API_SYNC_MARGIN_SECONDS``, for clock skew between processes), or now when none
runs.  A row is stamped
inside the transaction that writes it, so a row not yet committed is stamped after the horizon and will be met by a
later call.  PostgreSQL tells the horizon (``pg_stat_activity``); SQLite, the demo database, serialises writers, and
the margin alone applies.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

START = "start"
# the column a row's last change is read from, in the order tried: a change time, else the time it was written
SYNC_FIELDS = ("updated_at", "recorded_at", "at", "created_at")

_OLDEST_TRANSACTION = """
    SELECT min(xact_start) FROM pg_stat_activity
     WHERE datname = current_database() AND backend_type = 'client backend'
       AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
"""


def sync_field(model, view=None) -> str:
    """The column that orders `model`'s rows by last change (a view may name another: ``sync_field``)."""
    declared = getattr(view, "sync_field", None)
    if declared:
        return declared
    names = {field.name for field in model._meta.concrete_fields}
    for name in SYNC_FIELDS:
        if name in names:
            return name
    raise LookupError(f"{model._meta.label} has no column to sync on; declare sync_field on its viewset")


def sync_horizon(using: str = "default") -> datetime:
    """Rows stamped before this are committed (or never will be): the cursor may pass them."""
    now = timezone.now()
    connection = connections[using]
    oldest = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_OLDEST_TRANSACTION)
            oldest = cursor.fetchone()[0]
    margin = timedelta(seconds=settings.API_SYNC_MARGIN_SECONDS)
    if oldest is not None:
        return min(now, oldest - margin)
    # nothing is being written (PostgreSQL): every row is committed; SQLite cannot tell, so the margin applies
    return now if connection.vendor == "postgresql" else now - margin


def encode_cursor(changed: datetime, pk: int) -> str:
    raw = json.dumps([changed.isoformat(), pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, int] | None:
    """(time, id) of a cursor; None for ``start``.  A cursor not made here is a 400."""
    if text == START:
        return None
    try:
        changed, pk = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        moment = parse_datetime(changed)
        if moment is None or not isinstance(pk, int) or isinstance(pk, bool):
            raise ValueError
        return moment, pk
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError({"cursor": [_("Not a cursor of this list: start with cursor=start.")]}) from None


class PortalPagination(PageNumberPagination):
    """Page numbers, or sync cursors with ``?cursor=`` (module docstring)."""

    page_size_query_param = "page_size"
    max_page_size = 1000
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.next_cursor = None
        text = request.query_params.get(self.cursor_query_param)
        if text is None:
            self.syncing = False
            return super().paginate_queryset(queryset, request, view)
        self.syncing = True
        if request.query_params.get("ordering"):
            raise ValidationError({"ordering": [_("A cursor walks the list in order of change: no ordering with it.")]})
        field = sync_field(queryset.model, view)
        position = decode_cursor(text)
        rows = queryset.order_by(field, "pk").filter(**{f"{field}__lt": sync_horizon(queryset.db)})
        if position is not None:
            changed, pk = position
            rows = rows.filter(Q(**{f"{field}__gt": changed}) | Q(**{field: changed, "pk__gt": pk}))
        page = list(rows[: self.get_page_size(request)])
        if page:
            last = page[-1]
            self.next_cursor = encode_cursor(getattr(last, field), last.pk)
        else:
            self.next_cursor = text  # nothing new yet: ask again later from the same place
        return page

    def get_paginated_response(self, data):
        if not self.syncing:
            response = super().get_paginated_response(data)
            response.data["next_cursor"] = None
            return response
        return Response(
            {
                "count": None,
                "next": replace_query_param(
                    self.request.build_absolute_uri(), self.cursor_query_param, self.next_cursor
                ),
                "previous": None,
                "next_cursor": self.next_cursor,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        described = super().get_paginated_response_schema(schema)
        # OpenAPI 3.1 (JSON Schema): null is a type, not a `nullable` flag
        described["properties"]["count"]["type"] = ["integer", "null"]
        described["properties"]["count"]["description"] = "Rows in the list; null when walking it by cursor."
        described["properties"]["next_cursor"] = {
            "type": ["string", "null"],
            "description": "With ?cursor=: keep it and ask again with it later (it never skips a row). "
            "Null with page numbers.",
        }
        return described

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        parameters.append(
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Sync: `start`, then the `next_cursor` of the previous answer. Rows come in the order "
                "they last changed; with a cursor, `page` and `ordering` do not apply.",
                "schema": {"type": "string"},
            }
        )
        return parameters
