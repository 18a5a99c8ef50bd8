"""Filtersets shared by the browser pages and the API."""

import django_filters

from .models import Discrepancy, ReconciliationRun, RequestStatus, Shortfall, SupplyRequest


class SupplyRequestFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RequestStatus.choices)
    requesting_nation = django_filters.CharFilter(field_name="requesting_nation__code", lookup_expr="iexact")
    supplying_nation = django_filters.CharFilter(field_name="supplying_nation__code", lookup_expr="iexact")
    source_center = django_filters.CharFilter(field_name="source_center__code", lookup_expr="iexact")
    destination_center = django_filters.CharFilter(field_name="destination_center__code", lookup_expr="iexact")
    nsn = django_filters.CharFilter(field_name="item__nsn")
    reference = django_filters.CharFilter(lookup_expr="iexact")
    required_by_before = django_filters.DateFilter(field_name="required_by", lookup_expr="lte")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gt")

    class Meta:
        model = SupplyRequest
        fields = ["status", "priority", "requesting_nation", "supplying_nation", "source_center",
                  "destination_center", "nsn", "reference", "required_by_before", "updated_after"]


class FlagFilter(django_filters.FilterSet):
    open = django_filters.BooleanFilter(field_name="resolved_at", lookup_expr="isnull", label="Still open")
    acknowledged = django_filters.BooleanFilter(field_name="acknowledged_at", lookup_expr="isnull", exclude=True)
    center = django_filters.CharFilter(field_name="stock__center__code", lookup_expr="iexact")
    nation = django_filters.CharFilter(field_name="stock__nation__code", lookup_expr="iexact")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gt")


class ShortfallFilter(FlagFilter):
    center = django_filters.CharFilter(field_name="center__code", lookup_expr="iexact")
    nation = django_filters.CharFilter(field_name="nation__code", lookup_expr="iexact")
    nsn = django_filters.CharFilter(field_name="item__nsn")

    class Meta:
        model = Shortfall
        fields = ["kind", "severity", "open", "acknowledged", "center", "nation", "nsn", "updated_after"]


class DiscrepancyFilter(FlagFilter):
    class Meta:
        model = Discrepancy
        fields = ["kind", "severity", "open", "acknowledged", "center", "nation", "updated_after"]


class ReconciliationRunFilter(django_filters.FilterSet):
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gt")

    class Meta:
        model = ReconciliationRun
        fields = ["status", "updated_after"]
