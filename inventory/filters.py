"""Filtersets shared by the browser pages and the API, so a user filters the same way in both."""

import django_filters
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.filters import ChangedAfterFilter, CodeFilter, ItemSearchFilter, PortalFilterSet
from nations.filters import nation_choices
from nations.models import Nation

from .models import ALL, CenterKind, Item, LogisticsCenter, Movement, ReleaseList, Stock, StockReport, SupplyClass


def center_choices() -> list[tuple[str, str]]:
    """Every center as a filter's dropdown offers it (reference data: the same list for every user)."""
    return [
        (code, f"{code} · {name}")
        for code, name in LogisticsCenter.objects.order_by("code").values_list("code", "name")
    ]


class NationFilter(PortalFilterSet):
    class Meta:
        model = Nation
        fields = ["active", "updated_after"]


class CenterFilter(PortalFilterSet):
    kind = django_filters.ChoiceFilter(choices=CenterKind.choices, label=_("Kind"))
    host_nation = CodeFilter(field_name="host_nation__code", choices=nation_choices, label=_("Host nation"))
    participant = CodeFilter(
        field_name="participants__code", choices=nation_choices, distinct=True, label=_("Participating nation")
    )

    class Meta:
        model = LogisticsCenter
        fields = ["kind", "host_nation", "participant", "updated_after"]


class ItemFilter(PortalFilterSet):
    q = ItemSearchFilter(label=_("NSN prefix or name"))

    class Meta:
        model = Item
        fields = ["supply_class", "unit_of_issue", "q", "updated_after"]


class StockFilter(PortalFilterSet):
    center = CodeFilter(field_name="center__code", choices=center_choices, label=_("Center"))
    nation = CodeFilter(field_name="nation__code", choices=nation_choices, label=_("Nation"))
    nsn = django_filters.CharFilter(field_name="item__nsn", label=_("NSN"))
    supply_class = django_filters.ChoiceFilter(
        field_name="item__supply_class", choices=SupplyClass.choices, label=_("Supply class")
    )
    q = ItemSearchFilter(item_path="item__")
    shared = django_filters.BooleanFilter(label=_("Shared"))
    marking = django_filters.ChoiceFilter(
        method="filter_marking",
        choices=[("private", _("Private")), ("all", _("Shared (ALL)")), ("rel_to", _("REL TO a list"))],
        label=_("Marking"),
    )
    releasable_to = django_filters.CharFilter(
        method="filter_releasable_to", label=_("Releasable to (nation code, or ALL)")
    )
    below_safety = django_filters.BooleanFilter(method="filter_below_safety", label=_("Below safety level"))

    class Meta:
        model = Stock
        fields = [
            "center",
            "nation",
            "nsn",
            "supply_class",
            "q",
            "shared",
            "marking",
            "releasable_to",
            "below_safety",
            "updated_after",
        ]

    def filter_marking(self, queryset, name, value):
        conditions = {
            "private": Q(shared=False, release_list__isnull=True),
            "all": Q(shared=True),
            "rel_to": Q(release_list__isnull=False),
        }
        return queryset.filter(conditions[value]) if value in conditions else queryset

    def filter_releasable_to(self, queryset, name, value):
        """Stocks shared with ALL, or those whose release list names this nation."""
        value = value.strip().upper()
        if not value:
            return queryset
        if value == ALL:
            return queryset.filter(shared=True)
        return queryset.filter(release_list__in=ReleaseList.objects.filter(nations__code=value).values("pk"))

    def filter_below_safety(self, queryset, name, value):
        condition = Q(safety_level__gt=F("on_hand") - F("reserved"))
        if value is None:
            return queryset
        return queryset.filter(condition) if value else queryset.exclude(condition)


class MovementFilter(PortalFilterSet):
    stock = django_filters.NumberFilter(field_name="stock_id")
    nation = django_filters.CharFilter(field_name="stock__nation__code", lookup_expr="iexact")
    center = django_filters.CharFilter(field_name="stock__center__code", lookup_expr="iexact")
    nsn = django_filters.CharFilter(field_name="stock__item__nsn")
    kind = django_filters.CharFilter()
    request = django_filters.CharFilter(method="filter_request", label=_("Request reference"))
    # the ledger is append-only: a movement changes once, when it is recorded
    updated_after = ChangedAfterFilter(
        field_name="recorded_at", lookup_expr="gt", label="Only movements recorded after this time"
    )

    class Meta:
        model = Movement
        fields = ["stock", "nation", "center", "nsn", "kind", "request", "updated_after"]

    def filter_request(self, queryset, name, value):
        """Only a request the caller may see matches: a reference is not a way to probe others' requests.  The
        request model is reached through the foreign key (inventory does not import coordination)."""
        requests = Movement._meta.get_field("request").related_model.objects.visible_to(
            getattr(self.request, "user", None)
        )
        return queryset.filter(request__in=requests.filter(reference=value).values("pk"))


class StockReportFilter(PortalFilterSet):
    nation = django_filters.CharFilter(field_name="nation__code", lookup_expr="iexact")
    center = django_filters.CharFilter(field_name="center__code", lookup_expr="iexact")

    class Meta:
        model = StockReport
        fields = ["nation", "center", "updated_after"]
