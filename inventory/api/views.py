"""Inventory API: reference data, stocks, the ledger and bulk stock reports.

Each queryset comes from ``visible_to(request.user)``: what a caller may not see is simply not there (404)."""

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from core.api.base import ETagMixin, PortalGenericViewSet
from inventory import services
from inventory.filters import ChangedAfterFilter, StockFilter
from inventory.models import Item, LogisticsCenter, Movement, Stock, StockReport
from nations import access
from nations.models import Nation

from . import serializers as s


class UpdatedAfterFilter(django_filters.FilterSet):
    updated_after = ChangedAfterFilter(
        field_name="updated_at", lookup_expr="gt", label="Only rows changed after this time (ISO 8601)"
    )


class NationFilter(UpdatedAfterFilter):
    class Meta:
        model = Nation
        fields = ["active", "updated_after"]


class CenterFilter(UpdatedAfterFilter):
    host_nation = django_filters.CharFilter(field_name="host_nation__code", lookup_expr="iexact")
    participant = django_filters.CharFilter(field_name="participants__code", lookup_expr="iexact", distinct=True)

    class Meta:
        model = LogisticsCenter
        fields = ["kind", "host_nation", "participant", "updated_after"]


class ItemFilter(UpdatedAfterFilter):
    q = django_filters.CharFilter(method="search", label="NSN prefix or name")

    class Meta:
        model = Item
        fields = ["supply_class", "unit_of_issue", "q", "updated_after"]

    def search(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(nsn__startswith=value) | Q(name__icontains=value)) if value.strip() else queryset


class MovementFilter(django_filters.FilterSet):
    stock = django_filters.NumberFilter(field_name="stock_id")
    nation = django_filters.CharFilter(field_name="stock__nation__code", lookup_expr="iexact")
    center = django_filters.CharFilter(field_name="stock__center__code", lookup_expr="iexact")
    nsn = django_filters.CharFilter(field_name="stock__item__nsn")
    kind = django_filters.CharFilter()
    request = django_filters.CharFilter(field_name="request__reference")
    updated_after = ChangedAfterFilter(
        field_name="recorded_at", lookup_expr="gt", label="Only movements recorded after this time"
    )

    class Meta:
        model = Movement
        fields = ["stock", "nation", "center", "nsn", "kind", "request", "updated_after"]


class StockReportFilter(UpdatedAfterFilter):
    nation = django_filters.CharFilter(field_name="nation__code", lookup_expr="iexact")
    center = django_filters.CharFilter(field_name="center__code", lookup_expr="iexact")

    class Meta:
        model = StockReport
        fields = ["nation", "center", "updated_after"]


class NationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    """Member nations (reference data, visible to every authenticated caller)."""

    queryset = Nation.objects.all()
    serializer_class = s.NationSerializer
    lookup_field = "code"
    filterset_class = NationFilter
    ordering_fields = ["code", "name", "updated_at"]
    ordering = ["code"]


class CenterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    """Logistics centers and their participating nations (reference data)."""

    queryset = LogisticsCenter.objects.select_related("host_nation").prefetch_related(
        Prefetch("participants", queryset=Nation.objects.only("id", "code"))
    )
    serializer_class = s.CenterSerializer
    lookup_field = "code"
    filterset_class = CenterFilter
    ordering_fields = ["code", "name", "updated_at"]
    ordering = ["code"]


class ItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    """The catalog, keyed by NATO Stock Number."""

    queryset = Item.objects.all()
    serializer_class = s.ItemSerializer
    lookup_field = "nsn"
    lookup_value_regex = r"[0-9]{4}-[0-9]{2}-[0-9]{3}-[0-9]{4}"
    filterset_class = ItemFilter
    ordering_fields = ["nsn", "name", "updated_at"]
    ordering = ["nsn"]


class StockViewSet(
    ETagMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, PortalGenericViewSet
):
    """Stocks the caller may see.  PATCH changes planning figures (safety level, consumption, shared) only;
    quantities change through movements, requests and counts."""

    serializer_class = s.StockSerializer
    filterset_class = StockFilter
    ordering_fields = ["id", "updated_at", "on_hand", "safety_level", "center__code", "item__nsn"]
    ordering = ["id"]
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        return Stock.objects.visible_to(self.request.user).select_related("nation", "center", "item")

    def perform_update(self, serializer):
        stock = serializer.instance
        if not access.can(self.request.user, "stock.edit", stock):
            raise PermissionDenied("Only the nation's logistics officers change a stock's planning figures.")
        data = serializer.validated_data
        serializer.instance = services.update_stock_settings(
            stock=stock,
            actor=self.request.user,
            safety_level=data.get("safety_level"),
            daily_consumption=data.get("daily_consumption"),
            shared=data.get("shared"),
        )


class MovementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, PortalGenericViewSet):
    """The append-only ledger.  POST books a receipt, an issue or an adjustment."""

    filterset_class = MovementFilter
    ordering_fields = ["id", "occurred_at", "recorded_at"]
    ordering = ["id"]

    def get_queryset(self):
        return Movement.objects.visible_to(self.request.user).select_related(
            "stock__nation", "stock__center", "stock__item", "actor", "request"
        )

    def get_serializer_class(self):
        return s.MovementCreateSerializer if self.action == "create" else s.MovementSerializer

    @extend_schema(request=s.MovementCreateSerializer, responses={201: s.MovementSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.MovementCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        movement = services.post_manual_movement(
            nation=data["nation"],
            center=data["center"],
            item=data["nsn"],
            kind=data["kind"],
            quantity=data["quantity"],
            actor=request.user,
            reason=data["reason"],
        )
        movement = self.get_queryset().get(pk=movement.pk)
        return Response(s.MovementSerializer(movement).data, status=status.HTTP_201_CREATED)


class StockReportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, PortalGenericViewSet
):
    """Bulk physical counts: thousands of lines in one call, all-or-nothing, an error per bad line."""

    serializer_class = s.StockReportSerializer
    filterset_class = StockReportFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return StockReport.objects.visible_to(self.request.user).select_related("nation", "center", "submitted_by")

    def perform_create(self, serializer):
        from inventory.models import CountSource

        data = serializer.validated_data
        source = (
            CountSource.NATIONAL_SYSTEM
            if hasattr(self.request.user, "service_account")
            else (
                CountSource.OFFICER
                if data["nation"].pk in access.profile(self.request.user).logistics_nations
                else CountSource.OPERATOR
            )
        )
        serializer.instance = services.record_stock_report(
            nation=data["nation"],
            center=data["center"],
            lines=data["lines"],
            submitted_by=self.request.user,
            counted_at=data.get("counted_at"),
            source=source,
        )
