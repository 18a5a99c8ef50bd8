"""What every API view shares: idempotent POSTs, ETag / If-Match, problem+json errors (via settings)."""

from __future__ import annotations

import hashlib

from rest_framework import viewsets

from core.restrict import visible_rows

from .idempotency import run_idempotent
from .problems import PreconditionFailed


def etag_for(obj) -> str:
    """A strong ETag from the row's identity and version (or last change)."""
    version = getattr(obj, "version", None)
    marker = str(version) if version is not None else obj.updated_at.isoformat()
    return '"' + hashlib.sha256(f"{obj._meta.label}:{obj.pk}:{marker}".encode()).hexdigest()[:32] + '"'


class IdempotentPostMixin:
    """Every POST handled by the view runs through ``run_idempotent``."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles
        if request.method == "POST":
            handler = getattr(self, "post", None)
            if handler is not None:
                self.post = lambda req, *a, **kw: run_idempotent(req, handler, *a, **kw)


class ETagMixin:
    """``ETag`` on single resources; ``If-Match`` on PATCH/PUT answers 412 when the resource changed."""

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = etag_for(self._etag_object)
        return response

    def get_object(self):
        obj = super().get_object()
        self._etag_object = obj
        if self.request.method in ("PUT", "PATCH"):
            expected = self.request.headers.get("If-Match")
            if expected and expected.strip() != "*" and etag_for(obj) not in [e.strip() for e in expected.split(",")]:
                raise PreconditionFailed()
        return obj

    def finalize_response(self, request, response, *args, **kwargs):
        # The new ETag after a successful PUT/PATCH.  Done here rather than by overriding ``update``: a mixin
        # ``update`` would make the router route PUT to viewsets that have no update (answering 500, not 405).
        response = super().finalize_response(request, response, *args, **kwargs)
        obj = getattr(self, "_etag_object", None)
        if request.method in ("PUT", "PATCH") and 200 <= response.status_code < 300 and obj is not None:
            obj.refresh_from_db()
            response["ETag"] = etag_for(obj)
        return response


class PortalGenericViewSet(IdempotentPostMixin, viewsets.GenericViewSet):
    """Base of every API viewset: secure by default.  A viewset declares ``queryset`` (the model and what to
    join); ``get_queryset`` narrows it to the caller's rows with the model's ``visible_to(user)``, so a viewset
    cannot forget it.  Reference data every signed-in caller reads (nations, centers, items) declares
    ``public = True``; a viewset overriding ``get_queryset`` calls ``super()`` first.

    Extra actions take ``format=None``: the router also serves each of them at its format-suffix URL
    (``/requests/5/cancel.json``), which passes ``format`` to the handler."""

    public = False

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.public:
            return queryset
        return visible_rows(queryset, self.request.user, view=self)
