"""The audit log's filters, shared by its page and its API list (the same code filters both)."""

from datetime import datetime, time, timedelta

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.filters import CodeFilter, PortalFilterSet

from .models import AuditEntry, AuditKind, Nation


def nation_choices() -> list[tuple[str, str]]:
    """Every nation as a filter's dropdown offers it (reference data: the same list for every user)."""
    return [(code, f"{code} · {name}") for code, name in Nation.objects.order_by("code").values_list("code", "name")]


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class AuditEntryFilter(PortalFilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=AuditKind.choices, label=_("Event"))
    actor = django_filters.CharFilter(
        field_name="username", lookup_expr="iexact", label=_("User (actor, or username tried)")
    )
    nation = CodeFilter(field_name="nation__code", choices=nation_choices, label=_("Nation"))
    date_from = django_filters.DateFilter(method="filter_date_from", label=_("From (date)"))
    date_to = django_filters.DateFilter(method="filter_date_to", label=_("To (date, inclusive)"))
    object_type = django_filters.CharFilter(
        lookup_expr="iexact", label=_("Object type (e.g. coordination.supplyrequest)")
    )
    object_id = django_filters.CharFilter(label=_("Object id"))
    updated_after = None  # append-only: an entry never changes (`at` is filtered by date_from / date_to)

    class Meta:
        model = AuditEntry
        fields = ["kind", "actor", "nation", "date_from", "date_to", "object_type", "object_id"]

    # whole days in the portal's time zone, as ranges on `at` (so its index serves them)
    def filter_date_from(self, queryset, name, value):
        return queryset.filter(at__gte=_start_of(value))

    def filter_date_to(self, queryset, name, value):
        return queryset.filter(at__lt=_start_of(value + timedelta(days=1)))
