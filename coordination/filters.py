"""Filtersets shared by the browser pages and the API."""

import django_filters
from django.utils.translation import gettext_lazy as _

from core.filters import PortalFilterSet, StrictBooleanFilter

from .models import (
    Discrepancy,
    DiscrepancyKind,
    Notification,
    Priority,
    ReconciliationRun,
    RequestStatus,
    RunStatus,
    Severity,
    Shortfall,
    ShortfallKind,
    SupplyRequest,
)


class SupplyRequestFilter(PortalFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RequestStatus.choices, label=_("Status"))
    priority = django_filters.ChoiceFilter(choices=Priority.choices, label=_("Priority"))
    requesting_nation = django_filters.CharFilter(
        field_name="requesting_nation__code", lookup_expr="iexact", label=_("Requesting nation")
    )
    supplying_nation = django_filters.CharFilter(
        field_name="supplying_nation__code", lookup_expr="iexact", label=_("Supplying nation")
    )
    source_center = django_filters.CharFilter(
        field_name="source_center__code", lookup_expr="iexact", label=_("Source center")
    )
    destination_center = django_filters.CharFilter(
        field_name="destination_center__code", lookup_expr="iexact", label=_("Destination center")
    )
    nsn = django_filters.CharFilter(field_name="item__nsn", label=_("NSN"))
    reference = django_filters.CharFilter(lookup_expr="iexact", label=_("Reference"))
    required_by_before = django_filters.DateFilter(
        field_name="required_by", lookup_expr="lte", label=_("Required by (at the latest)")
    )

    class Meta:
        model = SupplyRequest
        fields = [
            "status",
            "priority",
            "requesting_nation",
            "supplying_nation",
            "source_center",
            "destination_center",
            "nsn",
            "reference",
            "required_by_before",
            "updated_after",
        ]


class FlagFilter(PortalFilterSet):
    open = django_filters.BooleanFilter(field_name="resolved_at", lookup_expr="isnull", label=_("Still open"))
    acknowledged = django_filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", exclude=True, label=_("Acknowledged")
    )
    center = django_filters.CharFilter(field_name="stock__center__code", lookup_expr="iexact", label=_("Center code"))
    nation = django_filters.CharFilter(field_name="stock__nation__code", lookup_expr="iexact", label=_("Nation code"))
    severity = django_filters.ChoiceFilter(choices=Severity.choices, label=_("Severity"))


class ShortfallFilter(FlagFilter):
    kind = django_filters.ChoiceFilter(choices=ShortfallKind.choices, label=_("Kind"))
    center = django_filters.CharFilter(field_name="center__code", lookup_expr="iexact", label=_("Center code"))
    nation = django_filters.CharFilter(field_name="nation__code", lookup_expr="iexact", label=_("Nation code"))
    nsn = django_filters.CharFilter(field_name="item__nsn", label=_("NSN"))

    class Meta:
        model = Shortfall
        fields = ["kind", "severity", "open", "acknowledged", "center", "nation", "nsn", "updated_after"]


class DiscrepancyFilter(FlagFilter):
    kind = django_filters.ChoiceFilter(choices=DiscrepancyKind.choices, label=_("Kind"))

    class Meta:
        model = Discrepancy
        fields = ["kind", "severity", "open", "acknowledged", "center", "nation", "updated_after"]


class ReconciliationRunFilter(PortalFilterSet):
    status = django_filters.ChoiceFilter(choices=RunStatus.choices, label=_("Status"))

    class Meta:
        model = ReconciliationRun
        fields = ["status", "updated_after"]


class NotificationFilter(django_filters.rest_framework.FilterSet):
    """``?unread=true``.  Not a PortalFilterSet: a notification never changes but to be read, so it has no
    ``updated_at`` to sync on."""

    unread = StrictBooleanFilter(
        field_name="read_at", lookup_expr="isnull", label=_("Unread only (true) or read only (false)")
    )

    class Meta:
        model = Notification
        fields = ["unread"]
