"""Nations, national-system service accounts and the per-nation object-permission tables.

Access is granted as django-guardian object permissions on ``Nation`` rows (and ``LogisticsCenter`` rows,
see ``inventory.models``) held by role groups.  The permission tables below use direct foreign keys rather
than guardian's generic ``object_pk`` text column, so visibility is one indexed integer subquery.
"""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

alpha3_validator = RegexValidator(r"^[A-Z]{3}\Z", "Enter an ISO 3166-1 alpha-3 code in capitals, e.g. FRA.")
ncb_validator = RegexValidator(r"^[0-9]{2}\Z", "Enter the two-digit NATO Codification Bureau code, e.g. 14.")


class Nation(models.Model):
    code = models.CharField(max_length=3, unique=True, validators=[alpha3_validator],
                            help_text="ISO 3166-1 alpha-3 code, e.g. FRA.")
    name = models.CharField(max_length=100)
    ncb_code = models.CharField("NCB code", max_length=2, unique=True, validators=[ncb_validator],
                                help_text="Two-digit NATO Codification Bureau code.")
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["code"]
        permissions = [
            ("act_as_logistics_officer", "Act as a logistics officer of the nation"),
            ("act_as_liaison_officer", "Act as a liaison officer of the nation"),
            ("coordinate_alliance", "Coordinate the alliance (global)"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z]{3}$"), name="nation_code_alpha3"),
            models.CheckConstraint(condition=Q(ncb_code__regex=r"^[0-9]{2}$"), name="nation_ncb_two_digits"),
        ]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"

    def natural_key(self) -> tuple[str]:
        return (self.code,)


class NationGroupObjectPermission(GroupObjectPermissionBase):
    """A role group's permission on one nation (guardian, direct foreign key)."""

    content_object = models.ForeignKey(Nation, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        abstract = False
        indexes = [models.Index(fields=["permission", "content_object"])]


class NationUserObjectPermission(UserObjectPermissionBase):
    """A single user's permission on one nation (guardian, direct foreign key)."""

    content_object = models.ForeignKey(Nation, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        abstract = False


class ServiceAccount(models.Model):
    """A national logistics system: a user without a password that authenticates with API tokens.

    It has exactly the rights of the nation roles its user holds (granted like any officer's)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account")
    nation = models.ForeignKey(Nation, on_delete=models.PROTECT, related_name="service_accounts")
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["nation__code", "user__username"]

    def __str__(self) -> str:
        return f"{self.user.username} ({self.nation.code} national system)"
