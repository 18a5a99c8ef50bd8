from operator import attrgetter

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from coordination import priority
from coordination.lifecycle import COMMENT, Input, Transition
from coordination.models import (
    SUBSCRIBABLE_EVENTS,
    Discrepancy,
    DiscrepancyResolution,
    Notification,
    Priority,
    ReconciliationRun,
    RequestEvent,
    Shortfall,
    SupplyRequest,
    WebhookEndpoint,
)
from coordination.webhook_targets import TargetRefused, check_url
from inventory.api.serializers import MAX_QUANTITY
from inventory.models import Item, LogisticsCenter
from nations.api.fields import NestedIdField, NestedLinkField, NestedReferenceField
from nations.models import Nation


class RequestEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True)

    class Meta:
        model = RequestEvent
        fields = ["at", "from_status", "to_status", "actor", "quantity", "comment"]


@extend_schema_field({"type": "string", "pattern": "^(0[1-9]|1[0-5])$", "example": "07"})
class DesignatorField(serializers.IntegerField):
    """A priority designator as written: two digits, ``01`` (most pressing) to ``15``."""

    def to_representation(self, value):
        return priority.label(value)


class SupplyRequestSerializer(serializers.ModelSerializer):
    requesting_nation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    supplying_nation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    source_center = serializers.SlugRelatedField(slug_field="code", read_only=True)
    destination_center = serializers.SlugRelatedField(slug_field="code", read_only=True)
    nsn = serializers.CharField(source="item.nsn", read_only=True)
    item_name = serializers.CharField(source="item.name", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    priority_designator = DesignatorField(
        read_only=True,
        help_text="UMMIPS priority designator, 01 (most pressing) to 15: the requesting nation's force activity "
        "designator (I-V) with the urgency of need (A-C).",
    )
    priority_group = serializers.SerializerMethodField(help_text="Priority group of the designator: 1, 2 or 3.")

    class Meta:
        model = SupplyRequest
        fields = [
            "id",
            "reference",
            "status",
            "requesting_nation",
            "supplying_nation",
            "nsn",
            "item_name",
            "source_center",
            "destination_center",
            "quantity_requested",
            "quantity_approved",
            "quantity_dispatched",
            "quantity_received",
            "priority",
            "priority_designator",
            "priority_group",
            "required_by",
            "justification",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_priority_group(self, obj) -> int:
        return priority.group(obj.priority_designator)


class SupplyRequestDetailSerializer(SupplyRequestSerializer):
    timeline = RequestEventSerializer(source="events", many=True, read_only=True)

    class Meta(SupplyRequestSerializer.Meta):
        fields = [*SupplyRequestSerializer.Meta.fields, "timeline"]
        read_only_fields = fields


class SupplyRequestCreateSerializer(serializers.Serializer):
    requesting_nation = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Nation.objects.all(),
        required=False,
        help_text="Defaults to the caller's nation when it acts for exactly one.",
    )
    supplying_nation = serializers.SlugRelatedField(slug_field="code", queryset=Nation.objects.all())
    nsn = serializers.SlugRelatedField(slug_field="nsn", queryset=Item.objects.all())
    source_center = serializers.SlugRelatedField(slug_field="code", queryset=LogisticsCenter.objects.all())
    destination_center = serializers.SlugRelatedField(slug_field="code", queryset=LogisticsCenter.objects.all())
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.ROUTINE)
    required_by = serializers.DateField()
    justification = serializers.CharField(max_length=2000)
    submit = serializers.BooleanField(default=False, help_text="Submit at once instead of keeping a draft.")

    def validate_required_by(self, value):
        if value < timezone.localdate():
            raise serializers.ValidationError("The required-by date is in the past.")
        return value

    def validate(self, attrs):
        if attrs.get("requesting_nation") and attrs["requesting_nation"] == attrs["supplying_nation"]:
            raise serializers.ValidationError({"supplying_nation": "A nation cannot request supplies from itself."})
        return attrs


def _input_field(spec: Input) -> serializers.Field:
    extra = {"help_text": spec.help_text} if spec.help_text else {}
    if spec.kind == "quantity":
        # left out: the service uses the request's own figure (`default_from`)
        return serializers.IntegerField(
            min_value=spec.minimum, max_value=MAX_QUANTITY, required=spec.required or spec.default_from is None, **extra
        )
    if spec.required:
        return serializers.CharField(max_length=2000, **extra)
    return serializers.CharField(max_length=2000, required=False, allow_blank=True, default="", **extra)


_TRANSITION_SERIALIZERS: dict[str, type[serializers.Serializer]] = {}


def transition_serializer(row: Transition) -> type[serializers.Serializer]:
    """The input serializer of a lifecycle transition, built from the row's fields.

    Rows asking only for a comment share ``CommentSerializer``; the others are named for their action
    (``ApproveSerializer``): the schema's component names stay what national systems' clients know."""
    name = "CommentSerializer" if row.fields == (COMMENT,) else f"{row.action.title()}Serializer"
    if name not in _TRANSITION_SERIALIZERS:
        fields = {spec.name: _input_field(spec) for spec in row.fields}
        _TRANSITION_SERIALIZERS[name] = type(name, (serializers.Serializer,), {"__module__": __name__, **fields})
    return _TRANSITION_SERIALIZERS[name]


