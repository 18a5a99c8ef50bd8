"""Every event table, read-only in the admin: what changed, when, and the context (user, path, API token)."""

from django.apps import apps
from django.contrib import admin


class EventAdmin(admin.ModelAdmin):
    list_display = ["pgh_created_at", "pgh_label", "pgh_obj_id", "changed_by", "changed_through"]
    list_filter = ["pgh_label"]
    date_hierarchy = "pgh_created_at"
    ordering = ["-pgh_id"]

    @admin.display(description="user id")
    def changed_by(self, event):
        return (event.pgh_context or {}).get("user")

    @admin.display(description="path / token")
    def changed_through(self, event):
        context = event.pgh_context or {}
        return " ".join(str(v) for v in (context.get("url"), context.get("api_token")) if v)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


for model in apps.get_app_config("history").get_models():
    if not model._meta.proxy:
        admin.site.register(model, EventAdmin)
