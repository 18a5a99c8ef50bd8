"""Serializers of ``/api/v1/requisitions/``: natural keys in (nation and center codes, NSNs), resolved once for the
whole call -- one query for every NSN of a 500-line requisition, one for the nations, one for the centers -- and the
requisition out as its caller may see it (a supplier: the lines addressed to it, its own requests of them)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from coordination import priority as priorities
from coordination import requisitions
from coordination.models import Requisition, RequisitionLine, RequisitionStatus, SupplyRequest, Urgency
from inventory.api.serializers import MAX_QUANTITY
from inventory.models import Item, LogisticsCenter
from nations.models import Nation

ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V"}
MAX_BULK = 200  # requests decided in one call: each is a transaction of its own
REQUEST_IDENTIFIER = r"^([0-9]{1,12}|REQ-[0-9]{1,12})\Z"

# --- natural keys, resolved for the whole call -------------------------------------------------------------------

# payload key -> the kind of natural key it holds
KEY_KINDS = {
    "nsn": "item",
    "requesting_nation": "nation",
    "supplying_nation": "nation",
    "destination_center": "center",
    "source_center": "center",
}
KEY_MODELS = {"item": (Item, "nsn"), "nation": (Nation, "code"), "center": (LogisticsCenter, "code")}


def _collect_keys(node, found: dict[str, set[str]], depth: int = 0) -> None:
    """Every natural key of a raw payload, by kind (the parser caps the nesting; so does `depth`)."""
    if depth > 8:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            kind = KEY_KINDS.get(key)
            if kind is not None and isinstance(value, str):
                found[kind].add(value)
            else:
                _collect_keys(value, found, depth + 1)
    elif isinstance(node, list):
        for value in node:
            _collect_keys(value, found, depth + 1)


def resolve_keys(data) -> dict[str, dict[str, object]]:
    """kind -> {natural key: row} for every natural key in `data`: one query per kind met, whatever the count."""
    found: dict[str, set[str]] = {kind: set() for kind in KEY_MODELS}
    _collect_keys(data, found)
    resolved: dict[str, dict[str, object]] = {}
    for kind, keys in found.items():
        model, field = KEY_MODELS[kind]
        resolved[kind] = (
            {getattr(row, field): row for row in model.objects.filter(**{f"{field}__in": keys})} if keys else {}
        )
    return resolved


class KeyField(serializers.CharField):
    """A natural key (an NSN, a nation's or a center's code) found among those the root serializer resolved for the
    call (``ResolvingSerializer``); an unknown one is an error at its own path (``lines[3].nsn``)."""

    UNKNOWN = {
        "item": _("There is no item with the NSN %(value)s."),
        "nation": _("There is no nation %(value)s."),
        "center": _("There is no logistics center %(value)s."),
    }

    def __init__(self, kind: str, **kwargs):
        self.kind = kind
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        text = super().run_validation(data)  # the text's own checks (blank, length) first
        keys = self.context.get("keys")
        if keys is None:  # used outside a resolving serializer: look the one key up
            keys = resolve_keys({next(k for k, v in KEY_KINDS.items() if v == self.kind): text})
        row = keys[self.kind].get(text)
        if row is None:
            raise serializers.ValidationError(self.UNKNOWN[self.kind] % {"value": text}, code="unknown")
        return row


class ResolvingSerializer(serializers.Serializer):
    """A payload whose natural keys are looked up all at once before its fields are read."""

    def to_internal_value(self, data):
        self._context = {**self._context, "keys": resolve_keys(data)}
        return super().to_internal_value(data)


# --- input ---------------------------------------------------------------------------------------------------------


class SourceChoiceSerializer(serializers.Serializer):
    supplying_nation = KeyField("nation")
    source_center = KeyField("center")
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    nsn = KeyField(
        "item",
        required=False,
        help_text="A substitute's NSN, when the line allows substitutes; default: the line's own item.",
    )

    def validate(self, attrs) -> requisitions.SourceChoice:
        return requisitions.SourceChoice(
            supplying_nation=attrs["supplying_nation"],
            source_center=attrs["source_center"],
            quantity=attrs["quantity"],
            item=attrs.get("nsn"),
        )


SOURCES_HELP = (
    "Line number -> the sources chosen for it (supplying nation, source center, quantity, optionally a substitute's "
    "NSN); the other lines are sourced automatically. Errors name a line by its number: lines[3] is line 3."
)


def line_sources_field(help_text: str = SOURCES_HELP) -> serializers.DictField:
    return serializers.DictField(
        child=SourceChoiceSerializer(many=True, allow_empty=False, max_length=50),
        required=False,
        help_text=help_text,
    )


class RequisitionLineInputSerializer(serializers.Serializer):
    nsn = KeyField("item")
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    required_by = serializers.DateField(required=False, allow_null=True, help_text="This line's own RDD, if any.")
    allow_substitutes = serializers.BooleanField(default=False)
    sources = SourceChoiceSerializer(
        many=True,
        required=False,
        allow_empty=False,
        max_length=50,
        help_text="Chosen sources (with submit: true); omitted: sourced automatically, nearest first.",
    )

    def validate(self, attrs) -> requisitions.LineInput:
        sources = attrs.get("sources")
        return requisitions.LineInput(
            item=attrs["nsn"],
            quantity=attrs["quantity"],
            required_by=attrs.get("required_by"),
            allow_substitutes=attrs["allow_substitutes"],
            sources=tuple(sources) if sources is not None else None,
        )


class RequisitionCreateSerializer(ResolvingSerializer):
    requesting_nation = KeyField(
        "nation", required=False, help_text="Defaults to the caller's nation when it acts for exactly one."
    )
    destination_center = KeyField("center")
    required_by = serializers.DateField(help_text="Required delivery date (RDD) of every line that names none.")
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.C, help_text="Urgency of need.")
    justification = serializers.CharField(max_length=2000)
    lines = RequisitionLineInputSerializer(many=True, allow_empty=False, max_length=requisitions.MAX_LINES)
    submit = serializers.BooleanField(default=False, help_text="Source and submit at once instead of a draft.")

    def validate(self, attrs):
        if not attrs["submit"]:
            errors = {
                f"lines[{index}].sources": _("Sources are chosen when submitting: send submit: true.")
                for index, line in enumerate(attrs["lines"])
                if line.sources is not None
            }
            if errors:
                raise serializers.ValidationError(errors)
        return attrs


class RequisitionSubmitSerializer(ResolvingSerializer):
    lines = line_sources_field()


class RequisitionResourceSerializer(ResolvingSerializer):
    lines = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=False,
        max_length=requisitions.MAX_LINES,
        help_text="The line numbers to source again; omitted: every line with something outstanding.",
    )
    sources = line_sources_field()


class RequisitionCancelLinesSerializer(serializers.Serializer):
    lines = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=False,
        max_length=requisitions.MAX_LINES,
        help_text="The line numbers whose outstanding quantity is given up; omitted: every line.",
    )


class DecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[("approve", "approve"), ("reject", "reject")])
    reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="Required to reject."
    )
    comment = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="Written on each approval."
    )

    def validate(self, attrs):
        if attrs["decision"] == "reject" and not attrs["reason"].strip():
            raise serializers.ValidationError({"reason": _("Give the reason for the refusal.")})
        if attrs["decision"] == "reject" and attrs.get("quantities"):
            raise serializers.ValidationError({"quantities": _("Quantities are for approvals.")})
        return attrs


class RequisitionDecideSerializer(DecisionSerializer):
    lines = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=False,
        max_length=requisitions.MAX_LINES,
        help_text="Line numbers; omitted: every line addressed to the caller's nation still waiting for a decision.",
    )
    quantities = serializers.DictField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY),
        required=False,
        help_text="Line number (or request reference, for a line with several requests to you) -> the quantity to "
        "approve; default: the quantity requested.",
    )


class BulkDecideSerializer(DecisionSerializer):
    requests = serializers.ListField(
        child=serializers.RegexField(REQUEST_IDENTIFIER, max_length=20),
        min_length=1,
        max_length=MAX_BULK,
        help_text=f"Requests by id or reference (REQ-000123), at most {MAX_BULK}.",
    )
    quantities = serializers.DictField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY),
        required=False,
        help_text="Request id or reference -> the quantity to approve; default: the quantity requested.",
    )


# --- output --------------------------------------------------------------------------------------------------------


class RequisitionRequestSerializer(serializers.ModelSerializer):
    """A supply request sourcing a line, as the caller may see it."""

    supplying_nation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    source_center = serializers.SlugRelatedField(slug_field="code", read_only=True)
    nsn = serializers.CharField(source="item.nsn", read_only=True)
    substitute_for = serializers.SlugRelatedField(
        slug_field="nsn", read_only=True, allow_null=True, help_text="The NSN it stands in for (a substitute)."
    )

    class Meta:
        model = SupplyRequest
        fields = [
            "id",
            "reference",
            "status",
            "supplying_nation",
            "source_center",
            "nsn",
            "substitute_for",
            "quantity_requested",
            "quantity_approved",
            "quantity_dispatched",
            "quantity_received",
            "updated_at",
        ]
        read_only_fields = fields


class RequisitionLineSerializer(serializers.ModelSerializer):
    nsn = serializers.CharField(source="item.nsn", read_only=True)
    item_name = serializers.CharField(source="item.name", read_only=True)
    unit_of_issue = serializers.CharField(source="item.unit_of_issue", read_only=True)
    requested = serializers.IntegerField(source="quantity", read_only=True, help_text="The line's quantity.")
    sourced = serializers.IntegerField(read_only=True, help_text="Asked of suppliers (not refused or cancelled).")
    approved = serializers.IntegerField(read_only=True)
    dispatched = serializers.IntegerField(read_only=True)
    received = serializers.IntegerField(read_only=True)
    cancelled = serializers.IntegerField(
        source="shown_cancelled", read_only=True, allow_null=True, help_text="Given up by the requester."
    )
    outstanding = serializers.IntegerField(
        source="shown_outstanding",
        read_only=True,
        allow_null=True,
        help_text="The backorder: refused, approved short, received short or never sourced; re-source or cancel "
        "it. Null for a supplier (it sees its own part of the line only).",
    )
    requests = RequisitionRequestSerializer(source="shown_requests", many=True, read_only=True)

    class Meta:
        model = RequisitionLine
        fields = [
            "number",
            "nsn",
            "item_name",
            "unit_of_issue",
            "required_by",
            "allow_substitutes",
            "requested",
            "sourced",
            "approved",
            "dispatched",
            "received",
            "cancelled",
            "outstanding",
            "requests",
        ]
        read_only_fields = fields


# named apart from the requests' status, whose component is RequestStatusEnum (settings' ENUM_NAME_OVERRIDES)
@extend_schema_field({"type": "string", "enum": RequisitionStatus.values}, component_name="RequisitionStatusEnum")
class RequisitionStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=RequisitionStatus.choices, read_only=True, **kwargs)


class RequisitionSerializer(serializers.ModelSerializer):
    """A requisition's header and summary (the list's rows)."""

    status = RequisitionStatusField(
        help_text="draft; open (submitted: its lines are being sourced, approved, shipped, received); closed "
        "(every line received or cancelled); cancelled (a draft withdrawn)."
    )

    requesting_nation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    destination_center = serializers.SlugRelatedField(slug_field="code", read_only=True)
    activity_designator = serializers.SerializerMethodField(
        help_text="The requesting force's activity designator (FAD I-V) when it was raised."
    )
    priority_designator = serializers.SerializerMethodField(help_text="UMMIPS priority designator, 01 to 15.")
    priority_group = serializers.SerializerMethodField(help_text="1 (01-03), 2 (04-08) or 3 (09-15).")
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    partial = serializers.BooleanField(
        read_only=True,
        help_text="true: the caller sees only the lines addressed to its nation (a supplier), with figures of its "
        "own requests.",
    )
    line_count = serializers.IntegerField(read_only=True, help_text="Lines the caller sees.")
    lines_outstanding = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Lines with a backorder (null for a supplier)."
    )

    class Meta:
        model = Requisition
        fields = [
            "id",
            "reference",
            "status",
            "requesting_nation",
            "destination_center",
            "required_by",
            "urgency",
            "activity_designator",
            "priority_designator",
            "priority_group",
            "justification",
            "created_by",
            "created_at",
            "submitted_at",
            "closed_at",
            "updated_at",
            "version",
            "partial",
            "line_count",
            "lines_outstanding",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=list(ROMAN.values())))
    def get_activity_designator(self, requisition) -> str:
        return ROMAN[requisition.activity_designator]

    @extend_schema_field(serializers.RegexField(r"^[0-9]{2}$"))
    def get_priority_designator(self, requisition) -> str:
        return priorities.label(requisition.priority_designator)

    def get_priority_group(self, requisition) -> int:
        return priorities.group(requisition.priority_designator)


class RequisitionDetailSerializer(RequisitionSerializer):
    lines = RequisitionLineSerializer(source="shown_lines", many=True, read_only=True)

    class Meta(RequisitionSerializer.Meta):
        fields = [*RequisitionSerializer.Meta.fields, "lines"]
        read_only_fields = fields


class SourcedSerializer(serializers.Serializer):
    line = serializers.IntegerField(source="requisition_line.number")
    id = serializers.IntegerField()
    request = serializers.CharField(source="reference")
    supplying_nation = serializers.CharField(source="supplying_nation.code")
    source_center = serializers.CharField(source="source_center.code")
    nsn = serializers.CharField(source="item.nsn")
    substitute_for = serializers.CharField(source="substitute_for.nsn", allow_null=True, default=None)
    quantity = serializers.IntegerField(source="quantity_requested")


class UncoveredSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    quantity = serializers.IntegerField(help_text="What no source could give: it stays outstanding.")


class ResourceAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    version = serializers.IntegerField()
    sourced = SourcedSerializer(many=True, help_text="The supply requests raised, one per source.")
    uncovered = UncoveredSerializer(many=True, help_text="Per line, what stays outstanding.")


class DecisionResultSerializer(serializers.Serializer):
    request = serializers.CharField(
        allow_null=True,
        help_text="The request's reference; for one the caller may not see (or none), the identifier as sent; null "
        "for a line named with no request of the caller's.",
    )
    line = serializers.IntegerField(allow_null=True, help_text="Its requisition line's number, if any.")
    ok = serializers.BooleanField()
    status = serializers.CharField(allow_null=True, help_text="The request's status after the attempt.")
    quantity_approved = serializers.IntegerField(allow_null=True)
    code = serializers.CharField(required=False, help_text="Why it failed: insufficient_stock, permission_denied, ...")
    error = serializers.CharField(required=False, help_text="Why it failed, for people.")


class DecisionAnswerSerializer(serializers.Serializer):
    decision = serializers.CharField()
    decided = serializers.IntegerField(help_text="Requests approved or rejected by this call.")
    failed = serializers.IntegerField()
    results = DecisionResultSerializer(many=True, help_text="One per request, in the order decided.")
