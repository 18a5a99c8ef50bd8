"""Serializers of the inventory API.  Natural keys in payloads: nation codes, center codes, NSNs.

Every bound the database enforces is validated here too, so bad input answers 400, never a 500."""

from operator import attrgetter

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.models import (
    ALL,
    Item,
    LogisticsCenter,
    Movement,
    MovementKind,
    Stock,
    StockReport,
)
from nations.access.nested import NEUTRAL_ACTOR, neutral_text
from nations.api.fields import NestedReferenceField, caller_disclosure
from nations.models import ActivityDesignator, Nation

MAX_QUANTITY = 10**12  # far above any real stock, far below the 64-bit column limit


class ActivityDesignatorField(serializers.ChoiceField):
    """A force activity designator as written, ``I`` to ``V`` (stored as 1-5)."""

    def __init__(self, **kwargs):
        super().__init__(choices=ActivityDesignator.labels, **kwargs)

    def to_representation(self, value):
        return ActivityDesignator(value).label

    def to_internal_value(self, data):
        label = super().to_internal_value(data.strip().upper() if isinstance(data, str) else data)
        return ActivityDesignator.values[ActivityDesignator.labels.index(label)]


class NationSerializer(serializers.ModelSerializer):
    activity_designator = ActivityDesignatorField(
        read_only=True,
        help_text="Force activity designator, I (forces in combat) to V, set by the alliance coordinators; with a "
        "requisition's urgency of need it makes the priority designator.",
    )

    class Meta:
        model = Nation
        fields = ["code", "name", "ncb_code", "active", "activity_designator", "updated_at"]


class NationChangeSerializer(NationSerializer):
    """PATCH (alliance coordinators): the force activity designator only; it applies to requisitions and requests
    raised afterwards."""

    activity_designator = ActivityDesignatorField(
        help_text="Force activity designator, I (forces in combat) to V.",
    )

    class Meta(NationSerializer.Meta):
        read_only_fields = ["code", "name", "ncb_code", "active", "updated_at"]


class CenterSerializer(serializers.ModelSerializer):
    host_nation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    participants = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = LogisticsCenter
        fields = ["code", "name", "host_nation", "kind", "latitude", "longitude", "participants", "updated_at"]


class ItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["nsn", "name", "supply_class", "unit_of_issue", "updated_at"]
        read_only_fields = ["updated_at"]
        # the NSN's uniqueness is the service's to check (one message, whichever way the item comes in)
        extra_kwargs = {"nsn": {"validators": []}}


class ItemChangeSerializer(ItemSerializer):
    """PATCH: the NSN is the item's identity in every nation's system and is never changed."""

    class Meta(ItemSerializer.Meta):
        read_only_fields = ["nsn", "updated_at"]


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "enum": [ALL], "description": "Shared with every nation participating in the center."},
            {
                "type": "array",
                "items": {"type": "string", "pattern": "^[A-Z]{3}$", "example": "DEU"},
                "maxItems": 100,
                "description": "REL TO these nations (their codes); [] is private.",
            },
        ]
    }
)
class ReleasableToField(serializers.Field):
    """A stock's release: "ALL", or the codes of the nations it is releasable to ([]: private).  Reads the list's
    key through ``select_related("release_list")``: no query per row."""

    default_error_messages = {"invalid": 'Give "ALL" or a list of nation codes.'}
    MAX_NATIONS = 100

    def __init__(self, **kwargs):
        super().__init__(source="*", required=False, **kwargs)

    def to_representation(self, stock):
        return stock.releasable_to

    def to_internal_value(self, data):
        if isinstance(data, str) and data.strip().upper() == ALL:
            return {"releasable_to": ALL}
        if (
            isinstance(data, list)
            and len(data) <= self.MAX_NATIONS
            and all(isinstance(code, str) and len(code) <= 16 for code in data)
        ):
            return {"releasable_to": data}
        self.fail("invalid")


class StockSerializer(serializers.ModelSerializer):
    nation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    center = serializers.SlugRelatedField(slug_field="code", read_only=True)
    nsn = serializers.CharField(source="item.nsn", read_only=True)
    item_name = serializers.CharField(source="item.name", read_only=True)
    supply_class = serializers.CharField(source="item.supply_class", read_only=True)
    unit_of_issue = serializers.CharField(source="item.unit_of_issue", read_only=True)
    available = serializers.IntegerField(read_only=True)
    days_of_supply = serializers.DecimalField(max_digits=16, decimal_places=1, read_only=True, allow_null=True)
    safety_level = serializers.IntegerField(min_value=0, max_value=MAX_QUANTITY, required=False)
    daily_consumption = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    shared = serializers.BooleanField(
        required=False, help_text="True when shared with ALL (the older form of releasable_to; false keeps a list)."
    )
    releasable_to = ReleasableToField(help_text='"ALL", or the nation codes it is releasable to (REL TO); [] private.')

    class Meta:
        model = Stock
        fields = [
            "id",
            "nation",
            "center",
            "nsn",
            "item_name",
            "supply_class",
            "unit_of_issue",
            "on_hand",
            "reserved",
            "available",
            "safety_level",
            "daily_consumption",
            "days_of_supply",
            "shared",
            "releasable_to",
            "updated_at",
        ]
        read_only_fields = ["id", "on_hand", "reserved", "updated_at"]


