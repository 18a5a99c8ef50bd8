"""Nations API: the audit log (read-only), and its export for a SIEM (administrators)."""

from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.api.base import PortalGenericViewSet
from nations import access, audit
from nations.audit_export import parse_since, start_export
from nations.filters import AuditEntryFilter
from nations.models import AuditEntry

from . import serializers as s


class JSONLinesRenderer(JSONRenderer):
    """The export as JSON lines (``?format=jsonl``); an error is one problem+json object, as elsewhere."""

    media_type = "application/x-ndjson"
    format = "jsonl"


class CEFRenderer(JSONRenderer):
    """The export as ArcSight CEF lines (``?format=cef``); an error is one problem+json object, as elsewhere."""

    media_type = "text/plain"
    format = "cef"
    charset = "utf-8"


class ExportsAuditLog(BasePermission):
    message = "Only administrators export the audit log."

    def has_permission(self, request, view):
        if view.action != "export":  # a method the route does not serve: 405, whoever asks
            return True
        return access.may_export_audit_log(request.user)


class AuditEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    """The append-only audit log of security-relevant events: sign-ins, failed sign-ins and lockouts, role
    grants and revocations, API tokens issued and revoked, request transitions, stock adjustments and count
    decisions, reads and exports of the log itself.  An entry follows its subject: administrators read all of it,
    alliance coordinators every entry but those about a stock they may not see (a nation's private stock), a
    nation's officers and national system the entries of their nation about what they may see.  For anyone else,
    as for every list of the API, the list holds what they may see (nothing) and an entry answers 404.  Each list
    page and entry read by someone who may read the log is itself recorded (``audit.read``)."""

    queryset = AuditEntry.objects.select_related("nation")
    # Set by the export: it reads the whole log, for administrators only (tests/test_structure.py checks that it
    # refuses everyone else, as it checks that every other route reads through visibility).
    administrators_only = False
    serializer_class = s.AuditEntrySerializer
    filterset_class = AuditEntryFilter
    ordering_fields = ["id", "at"]
    ordering = ["-at", "-id"]

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        if access.may_read_audit_log(request.user):
            audit.log_read(channel="api", query=request.query_params)
        return response

    def retrieve(self, request, *args, **kwargs):
        entry = self.get_object()
        response = Response(self.get_serializer(entry).data)
        audit.log_read(channel="api", query=request.query_params, entry=entry)
        return response

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            if self.action != "export":
                raise
            # DRF answers an unknown ?format= with 404; for the export it is a bad parameter
            raise ValidationError({"format": ["One of jsonl, cef."]}) from None

    @extend_schema(
        operation_id="v1_audit_events_export",
        summary="Export the audit log with its hash chain (administrators)",
        description=(
            "Every sealed entry in chain order, streamed, each with its link: `seq` (1, 2, 3, ... without gaps), "
            "`prev_hash` and `hash` (SHA-256 of the entry's canonical line chained on `prev_hash`; README, "
            "Security). `since=seq:<n>` resumes after the last link received; an ISO date or date-time exports "
            "the entries written from then on. Entries are sealed first; the export stops at the chain's head "
            "then (header `X-Audit-Through-Seq`, count in `X-Audit-Entries`) and is itself recorded in the log."
        ),
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.STR,
                description="`seq:<n>` (after link n) or an ISO date / date-time; empty: the whole chain.",
            ),
            OpenApiParameter("format", OpenApiTypes.STR, enum=["jsonl", "cef"], description="Default jsonl."),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/plain"): OpenApiTypes.STR,
        },
        filters=False,
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export",
        permission_classes=[IsAuthenticated, ExportsAuditLog],
        renderer_classes=[JSONLinesRenderer, CEFRenderer, JSONRenderer],
        filter_backends=[],
        pagination_class=None,
        administrators_only=True,
    )
    def export(self, request, format=None):
        """A streaming export for a SIEM (the JSON format suffix gives JSON lines too)."""
        kind = "cef" if request.accepted_renderer.format == "cef" else "jsonl"
        try:
            since = parse_since(request.query_params.get("since"))
        except ValueError as exc:
            raise ValidationError({"since": [str(exc)]}) from None
        export = start_export(since=since, format=kind)
        content_type = "text/plain; charset=utf-8" if kind == "cef" else "application/x-ndjson"
        response = StreamingHttpResponse(export.lines(), content_type=content_type)
        response["X-Audit-Entries"] = str(export.count)
        response["X-Audit-Through-Seq"] = str(export.through_seq)
        return response
