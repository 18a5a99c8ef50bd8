from django.contrib import admin

from .models import IdempotencyKey


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the jobs and services: shown, never added or edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AppendOnlyAdmin(ReadOnlyAdmin):
    """Rows the database refuses to change or remove (triggers): not even deleted from the admin."""

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    """Stored first responses of idempotent POSTs (kept 24 hours); shown for support, never edited."""

    list_display = ["created_at", "user", "key", "status_code"]
    search_fields = ["user__username", "key"]
    readonly_fields = ["user", "key", "fingerprint", "status_code", "response_body", "response_headers", "created_at"]

    def has_add_permission(self, request):
        return False
