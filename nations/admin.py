from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.shortcuts import render
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from guardian.admin import GuardedModelAdmin

from core.admin import AppendOnlyAdmin

from . import access, two_factor
from .access.profile import center_model
from .forms import AdminLoginForm
from .models import ApiToken, AuditEntry, AuditSeal, Nation, ServiceAccount, UserPreference
from .roles import Role
from .tokens import revoke_token

User = get_user_model()


@admin.register(Nation)
class NationAdmin(GuardedModelAdmin):
    list_display = ["code", "name", "ncb_code", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name", "ncb_code"]


@admin.register(ServiceAccount)
class ServiceAccountAdmin(admin.ModelAdmin):
    list_display = ["user", "nation", "description", "created_at"]
    list_filter = ["nation"]
    search_fields = ["user__username", "description"]
    autocomplete_fields = ["nation"]


@admin.action(description="Revoke the selected tokens")
def revoke_tokens(modeladmin, request, queryset):
    for token in queryset.filter(revoked_at__isnull=True):
        revoke_token(token=token)
    modeladmin.message_user(request, "Revoked.", messages.SUCCESS)


@admin.register(UserPreference)
class UserPreferenceAdmin(admin.ModelAdmin):
    """The language each user's notices are written in (users set it with the header's language switch)."""

    list_display = ["user", "language"]
    list_filter = ["language"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued with `manage.py issue_token` (the raw token is shown once); here they are revoked."""

    list_display = ["prefix", "user", "name", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "name", "prefix"]
    readonly_fields = ["user", "prefix", "key_hash", "created_at", "expires_at", "last_used_at", "revoked_at"]
    actions = [revoke_tokens]

    def has_add_permission(self, request):
        return False


class GrantRoleForm(forms.Form):
    _selected_action = forms.CharField(widget=forms.MultipleHiddenInput)
    role = forms.ChoiceField(choices=Role.choices)
    target = forms.CharField(
        required=False, help_text="Nation code (FRA) or center code (MLC-NORTH); empty for coordinators."
    )


def resolve_role_target(role: str, code: str | None):
    """The Nation or LogisticsCenter a role is granted for, from its code (None for coordinators)."""
    if role == Role.COORDINATOR:
        return None
    if not code:
        raise ValueError("Give the nation or center the role is for.")
    model = center_model() if role == Role.OPERATOR else Nation
    try:
        return model.objects.get(code=code.strip().upper())
    except model.DoesNotExist:
        raise ValueError(f"No {model._meta.verbose_name} with code {code!r}.") from None


@admin.action(description="Grant a nation or center role to the selected users")
def grant_role_action(modeladmin, request, queryset):
    if "apply" in request.POST:
        form = GrantRoleForm(request.POST)
        if form.is_valid():
            try:
                target = resolve_role_target(form.cleaned_data["role"], form.cleaned_data["target"])
            except ValueError as exc:
                modeladmin.message_user(request, str(exc), messages.ERROR)
                return None
            for user in queryset:
                access.grant_role(user, form.cleaned_data["role"], target)
            modeladmin.message_user(request, f"Granted to {queryset.count()} user(s).", messages.SUCCESS)
            return None
    form = GrantRoleForm(initial={"_selected_action": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)})
    return render(
        request,
        "admin/grant_role.html",
        {"form": form, "users": queryset, "title": "Grant a role", "opts": modeladmin.model._meta},
    )


# The admin's sign-in refuses over-long usernames before authentication, as the portal's does (nations/forms.py).
admin.site.login_form = AdminLoginForm

# Extend Django's user admin with the one-step role grant.
if admin.site.is_registered(User):
    user_admin = admin.site._registry[User]
    user_admin.actions = [*(user_admin.actions or []), grant_role_action]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log, read-only: entries are written by the portal and the database refuses to change them."""

    list_display = ["at", "kind", "username", "nation", "object_repr", "summary", "ip_address"]
    list_filter = ["kind", ("nation", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["username", "object_repr", "summary", "object_id"]
    date_hierarchy = "at"
    list_select_related = ["nation"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditSeal)
class AuditSealAdmin(AppendOnlyAdmin):
    """The audit log's hash chain (nations/audit_chain.py): one link per sealed entry, in chain order."""

    list_display = ["seq", "entry", "sealed_at", "hash_hex"]
    list_select_related = ["entry"]

    @admin.display(description="hash")
    def hash_hex(self, seal) -> str:
        return bytes(seal.hash).hex()


# --- two-factor devices: administrators reset them, never read or set them ---------------------------------------
# django-otp's own admins let an administrator type a user's secret (and so hold their second factor) and, unless
# OTP_ADMIN_HIDE_SENSITIVE_DATA, read it back: here devices are listed and deleted only (deletions are audited,
# nations/two_factor.py), and users enrol themselves.


class ResetOnlyDeviceAdmin:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        # without django-otp's pages that show a device's secret as a QR code (refused anyway when sensitive data
        # is hidden): the model's list, view, delete and history pages only
        return admin.ModelAdmin.get_urls(self)


for _model in (TOTPDevice, StaticDevice):
    _base = type(admin.site._registry[_model]) if admin.site.is_registered(_model) else admin.ModelAdmin
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, type(f"ResetOnly{_model.__name__}Admin", (ResetOnlyDeviceAdmin, _base), {}))


@admin.action(description="Reset two-factor sign-in (remove app and backup codes) of the selected users")
def reset_two_factor_action(modeladmin, request, queryset):
    removed = 0
    for user in queryset:
        removed += two_factor.reset_two_factor(user=user, actor=request.user, reason="reset by an administrator")
    modeladmin.message_user(
        request,
        f"Two-factor sign-in reset for {queryset.count()} user(s); {removed} device(s) removed.",
        messages.SUCCESS,
    )


if admin.site.is_registered(User):
    user_admin.actions = [*(user_admin.actions or []), reset_two_factor_action]
