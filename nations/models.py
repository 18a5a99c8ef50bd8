"""Nations, national-system service accounts and the per-nation object-permission tables.

Access is granted as django-guardian object permissions on ``Nation`` rows (and ``LogisticsCenter`` rows,
see ``inventory.models``) held by role groups.  The permission tables below use direct foreign keys rather
than guardian's generic ``object_pk`` text column, so visibility is one indexed integer subquery.
"""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from .querysets import VisibleQuerySet

alpha3_validator = RegexValidator(r"^[A-Z]{3}\Z", "Enter an ISO 3166-1 alpha-3 code in capitals, e.g. FRA.")
ncb_validator = RegexValidator(r"^[0-9]{2}\Z", "Enter the two-digit NATO Codification Bureau code, e.g. 14.")


class ActivityDesignator(models.IntegerChoices):
    """Force activity designator (UMMIPS): how much the force a nation supplies matters to the operation now; with a
    requisition's urgency of need it makes the priority designator (coordination/priority.py)."""

    I = 1, "I"  # noqa: E741  (the designators are Roman numerals)
    II = 2, "II"
    III = 3, "III"
    IV = 4, "IV"
    V = 5, "V"


class Nation(models.Model):
    code = models.CharField(
        max_length=3, unique=True, validators=[alpha3_validator], help_text="ISO 3166-1 alpha-3 code, e.g. FRA."
    )
    name = models.CharField(max_length=100)
    ncb_code = models.CharField(
        "NCB code",
        max_length=2,
        unique=True,
        validators=[ncb_validator],
        help_text="Two-digit NATO Codification Bureau code.",
    )
    active = models.BooleanField(default=True)
    activity_designator = models.PositiveSmallIntegerField(
        choices=ActivityDesignator.choices,
        default=ActivityDesignator.IV,
        help_text="Force activity designator I-V, set by the alliance coordinators (I: forces in combat).",
    )
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["code"]
        permissions = [
            ("act_as_logistics_officer", "Act as a logistics officer of the nation"),
            ("act_as_liaison_officer", "Act as a liaison officer of the nation"),
            ("coordinate_alliance", "Coordinate the alliance (global)"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z]{3}\Z"), name="nation_code_alpha3"),
            models.CheckConstraint(condition=Q(ncb_code__regex=r"^[0-9]{2}\Z"), name="nation_ncb_two_digits"),
            models.CheckConstraint(
                condition=Q(activity_designator__gte=1, activity_designator__lte=5), name="nation_activity_designator"
            ),
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


class ApiToken(models.Model):
    """A bearer token for a national system (or any user).  Only its SHA-256 is stored; the token itself is
    shown once when issued.  It stops working when it expires or is revoked."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for.")
    prefix = models.CharField(max_length=12, db_index=True, help_text="First characters, to recognise a token.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(
        help_text="Every token expires (API_TOKEN_DEFAULT_DAYS, at most API_TOKEN_MAX_DAYS)."
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="token_expires_after_creation")
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user.username})"

    def is_usable(self, now) -> bool:
        return self.revoked_at is None and self.expires_at > now


class UserPreference(models.Model):
    """What a user chose for themselves: the language their notifications and e-mails are written in (the one they
    last picked in the header, or the one their first sign-in was shown in).  No row: the portal's language."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="preference"
    )
    language = models.CharField(max_length=8, choices=settings.LANGUAGES)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.language}"

    @classmethod
    def remember_language(cls, user, language: str, *, replace: bool) -> None:
        """Store `language` for `user` when it is one of the portal's (settings.LANGUAGES); with `replace` false,
        only if the user has none yet."""
        if language not in dict(settings.LANGUAGES):
            return
        if replace:
            cls.objects.update_or_create(user=user, defaults={"language": language})
        else:
            cls.objects.get_or_create(user=user, defaults={"language": language})


