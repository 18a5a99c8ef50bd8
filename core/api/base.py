"""What every API view shares: idempotent POSTs, ETag / If-Match, problem+json errors (via settings)."""

from __future__ import annotations

import contextlib
import hashlib

from django.conf import settings
from django.urls import NoReverseMatch
from rest_framework import viewsets
from rest_framework.response import Response

from core.restrict import visible_rows

from .deprecation import deprecation_of
from .idempotency import run_idempotent
from .problems import PreconditionFailed, PreconditionRequired

# The fields whose change makes a new representation (those the model has): a version counter, the time of the last
# change, the time a notification was read.  A row with none of them never changes (a movement, an audit entry).
_VERSION_FIELDS = ("version", "updated_at", "read_at")


def etag_for(obj) -> str:
    """A strong ETag from the row's identity and version (or last change)."""
    markers = [str(getattr(obj, name)) for name in _VERSION_FIELDS if hasattr(obj, name)]
    text = ":".join([obj._meta.label, str(obj.pk), *markers])
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def _listed_etags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def check_if_match(request, obj) -> None:
    """The precondition of a change to `obj`: ``If-Match`` names its current ETag (412 when it names another).
    Without the header: 428, unless ``API_REQUIRE_IF_MATCH`` is off for old clients.  ``If-Match: *`` says "whatever
    the version" on purpose and is accepted."""
    header = request.headers.get("If-Match")
    if header is None:
        if settings.API_REQUIRE_IF_MATCH:
            raise PreconditionRequired()
        return
    tags = _listed_etags(header)
    if "*" not in tags and etag_for(obj) not in tags:
        raise PreconditionFailed()


def not_modified(request, etag: str) -> bool:
    """Whether a GET's ``If-None-Match`` already names `etag` (weak comparison, as RFC 9110 asks for GET)."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = [tag.removeprefix("W/") for tag in _listed_etags(header)]
    return "*" in tags or etag in tags


class IdempotentPostMixin:
    """Every POST handled by the view runs through ``run_idempotent``; a 201 says where the new resource is
    (``Location``, set before the answer is recorded, so a replay carries it too)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles
        if request.method == "POST":
            handler = getattr(self, "post", None)
            if handler is not None:

                def located(req, *a, **kw):
                    return self._with_location(handler(req, *a, **kw))

                self.post = lambda req, *a, **kw: run_idempotent(req, located, *a, **kw)

    def _with_location(self, response):
        # Set even when DRF's CreateModelMixin set one: it takes Location from the payload's `url` field, which for
        # a webhook is its target, not its address.
        data = getattr(response, "data", None)
        lookup = getattr(self, "lookup_field", "pk")  # an item's address is its NSN, most others their id
        key = data.get(lookup, data.get("id")) if isinstance(data, dict) else None
        if response.status_code == 201 and key is not None:
            with contextlib.suppress(NoReverseMatch):  # a resource without a detail route has no Location
                response["Location"] = self.reverse_action("detail", args=[key])
        return response


class VersionedResourceMixin:
    """Every single resource is versioned: ``ETag`` on GET (304 to a matching ``If-None-Match``), and a change
    (PATCH, PUT, DELETE) must say which version it changes (``check_if_match``).  Done in ``get_object`` and
    ``finalize_response`` rather than by overriding ``retrieve``/``update``: a mixin ``update`` would make the router
    route PUT to viewsets that have none (answering 500, not 405)."""

    ETAG_ACTIONS = ("retrieve", "update", "partial_update")

    def get_object(self):
        obj = super().get_object()
        if self.action in self.ETAG_ACTIONS or self.request.method == "DELETE":
            self._etag_object = obj
            if self.request.method in ("PUT", "PATCH", "DELETE"):
                # 403 before 428/412: the version matters only to a caller who may change the resource at all
                self.check_change_allowed(obj)
                check_if_match(self.request, obj)
        return obj

    def check_change_allowed(self, obj) -> None:
        """Raise PermissionDenied when the caller sees `obj` but may not change it (the viewset's rule)."""

    def finalize_response(self, request, response, *args, **kwargs):
        deprecation = deprecation_of(self)
        if deprecation is not None:
            for name, value in deprecation.headers().items():
                response[name] = value
        obj = getattr(self, "_etag_object", None)
        if obj is not None and self.action in self.ETAG_ACTIONS and 200 <= response.status_code < 300:
            if request.method in ("PUT", "PATCH"):
                obj.refresh_from_db()  # the version the change made
            etag = etag_for(obj)
            if request.method in ("GET", "HEAD") and not_modified(request, etag):
                response = Response(status=304)
            response["ETag"] = etag
        return super().finalize_response(request, response, *args, **kwargs)


class PortalGenericViewSet(IdempotentPostMixin, VersionedResourceMixin, viewsets.GenericViewSet):
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