class FlagSerializerMixin(serializers.ModelSerializer):
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", read_only=True, allow_null=True)
    # a pool's or a request's flag: none; a stock the caller may not see: none either (nations.access.nested)
    stock = NestedIdField("stock")


class ShortfallSerializer(FlagSerializerMixin):
    nation = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)  # a pool's: none
    center = serializers.SlugRelatedField(slug_field="code", read_only=True)
    nsn = serializers.CharField(source="item.nsn", read_only=True)
    last_seen = serializers.DateTimeField(
        source="last_sighting", read_only=True, help_text="When a reconciliation pass last found the shortfall."
    )

    class Meta:
        model = Shortfall
        fields = [
            "id",
            "kind",
            "severity",
            "stock",
            "nation",
            "center",
            "nsn",
            "details",
            "first_seen",
            "last_seen",
            "resolved_at",
            "acknowledged_at",
            "acknowledged_by",
            "updated_at",
        ]
        read_only_fields = fields


class DiscrepancySerializer(FlagSerializerMixin):
    request = NestedReferenceField("request", text=attrgetter("reference"))
    count = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    # blank while the flag is open (read-only model fields lose allow_blank, so the schema said it never is)
    resolution = serializers.ChoiceField(choices=DiscrepancyResolution.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Discrepancy
        fields = [
            "id",
            "kind",
            "severity",
            "stock",
            "request",
            "count",
            "expected",
            "actual",
            "details",
            "first_seen",
            "last_seen",
            "resolved_at",
            "resolution",
            "acknowledged_at",
            "acknowledged_by",
            "updated_at",
        ]
        read_only_fields = fields


class ReconciliationRunSerializer(serializers.ModelSerializer):
    center = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)  # all centers: none
    started_by = serializers.CharField(source="started_by.username", read_only=True, allow_null=True)
    progress_percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "status",
            "center",
            "trigger",
            "started_by",
            "centers_total",
            "centers_done",
            "progress_percent",
            "created_at",
            "started_at",
            "finished_at",
            "findings",
            "error",
            "updated_at",
        ]
        read_only_fields = fields


class SourcingQuerySerializer(serializers.Serializer):
    nsn = serializers.SlugRelatedField(slug_field="nsn", queryset=Item.objects.all())
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    destination = serializers.SlugRelatedField(slug_field="code", queryset=LogisticsCenter.objects.all())


class SourcingOptionSerializer(serializers.Serializer):
    stock = serializers.IntegerField(source="stock.id")
    nation = serializers.CharField(source="stock.nation.code")
    center = serializers.CharField(source="stock.center.code")
    nsn = serializers.CharField(source="stock.item.nsn")
    available = serializers.IntegerField(source="stock.available")
    safety_level = serializers.IntegerField(source="stock.safety_level")
    spare = serializers.IntegerField()
    distance_km = serializers.FloatField()


class StartReconciliationSerializer(serializers.Serializer):
    center = serializers.SlugRelatedField(
        slug_field="code",
        queryset=LogisticsCenter.objects.all(),
        required=False,
        allow_null=True,
        help_text="Only this center; omit for all centers.",
    )


class ResolveDiscrepancySerializer(serializers.Serializer):
    accept = serializers.BooleanField(help_text="true: the count was right, adjust the books; false: reject it.")
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class NotificationSerializer(serializers.ModelSerializer):
    # empty when the page it opens shows an object the reader may not (or no longer) see
    link = NestedLinkField(links=Notification.LINKED_OBJECTS)

    class Meta:
        from coordination.models import Notification

        model = Notification
        fields = ["id", "event", "title", "body", "link", "created_at", "read_at"]
        read_only_fields = fields


class WebhookEndpointSerializer(serializers.ModelSerializer):
    nation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS),
        required=False,
        allow_empty=True,
        help_text="Event types to receive; empty or omitted: all (a ping is sent only on demand).",
    )
    secret = serializers.CharField(
        min_length=16,
        max_length=128,
        write_only=True,
        help_text="Shared secret for the X-Alliance-Signature HMAC (16+ characters).",
    )
    url = serializers.URLField(max_length=500)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "nation", "url", "events", "secret", "active", "created_at", "updated_at"]
        read_only_fields = ["id", "nation", "created_at", "updated_at"]

    def validate_url(self, value):
        # on create and on update; each delivery checks again (coordination/webhook_targets.py)
        try:
            check_url(value)
        except TargetRefused as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        from coordination.models import WebhookDelivery

        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
            "payload",
        ]
        read_only_fields = fields


class RedeliverySerializer(serializers.Serializer):
    delivery = serializers.IntegerField(help_text="The id of a past delivery of this endpoint (see deliveries/).")

    def validate_delivery(self, value):
        # only this endpoint's deliveries: another's answers the same as a missing one
        delivery = self.context["endpoint"].deliveries.filter(pk=value).first()
        if delivery is None:
            raise serializers.ValidationError("This endpoint has no delivery with this id.", code="does_not_exist")
        return delivery