class AuditKind(models.TextChoices):
    LOGIN = "login", _("Signed in")
    LOGIN_FAILED = "login.failed", _("Sign-in failed")
    LOCKED_OUT = "login.locked_out", _("Locked out after failed sign-ins")
    ROLE_GRANTED = "role.granted", _("Role granted")
    ROLE_REVOKED = "role.revoked", _("Role revoked")
    TOKEN_ISSUED = "token.issued", _("API token issued")
    TOKEN_REVOKED = "token.revoked", _("API token revoked")
    REQUEST_TRANSITION = "request.transition", _("Request status changed")
    STOCK_ADJUSTED = "stock.adjusted", _("Stock adjusted")
    COUNT_ACCEPTED = "count.accepted", _("Count accepted (books corrected)")
    COUNT_REJECTED = "count.rejected", _("Count rejected")
    STOCK_RELEASED = "stock.released", _("Stock release list changed")
    TWO_FACTOR_ENROLLED = "2fa.enrolled", _("Two-factor device enrolled")
    TWO_FACTOR_FAILED = "2fa.failed", _("Two-factor code refused")
    TWO_FACTOR_RESET = "2fa.reset", _("Two-factor devices reset or backup codes renewed")
    AUDIT_READ = "audit.read", _("Audit log read")
    AUDIT_EXPORTED = "audit.exported", _("Audit log exported")
    ACTIVITY_DESIGNATOR = "nation.fad", _("Force activity designator changed")


class AuditEntryQuerySet(VisibleQuerySet):
    """Entries follow their subject (``nations.access.visibility.audit_entry``): administrators read the whole log,
    coordinators every entry but those about a stock they may not see, a nation's officers its entries about what
    they may see; nobody else any."""


class AuditEntry(models.Model):
    """One security-relevant event: who did what to which object, for which nation, when and from where.

    Append-only: written by ``nations.audit`` in the same transaction as the event, and a trigger (migration
    0003) refuses UPDATE and DELETE on PostgreSQL and SQLite, even from raw SQL."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=24, choices=AuditKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for a failed sign-in and for system actions.",
    )
    username = models.CharField(
        max_length=150, blank=True, help_text="The actor's username then, or the username tried in a failed sign-in."
    )
    nation = models.ForeignKey(
        Nation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The nation the event concerns (on whose side the actor acted).",
    )
    object_type = models.CharField(max_length=100, blank=True, help_text="app_label.model of the object.")
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    path = models.CharField(max_length=300, blank=True, help_text="The request path, when made over HTTP.")
    # The stock the entry is about (its subject, or the subject's stock: a movement's, a count's, a discrepancy's),
    # so the entry follows the stock's visibility in one condition.  No database constraint: the log keeps naming
    # what it named, and nothing done to a stock ever reaches this append-only table.
    stock = models.ForeignKey(
        "inventory.Stock",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="The stock the entry concerns, if any: the entry is visible to whoever may see it.",
    )

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AuditKind.values), name="audit_kind_valid"),
        ]
        indexes = [
            models.Index(fields=["kind", "-at"], name="audit_kind_at_idx"),
            models.Index(fields=["nation", "-at"], name="audit_nation_at_idx"),
            models.Index(fields=["username", "-at"], name="audit_username_at_idx"),
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind} {self.username or '-'}: {self.summary}"


# The previous hash of the audit log's first link (nations/audit_chain.py).
AUDIT_GENESIS = bytes(32)


class AuditSeal(models.Model):
    """One link of the audit log's hash chain: the entry sealed at position `seq` (1, 2, 3, ... without gaps, in the
    order the sealer found the entries committed), `prev_hash` the hash of link `seq - 1` (32 zero bytes for the
    first), `hash` the SHA-256 of the entry's canonical line chained on it (``nations.audit_chain``).

    Append-only like the log itself: a trigger (migration 0007) refuses UPDATE and DELETE."""

    seq = models.BigIntegerField(primary_key=True)
    entry = models.OneToOneField(AuditEntry, on_delete=models.PROTECT, related_name="seal")
    prev_hash = models.BinaryField(max_length=32)
    hash = models.BinaryField(max_length=32)
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.CheckConstraint(condition=Q(seq__gte=1), name="audit_seal_seq_positive"),
            models.CheckConstraint(condition=Exact(Length("prev_hash"), 32), name="audit_seal_prev_hash_sha256"),
            models.CheckConstraint(condition=Exact(Length("hash"), 32), name="audit_seal_hash_sha256"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} entry {self.entry_id} {bytes(self.hash).hex()[:12]}"
