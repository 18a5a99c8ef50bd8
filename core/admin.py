from django.contrib import admin

from .models import IdempotencyKey


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    """Stored first responses of idempotent POSTs (kept 24 hours); shown for support, never edited."""

    list_display = ["created_at", "user", "key", "status_code"]
    search_fields = ["user__username", "key"]
    readonly_fields = ["user", "key", "fingerprint", "status_code", "response_body", "response_headers", "created_at"]

    def has_add_permission(self, request):
        return False
