"""Filtersets shared by the browser pages and the API."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from core.filters import CodeFilter, PortalFilterSet, StrictBooleanFilter
from inventory.filters import center_choices
from inventory.models import SupplyClass
from nations.filters import nation_choices

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
from .queries import ShortfallScope, shortfalls_in_scope


class SupplyRequestFilter(PortalFilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=RequestStatus.choices, widget=forms.CheckboxSelectMultiple, label=_("Status")
    )
    priority = django_filters.ChoiceFilter(choices=Priority.choices, label=_("Priority"))
    requesting_nation = CodeFilter(
        field_name="requesting_nation__code", choices=nation_choices, label=_("Requesting nation")
    )
    supplying_nation = CodeFilter(
        field_name="supplying_nation__code", choices=nation_choices, label=_("Supplying nation")
    )
    source_center = CodeFilter(field_name="source_center__code", choices=center_choices, label=_("Source center"))
    destination_center = CodeFilter(
        field_name="destination_center__code", choices=center_choices, label=_("Destination center")
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
    center = CodeFilter(field_name="stock__center__code", choices=center_choices, label=_("Center"))
    nation = CodeFilter(field_name="stock__nation__code", choices=nation_choices, label=_("Nation"))
    severity = django_filters.ChoiceFilter(choices=Severity.choices, label=_("Severity"))


class ShortfallFilter(FlagFilter):
    kind = django_filters.ChoiceFilter(choices=ShortfallKind.choices, label=_("Kind"))
    center = CodeFilter(field_name="center__code", choices=center_choices, label=_("Center"))
    nation = CodeFilter(field_name="nation__code", choices=nation_choices, label=_("Nation"))
    supply_class = django_filters.ChoiceFilter(
        field_name="item__supply_class", choices=SupplyClass.choices, label=_("Supply class")
    )
    nsn = django_filters.CharFilter(field_name="item__nsn", label=_("NSN"))
    # whose shortfalls, among those the caller sees (queries.shortfalls_in_scope); the page defaults to "mine"
    scope = django_filters.ChoiceFilter(choices=ShortfallScope.choices, method="filter_scope", label=_("Show"))

    class Meta:
        model = Shortfall
        fields = [
            "scope",
            "severity",
            "kind",
            "center",
            "nation",
            "supply_class",
            "open",
            "acknowledged",
            "nsn",
            "updated_after",
        ]

    def filter_scope(self, queryset, name, value):
        return shortfalls_in_scope(queryset, self.request.user, value) if self.request else queryset


class DiscrepancyFilter(FlagFilter):
    kind = django_filters.ChoiceFilter(choices=DiscrepancyKind.choices, label=_("Kind"))
    request = django_filters.CharFilter(method="filter_request", label=_("Request reference"))

    class Meta:
        model = Discrepancy
        fields = ["kind", "severity", "open", "acknowledged", "center", "nation", "request", "updated_after"]

    def filter_request(self, queryset, name, value):
        """The discrepancies of one request (``REQ-000123``), a request the caller may see: a reference is not a
        way to probe others' requests (as the movements' filter)."""
        visible = SupplyRequest.objects.visible_to(getattr(self.request, "user", None))
        return queryset.filter(request__in=visible.filter(reference=value.strip().upper()).values("pk"))


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
