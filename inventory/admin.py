from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from core.admin import AppendOnlyAdmin

from .models import (
    Item,
    ItemSubstitute,
    LedgerCheckpoint,
    LogisticsCenter,
    Movement,
    ReleaseList,
    Stock,
    StockCount,
    StockReport,
)


@admin.register(LogisticsCenter)
class LogisticsCenterAdmin(GuardedModelAdmin):
    list_display = ["code", "name", "host_nation", "kind", "latitude", "longitude"]
    list_filter = ["kind", "host_nation"]
    search_fields = ["code", "name"]
    filter_horizontal = ["participants"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["nsn", "name", "supply_class", "unit_of_issue"]
    list_filter = ["supply_class", "unit_of_issue"]
    search_fields = ["nsn", "name"]


@admin.register(ItemSubstitute)
class ItemSubstituteAdmin(admin.ModelAdmin):
    """The catalog's interchangeable NSNs: sourcing offers a substitute only for what the item cannot cover."""

    list_display = ["item", "substitute", "two_way"]
    list_filter = ["two_way"]
    search_fields = ["item__nsn", "item__name", "substitute__nsn", "substitute__name"]
    autocomplete_fields = ["item", "substitute"]
    list_select_related = ["item", "substitute"]


@admin.register(Stock)
class StockAdmin(admin.ModelAdmin):
    list_display = ["nation", "center", "item", "on_hand", "reserved", "safety_level", "daily_consumption", "shared"]
    list_filter = ["center", "nation", "shared", "item__supply_class"]
    search_fields = ["item__nsn", "item__name"]
    list_select_related = ["nation", "center", "item"]
    raw_id_fields = ["item"]
    # Quantities change only through the ledger services, never by editing the row; the release list through
    # update_stock_settings (which validates and audits it).
    readonly_fields = ["on_hand", "reserved", "release_list", "ledger_head_hex", "created_at", "updated_at"]

    @admin.display(description="ledger head")
    def ledger_head_hex(self, obj) -> str:
        return bytes(obj.ledger_head).hex()

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.movements.exists():
            fields.append("center")  # its movements happened there (the database refuses the move too)
        return fields


@admin.register(Movement)
class MovementAdmin(admin.ModelAdmin):
    """The ledger is append-only: the admin shows it and never changes it."""

    list_display = ["occurred_at", "stock", "kind", "quantity", "balance_after", "actor", "request"]
    list_filter = ["kind"]
    list_select_related = ["stock__nation", "stock__center", "stock__item", "actor", "request"]
    raw_id_fields = ["stock", "request"]
    readonly_fields = ["prev_hash_hex", "hash_hex"]

    @admin.display(description="previous hash")
    def prev_hash_hex(self, obj) -> str:
        return bytes(obj.prev_hash).hex()

    @admin.display(description="hash")
    def hash_hex(self, obj) -> str:
        return bytes(obj.hash).hex()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StockCount)
class StockCountAdmin(admin.ModelAdmin):
    list_display = ["counted_at", "stock", "counted_quantity", "source", "counted_by"]
    list_filter = ["source"]
    raw_id_fields = ["stock"]
    list_select_related = ["stock__nation", "stock__center", "stock__item", "counted_by"]


@admin.register(StockReport)
class StockReportAdmin(admin.ModelAdmin):
    """Bulk count reports are written by the API; the admin shows them."""

    list_display = ["id", "nation", "center", "counted_at", "line_count", "submitted_by", "created_at"]
    list_filter = ["nation", "center"]
    list_select_related = ["nation", "center", "submitted_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LedgerCheckpoint)
class LedgerCheckpointAdmin(admin.ModelAdmin):
    """Written by the reconciliation runs' ledger check; shown, never edited."""

    list_display = ["center", "verified_through", "passes", "checked_at"]
    list_select_related = ["center"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReleaseList)
class ReleaseListAdmin(AppendOnlyAdmin):
    """Release lists (REL TO): one per distinct set of nations, written when a stock is first released to that set,
    never changed (a stock released to another set gets another list)."""

    list_display = ["key", "created_at"]
    search_fields = ["key"]
