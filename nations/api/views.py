"""Nations API: the audit log (read-only; coordinators and administrators)."""

from rest_framework import mixins

from core.api.base import PortalGenericViewSet
from nations.filters import AuditEntryFilter
from nations.models import AuditEntry

from . import serializers as s


class AuditEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    """The append-only audit log of security-relevant events: sign-ins, failed sign-ins and lockouts, role
    grants and revocations, API tokens issued and revoked, request transitions, stock adjustments and count
    decisions.  Alliance coordinators and administrators read all of it; for anyone else, as for every list of
    the API, the list holds what they may see (nothing) and an entry answers 404."""

    queryset = AuditEntry.objects.select_related("nation")
    serializer_class = s.AuditEntrySerializer
    filterset_class = AuditEntryFilter
    ordering_fields = ["id", "at"]
    ordering = ["-at", "-id"]
