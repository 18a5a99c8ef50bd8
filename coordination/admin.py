from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from core.admin import ReadOnlyAdmin

from . import services
from .models import (
    CenterPass,
    CenterReconciliation,
    DaysOfSupplyTarget,
    Discrepancy,
    Notification,
    PoolSummary,
    ReconciliationRun,
    RequestEvent,
    Requisition,
    RequisitionLine,
    Shipment,
    Shortfall,
    SupplyRequest,
    WebhookDelivery,
    WebhookEndpoint,
)


class RequestEventInline(admin.TabularInline):
    model = RequestEvent
    extra = 0
    can_delete = False
    readonly_fields = ["at", "from_status", "to_status", "actor", "quantity", "comment"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SupplyRequest)
class SupplyRequestAdmin(admin.ModelAdmin):
    """Requests move only through the lifecycle services; the admin shows them read-only."""

    list_display = [
        "reference",
        "requesting_nation",
        "supplying_nation",
        "item",
        "quantity_requested",
        "status",
        "priority",
        "required_by",
    ]
    list_filter = ["status", "priority", "requesting_nation", "supplying_nation"]
    search_fields = ["reference", "item__nsn", "item__name"]
    list_select_related = ["requesting_nation", "supplying_nation", "item"]
    inlines = [RequestEventInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


class RequisitionLineInline(admin.TabularInline):
    model = RequisitionLine
    extra = 0
    can_delete = False
    fields = ["number", "item", "quantity", "required_by", "allow_substitutes", "cancelled"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Requisition)
class RequisitionAdmin(ReadOnlyAdmin):
    """Requisitions move only through their services (coordination/requisitions.py): read-only here."""

    list_display = [
        "reference",
        "requesting_nation",
        "destination_center",
        "priority_designator",
        "status",
        "required_by",
    ]
    list_filter = ["status", "urgency", "requesting_nation"]
    search_fields = ["reference"]
    list_select_related = ["requesting_nation", "destination_center"]
    inlines = [RequisitionLineInline]


@admin.register(RequisitionLine)
class RequisitionLineAdmin(ReadOnlyAdmin):
    list_display = ["requisition", "number", "item", "quantity", "cancelled"]
    search_fields = ["requisition__reference", "item__nsn"]
    list_select_related = ["requisition", "item"]


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdmin):
    list_display = ["reference", "shipping_nation", "source_center", "destination_center", "mode", "departed_at",
                    "expected_arrival", "arrived_at"]  # fmt: skip
    list_filter = ["mode", "shipping_nation"]
    search_fields = ["reference", "carrier"]
    list_select_related = ["shipping_nation", "source_center", "destination_center"]


@admin.action(description="Acknowledge the selected flags")
def acknowledge(modeladmin, request, queryset):
    """Through the service, flag by flag: the same rule as the pages and the API, and ``updated_at`` moves, so
    incremental sync (``updated_after``) sees the acknowledgement."""
    done = refused = 0
    for flag in queryset.filter(acknowledged_at__isnull=True).order_by("pk"):
        try:
            services.acknowledge_flag(flag=flag, user=request.user)
        except PermissionDenied:
            refused += 1
        else:
            done += 1
    modeladmin.message_user(request, f"{done} flag(s) acknowledged.")
    if refused:
        modeladmin.message_user(request, f"{refused} flag(s) you may not acknowledge were left.", messages.WARNING)


class FlagAdmin(admin.ModelAdmin):
    list_display = ["kind", "severity", "first_seen", "last_seen", "resolved_at", "acknowledged_at"]
    list_filter = ["kind", "severity", ("resolved_at", admin.EmptyFieldListFilter)]
    actions = [acknowledge]
    raw_id_fields = ["stock"]


@admin.register(Shortfall)
class ShortfallAdmin(FlagAdmin):
    list_display = [*FlagAdmin.list_display, "center", "item", "nation"]


@admin.register(Discrepancy)
class DiscrepancyAdmin(FlagAdmin):
    list_display = [*FlagAdmin.list_display, "stock", "request", "expected", "actual"]
    raw_id_fields = ["stock", "request", "count"]


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "center", "trigger", "centers_done", "centers_total", "created_at", "finished_at"]
    list_filter = ["status", "trigger"]


@admin.register(DaysOfSupplyTarget)
class DaysOfSupplyTargetAdmin(admin.ModelAdmin):
    list_display = ["nation", "supply_class", "days"]
    list_filter = ["nation", "supply_class"]


@admin.register(CenterReconciliation)
class CenterReconciliationAdmin(ReadOnlyAdmin):
    list_display = ["run", "center", "started_at", "finished_at", "error"]
    list_select_related = ["run", "center"]


@admin.register(CenterPass)
class CenterPassAdmin(ReadOnlyAdmin):
    list_display = ["center", "passed_at"]
    list_select_related = ["center"]


@admin.register(PoolSummary)
class PoolSummaryAdmin(ReadOnlyAdmin):
    list_display = ["center", "item", "on_hand", "reserved", "available", "shared_available", "nations", "refreshed_at"]
    list_filter = ["center"]
    list_select_related = ["center", "item"]
    raw_id_fields = ["item"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "event", "title", "read_at"]
    list_filter = ["event"]
    search_fields = ["user__username", "title"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["id", "nation", "url", "active", "owner", "created_at"]
    list_filter = ["nation", "active"]
    exclude = ["secret"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "endpoint", "event", "status", "attempts", "last_status_code", "created_at", "delivered_at"]
    list_filter = ["status", "event"]
    list_select_related = ["endpoint"]
