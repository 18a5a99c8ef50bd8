"""Inventory API: reference data, stocks, the ledger and bulk stock reports.

The base viewset narrows each queryset to the caller's rows (``visible_to``): what a caller may not see is simply
not there (404).  Reference data (nations, centers, items) is declared public."""

from django.db.models import F, Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from core.api.base import PortalGenericViewSet
from inventory import services
from inventory.filters import CenterFilter, ItemFilter, MovementFilter, NationFilter, StockFilter, StockReportFilter
from inventory.models import CountSource, Item, LogisticsCenter, Movement, Stock, StockReport
from nations import access, activity
from nations.models import Nation

from . import serializers as s


class NationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, PortalGenericViewSet):
    """Member nations (reference data, visible to every authenticated caller).  Alliance coordinators set a nation's
    force activity designator (PATCH ``{"activity_designator": "II"}``); it applies to requisitions and requests
    raised afterwards, those already raised keep their priority designator."""

    public = True
    queryset = Nation.objects.all()
    serializer_class = s.NationSerializer
    lookup_field = "code"
    filterset_class = NationFilter
    ordering_fields = ["code", "name", "updated_at"]
    ordering = ["code"]
    http_method_names = ["get", "patch", "head", "options"]

    def get_serializer_class(self):
        return s.NationChangeSerializer if self.action == "partial_update" else s.NationSerializer

    def check_change_allowed(self, obj) -> None:
        access.require(self.request.user, "nation.activity_designator", obj)

    def perform_update(self, serializer):
        if "activity_designator" in serializer.validated_data:
            serializer.instance = activity.set_activity_designator(
                actor=self.request.user,
                nation=serializer.instance,
                activity_designator=serializer.validated_data["activity_designator"],
            )


class CenterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    """Logistics centers and their participating nations (reference data)."""

    public = True
    queryset = LogisticsCenter.objects.select_related("host_nation").prefetch_related(
        Prefetch("participants", queryset=Nation.objects.only("id", "code"))
    )
    serializer_class = s.CenterSerializer
    lookup_field = "code"
    filterset_class = CenterFilter
    ordering_fields = ["code", "name", "updated_at"]
    ordering = ["code"]


class ItemViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    PortalGenericViewSet,
):  # fmt: skip
    """The catalog, keyed by NATO Stock Number (reference data: every signed-in caller reads it).  Alliance
    coordinators add items (POST) and correct their name, supply class or unit of issue (PATCH; the NSN never
    changes); `manage.py import_catalog` loads many at once."""

    public = True
    queryset = Item.objects.all()
    serializer_class = s.ItemSerializer
    lookup_field = "nsn"
    lookup_value_regex = r"[0-9]{4}-[0-9]{2}-[0-9]{3}-[0-9]{4}"
    filterset_class = ItemFilter
    ordering_fields = ["nsn", "name", "updated_at"]
    ordering = ["nsn"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        return s.ItemChangeSerializer if self.action == "partial_update" else s.ItemSerializer

    def check_change_allowed(self, obj) -> None:
        access.require(self.request.user, "catalog.manage", obj)

    def create(self, request, *args, **kwargs):
        access.require(request.user, "catalog.manage", None)  # 403 before any 400 about the body
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.instance = services.create_item(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.update_item(
            actor=self.request.user, item=serializer.instance, **serializer.validated_data
        )


class StockViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, PortalGenericViewSet):
    """Stocks the caller may see.  PATCH changes planning figures (safety level, consumption) and the release
    (``releasable_to``, or the older ``shared``) only; quantities change through movements, requests and counts."""

    queryset = Stock.objects.select_related("nation", "center", "item", "release_list")
    serializer_class = s.StockSerializer
    filterset_class = StockFilter
    ordering_fields = {
        "id": "id",
        "updated_at": "updated_at",
        "on_hand": "on_hand",
        "available": F("on_hand") - F("reserved"),
        "safety_level": "safety_level",
        "center": "center__code",
        "nsn": "item__nsn",
    }
    ordering = ["id"]
    http_method_names = ["get", "patch", "head", "options"]

    def check_change_allowed(self, obj) -> None:
        if not access.can(self.request.user, "stock.edit", obj):
            raise PermissionDenied("Only the nation's logistics officers change a stock's planning figures.")

    def perform_update(self, serializer):
        stock = serializer.instance
        data = serializer.validated_data
        serializer.instance = services.update_stock_settings(
            stock=stock,
            actor=self.request.user,
            safety_level=data.get("safety_level"),
            daily_consumption=data.get("daily_consumption"),
            shared=data.get("shared"),
            releasable_to=data.get("releasable_to"),
        )


class MovementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, PortalGenericViewSet):
    """The append-only ledger.  POST books a receipt, an issue or an adjustment."""

    queryset = Movement.objects.select_related("stock__nation", "stock__center", "stock__item", "actor", "request")
    filterset_class = MovementFilter
    ordering_fields = ["id", "occurred_at", "recorded_at"]
    ordering = ["id"]

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

    queryset = StockReport.objects.select_related("nation", "center", "submitted_by")
    serializer_class = s.StockReportSerializer
    filterset_class = StockReportFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def perform_create(self, serializer):
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
