"""Filtersets shared by the browser pages and the API, so a user filters the same way in both."""

import datetime as dt

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .models import Stock, SupplyClass


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time, taken to UTC.  ISO 8601 allows offsets that PostgreSQL does not (beyond ±15:59): the
    query failed in the database, a 500, where the same instant in UTC compares fine."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None or value.tzinfo is None:
            return value
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:  # the first or last day of the calendar, shifted past it
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class ChangedAfterFilter(django_filters.IsoDateTimeFilter):
    """``updated_after=<ISO time>``: the rows changed since then (incremental sync)."""

    field_class = UtcIsoDateTimeField


class StockFilter(django_filters.FilterSet):
    center = django_filters.CharFilter(field_name="center__code", lookup_expr="iexact", label=_("Center code"))
    nation = django_filters.CharFilter(field_name="nation__code", lookup_expr="iexact", label=_("Nation code"))
    nsn = django_filters.CharFilter(field_name="item__nsn", label=_("NSN"))
    supply_class = django_filters.ChoiceFilter(
        field_name="item__supply_class", choices=SupplyClass.choices, label=_("Supply class")
    )
    q = django_filters.CharFilter(method="filter_search", label=_("Item NSN or name"))
    shared = django_filters.BooleanFilter(label=_("Shared"))
    below_safety = django_filters.BooleanFilter(method="filter_below_safety", label=_("Below safety level"))
    updated_after = ChangedAfterFilter(field_name="updated_at", lookup_expr="gt", label=_("Updated after"))

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