class MovementSerializer(serializers.ModelSerializer):
    stock = serializers.PrimaryKeyRelatedField(read_only=True)
    nation = serializers.CharField(source="stock.nation.code", read_only=True)
    center = serializers.CharField(source="stock.center.code", read_only=True)
    nsn = serializers.CharField(source="stock.item.nsn", read_only=True)
    actor = serializers.CharField(source="actor.username", read_only=True)
    # a transfer for a request the caller may not see: "transfer to another nation", and no reason or actor
    request = NestedReferenceField("request", text=attrgetter("reference"))

    class Meta:
        model = Movement
        fields = [
            "id",
            "stock",
            "nation",
            "center",
            "nsn",
            "kind",
            "quantity",
            "balance_after",
            "actor",
            "occurred_at",
            "recorded_at",
            "reason",
            "request",
        ]
        read_only_fields = fields

    def to_representation(self, movement):
        data = super().to_representation(movement)
        disclosure = caller_disclosure(self)
        hidden = (
            movement.request_id is not None
            and disclosure is not None
            and not disclosure.sees_related(movement, "request")
        )
        if hidden:  # the reason names the request and its route ("Dispatched for REQ-000123 to MLC-SOUTH")
            data["reason"] = str(neutral_text("coordination.supplyrequest"))
            data["actor"] = str(NEUTRAL_ACTOR)
        return data


class MovementCreateSerializer(serializers.Serializer):
    """A receipt from outside the alliance, an issue for consumption, or an adjustment with a reason."""

    KINDS = [MovementKind.RECEIPT, MovementKind.ISSUE, MovementKind.ADJUSTMENT]

    nation = serializers.SlugRelatedField(slug_field="code", queryset=Nation.objects.all())
    center = serializers.SlugRelatedField(slug_field="code", queryset=LogisticsCenter.objects.all())
    nsn = serializers.SlugRelatedField(slug_field="nsn", queryset=Item.objects.all())
    kind = serializers.ChoiceField(choices=[(k.value, k.label) for k in KINDS])
    quantity = serializers.IntegerField(
        min_value=-MAX_QUANTITY,
        max_value=MAX_QUANTITY,
        help_text="Receipts and issues: a positive number. Adjustments: signed, non-zero.",
    )
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        kind, quantity = attrs["kind"], attrs["quantity"]
        if quantity == 0:
            raise serializers.ValidationError({"quantity": "A movement must change the quantity."})
        if kind in (MovementKind.RECEIPT, MovementKind.ISSUE) and quantity < 0:
            raise serializers.ValidationError({"quantity": "Give receipts and issues as a positive number."})
        if kind == MovementKind.ADJUSTMENT and not attrs["reason"].strip():
            raise serializers.ValidationError({"reason": "An adjustment needs a reason."})
        return attrs


class StockReportLineSerializer(serializers.Serializer):
    nsn = serializers.RegexField(r"^[0-9]{4}-[0-9]{2}-[0-9]{3}-[0-9]{4}\Z", max_length=16)
    quantity = serializers.IntegerField(min_value=0, max_value=MAX_QUANTITY)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    counted_at = serializers.DateTimeField(required=False, help_text="This line's count time (default: the report's).")


class StockReportSerializer(serializers.ModelSerializer):
    """Physical counts of many stocks of one nation at one center, validated all-or-nothing."""

    MAX_LINES = 20_000

    nation = serializers.SlugRelatedField(slug_field="code", queryset=Nation.objects.all())
    center = serializers.SlugRelatedField(slug_field="code", queryset=LogisticsCenter.objects.all())
    submitted_by = serializers.CharField(source="submitted_by.username", read_only=True)
    lines = StockReportLineSerializer(many=True, write_only=True, allow_empty=False, max_length=MAX_LINES)
    counted_at = serializers.DateTimeField(required=False)

    class Meta:
        model = StockReport
        fields = ["id", "nation", "center", "counted_at", "submitted_by", "line_count", "created_at", "lines"]
        read_only_fields = ["id", "submitted_by", "line_count", "created_at"]
