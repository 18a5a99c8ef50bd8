"""``/api/v1/shipments/``: approved requests dispatched together, and what is in transit to whom.

POST dispatches (``coordination.shipments.dispatch_shipment``); GET lists and shows the shipments the caller may
see, each with the requests in it the caller may see (a request of another requesting nation travelling in the
same shipment is left out, its reference too)."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from coordination import shipments
from coordination.models import Shipment, SupplyRequest, TransportMode
from core.api.base import PortalGenericViewSet, etag_for


class ShipmentRequestSerializer(serializers.ModelSerializer):
    """A request in a shipment: what was sent, and what was received of it."""

    requesting_nation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    nsn = serializers.CharField(source="item.nsn", read_only=True)
    item_name = serializers.CharField(source="item.name", read_only=True)
    unit_of_issue = serializers.CharField(source="item.unit_of_issue", read_only=True)

    class Meta:
        model = SupplyRequest
        fields = [
            "id",
            "reference",
            "status",
            "requesting_nation",
            "nsn",
            "item_name",
            "unit_of_issue",
            "quantity_dispatched",
            "quantity_received",
        ]
        read_only_fields = fields


class ShipmentSerializer(serializers.ModelSerializer):
    shipping_nation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    source_center = serializers.SlugRelatedField(slug_field="code", read_only=True)
    destination_center = serializers.SlugRelatedField(slug_field="code", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    in_transit = serializers.SerializerMethodField(help_text="Not arrived yet.")
    overdue = serializers.SerializerMethodField(
        help_text="Not arrived, ARRIVAL_OVERDUE_TOLERANCE_HOURS past its expected arrival."
    )
    requests = ShipmentRequestSerializer(
        source="visible_requests",
        many=True,
        read_only=True,
        help_text="The requests in it that the caller may see.",
    )

    class Meta:
        model = Shipment
        fields = [
            "id",
            "reference",
            "shipping_nation",
            "source_center",
            "destination_center",
            "mode",
            "carrier",
            "departed_at",
            "expected_arrival",
            "arrived_at",
            "in_transit",
            "overdue",
            "requests",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_in_transit(self, shipment) -> bool:
        return shipment.arrived_at is None

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_overdue(self, shipment) -> bool:
        return shipments.is_overdue(shipment)


class ShipmentCreateSerializer(serializers.Serializer):
    requests = serializers.ListField(
        child=serializers.CharField(max_length=20),
        min_length=1,
        max_length=shipments.MAX_REQUESTS,
        help_text="Approved requests to dispatch together, by id or reference (REQ-000123): one supplying nation, "
        "one source center, one destination.",
    )
    mode = serializers.ChoiceField(choices=TransportMode.choices)
    carrier = serializers.CharField(
        max_length=shipments.MAX_CARRIER,
        required=False,
        allow_blank=True,
        default="",
        help_text="Carrier, convoy or flight designation.",
    )
    departed_at = serializers.DateTimeField(required=False, help_text="When it left; defaults to now.")
    expected_arrival = serializers.DateTimeField()
    comment = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="Written on each request's timeline."
    )


class ShipmentReceiveSerializer(serializers.Serializer):
    comment = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="Written on each request's timeline."
    )


class ShipmentReceiptSerializer(serializers.Serializer):
    request = serializers.CharField(help_text="REQ-000123")
    ok = serializers.BooleanField()
    error = serializers.CharField(allow_null=True, help_text="Why this request was not received, when it was not.")


class ShipmentReceiptsSerializer(serializers.Serializer):
    shipment = serializers.CharField(help_text="SHP-000123")
    received = serializers.IntegerField()
    results = ShipmentReceiptSerializer(many=True)


class ShipmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, PortalGenericViewSet):
    """Shipments: dispatched requests travelling together.  ``?in_transit=true`` for what has not arrived,
    ``?overdue=true`` for what is late, ``?direction=inbound`` for what comes to the caller's nations and centers."""

    queryset = Shipment.objects.select_related("shipping_nation", "source_center", "destination_center", "created_by")
    serializer_class = ShipmentSerializer
    filterset_class = shipments.ShipmentFilter
    ordering_fields = ["id", "departed_at", "expected_arrival", "arrived_at", "updated_at"]
    ordering = ["-id"]
    etag_actions = ("create",)

    def get_queryset(self):
        # the requests inside, narrowed to the caller's: one query for a page
        inside = SupplyRequest.objects.visible_to(self.request.user).select_related("requesting_nation", "item")
        return (
            super()
            .get_queryset()
            .prefetch_related(Prefetch("requests", queryset=inside.order_by("id"), to_attr="visible_requests"))
        )

    @extend_schema(request=ShipmentCreateSerializer, responses={201: ShipmentSerializer})
    def create(self, request, *args, **kwargs):
        payload = ShipmentCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        shipment = shipments.dispatch_shipment(
            requests=shipments.requests_named(user=request.user, names=data["requests"]),
            actor=request.user,
            mode=data["mode"],
            carrier=data["carrier"],
            departed_at=data.get("departed_at"),
            expected_arrival=data["expected_arrival"],
            comment=data["comment"],
        )
        fresh = self.get_queryset().get(pk=shipment.pk)
        response = Response(ShipmentSerializer(fresh).data, status=status.HTTP_201_CREATED)
        response["ETag"] = etag_for(fresh)
        return response

    @extend_schema(request=ShipmentReceiveSerializer, responses={200: ShipmentReceiptsSerializer})
    @action(detail=True, methods=["post"], url_path="receive")
    def receive(self, request, pk=None, format=None):
        """Receive in full every request of the shipment still dispatched that the caller may receive, each in its
        own transaction; one result per request (a short receipt goes through the request's own ``receive/``)."""
        shipment = self.get_object()
        payload = ShipmentReceiveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        receipts = shipments.receive_shipment(
            shipment=shipment, actor=request.user, comment=payload.validated_data["comment"]
        )
        results = [{"request": r.request.reference, "ok": not r.error, "error": r.error or None} for r in receipts]
        return Response({"shipment": shipment.reference, "received": sum(r["ok"] for r in results), "results": results})
