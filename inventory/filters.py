"""Filtersets shared by the browser pages and the API, so a user filters the same way in both."""

import django_filters
from django.db.models import F, Q

from .models import Stock, SupplyClass


class StockFilter(django_filters.FilterSet):
    center = django_filters.CharFilter(field_name="center__code", lookup_expr="iexact", label="Center code")
    nation = django_filters.CharFilter(field_name="nation__code", lookup_expr="iexact", label="Nation code")
    nsn = django_filters.CharFilter(field_name="item__nsn", label="NSN")
    supply_class = django_filters.ChoiceFilter(field_name="item__supply_class", choices=SupplyClass.choices)
    q = django_filters.CharFilter(method="filter_search", label="Item NSN or name")
    shared = django_filters.BooleanFilter()
    below_safety = django_filters.BooleanFilter(method="filter_below_safety", label="Below safety level")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gt")

    class Meta:
        model = Stock
        fields = ["center", "nation", "nsn", "supply_class", "q", "shared", "below_safety", "updated_after"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(item__nsn__startswith=value) | Q(item__name__icontains=value))

    def filter_below_safety(self, queryset, name, value):
        condition = Q(safety_level__gt=F("on_hand") - F("reserved"))
        if value is None:
            return queryset
        return queryset.filter(condition) if value else queryset.exclude(condition)

