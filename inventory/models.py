"""Logistics centers, the item catalog, stocks, the append-only movement ledger and physical counts.

Every invariant of PRODUCT.md that a row can state is a database constraint here; the services keep them
and the database refuses anything that slips past.  On PostgreSQL and SQLite a trigger (migration 0003)
also refuses UPDATE and DELETE on the ledger, so it is append-only even for raw SQL, and each movement carries a
hash chained over the previous movement of its stock (inventory/ledger.py), so an edit made with the trigger
disabled is found.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from .queries import MovementQuerySet, StockCountQuerySet, StockQuerySet, StockReportQuerySet

# The previous hash of a stock's first movement, and the chain head of a stock with none (inventory/ledger.py).
GENESIS = bytes(32)

# \Z, not $: in Python (and so in SQLite's REGEXP) $ also matches before a trailing newline.
NSN_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{3}-[0-9]{4}\Z"
nsn_validator = RegexValidator(NSN_PATTERN, "Enter a NATO Stock Number as NNNN-NN-NNN-NNNN (13 digits).")
center_code_validator = RegexValidator(
    r"^[A-Z0-9][A-Z0-9-]{1,29}\Z", "Use capitals, digits and hyphens, e.g. MLC-NORTH."
)


class CenterKind(models.TextChoices):
    MULTINATIONAL = "multinational", _("Multinational")
    NATIONAL = "national", _("National")


class LogisticsCenter(models.Model):
    code = models.CharField(max_length=30, unique=True, validators=[center_code_validator])
    name = models.CharField(max_length=120)
    host_nation = models.ForeignKey("nations.Nation", on_delete=models.PROTECT, related_name="hosted_centers")
    kind = models.CharField(max_length=20, choices=CenterKind.choices, default=CenterKind.MULTINATIONAL)
    latitude = models.DecimalField(
        max_digits=8, decimal_places=5, validators=[MinValueValidator(-90), MaxValueValidator(90)]
    )
    longitude = models.DecimalField(
        max_digits=8, decimal_places=5, validators=[MinValueValidator(-180), MaxValueValidator(180)]
    )
    participants = models.ManyToManyField(
        "nations.Nation",
        related_name="participating_centers",
        blank=True,
        help_text="Nations that take part in the center's shared pool.",
    )
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["code"]
        permissions = [("operate_center", "Operate the logistics center")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=CenterKind.values), name="center_kind_valid"),
            models.CheckConstraint(condition=Q(latitude__gte=-90, latitude__lte=90), name="center_latitude_range"),
            models.CheckConstraint(condition=Q(longitude__gte=-180, longitude__lte=180), name="center_longitude_range"),
        ]

    def __str__(self) -> str:
        return self.code

    def natural_key(self) -> tuple[str]:
        return (self.code,)


class CenterGroupObjectPermission(GroupObjectPermissionBase):
    """A role group's permission on one center (guardian, direct foreign key)."""

    content_object = models.ForeignKey(LogisticsCenter, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        abstract = False
        indexes = [models.Index(fields=["permission", "content_object"])]


class CenterUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(LogisticsCenter, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        abstract = False


class SupplyClass(models.TextChoices):
    I = "I", _("I – Subsistence")  # noqa: E741 - NATO's own numbering
    II = "II", _("II – Clothing and equipment")
    III = "III", _("III – Fuels and lubricants")
    IV = "IV", _("IV – Construction")
    V = "V", _("V – Ammunition")
    VI = "VI", _("VI – Personal demand items")
    VII = "VII", _("VII – Major end items")
    VIII = "VIII", _("VIII – Medical supplies")
    IX = "IX", _("IX – Repair parts")
    X = "X", _("X – Non-military programs")


class UnitOfIssue(models.TextChoices):
    EACH = "EA", _("Each")
    LITRE = "L", _("Litre")
    KILOGRAM = "KG", _("Kilogram")
    BOX = "BX", _("Box")
    CASE = "CS", _("Case")
    PACKAGE = "PG", _("Package")
    ROUND = "RD", _("Round")
    SET = "SE", _("Set")
    PAIR = "PR", _("Pair")
    DRUM = "DR", _("Drum")
    METRE = "M", _("Metre")
    ROLL = "RO", _("Roll")


class Item(models.Model):
    nsn = models.CharField(
        "NSN", max_length=16, unique=True, validators=[nsn_validator], help_text="NATO Stock Number, NNNN-NN-NNN-NNNN."
    )
    name = models.CharField(max_length=200)
    supply_class = models.CharField(max_length=4, choices=SupplyClass.choices)
    unit_of_issue = models.CharField(max_length=2, choices=UnitOfIssue.choices)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["nsn"]
        constraints = [
            models.CheckConstraint(condition=Q(nsn__regex=NSN_PATTERN), name="item_nsn_format"),
            models.CheckConstraint(condition=Q(supply_class__in=SupplyClass.values), name="item_supply_class_valid"),
            models.CheckConstraint(condition=Q(unit_of_issue__in=UnitOfIssue.values), name="item_unit_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.nsn} {self.name}"

    def natural_key(self) -> tuple[str]:
        return (self.nsn,)

    @property
    def ncb_code(self) -> str:
        """The two digits of the codification bureau that assigned the NSN."""
        return self.nsn[5:7]

    @property
    def supply_classification(self) -> str:
        """The four-digit NATO Supply Classification (NSC) group and class."""
        return self.nsn[:4]


class ItemSubstitute(models.Model):
    """`substitute` may be issued when `item` is asked for and cannot be had; with `two_way`, the other way too.
    Declared in the catalog (admin, coordinators); sourcing offers a substitute only for a requisition line that
    allows substitutes, and only for what the requested NSN itself cannot cover."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="substitutes")
    substitute = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="substitute_for")
    two_way = models.BooleanField(default=False, help_text="The item may also stand in for its substitute.")

    class Meta:
        ordering = ["item__nsn", "substitute__nsn"]
        constraints = [
            models.UniqueConstraint(fields=["item", "substitute"], name="substitute_unique_pair"),
            models.CheckConstraint(condition=~Q(item=F("substitute")), name="substitute_not_itself"),
        ]

    def __str__(self) -> str:
        return f"{self.substitute.nsn} {'<->' if self.two_way else '->'} {self.item.nsn}"


ALL = "ALL"  # the marking of a stock shared with every participating nation (``releasable_to``)


class ReleaseList(models.Model):
    """A set of nations a stock is releasable to (NATO's "REL TO DEU, FRA").

    One row per distinct set, found by its canonical key (the sorted nation codes), shared by every stock released
    to that set and never changed once written: a user's access profile names the few lists that name one of their
    nations, so the visibility of a released stock is one more indexed ``release_list_id IN (...)`` term, never a
    join.  The key also gives the marking without reading the nations.  The stock's owner is never on its list."""

    key = models.CharField(max_length=2000, unique=True, editable=False, help_text="Sorted nation codes, e.g. DEU,FRA.")
    nations = models.ManyToManyField("nations.Nation", related_name="release_lists")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"REL TO {self.key.replace(',', ', ')}"

    @property
    def codes(self) -> list[str]:
        return self.key.split(",")

    @staticmethod
    def key_of(codes) -> str:
        return ",".join(sorted(set(codes)))


# How close a stock is to its safety level (available / safety level; under 1 is below it).  One expression for
# the dashboard's ordering and the index that serves it, so PostgreSQL sees the same one in both.
SAFETY_MARGIN = (F("on_hand") - F("reserved")) * 1.0 / F("safety_level")


class Stock(models.Model):
    """What one nation holds of one item at one center.  ``on_hand`` equals the sum of its movements."""

    nation = models.ForeignKey("nations.Nation", on_delete=models.PROTECT, related_name="stocks")
    center = models.ForeignKey(LogisticsCenter, on_delete=models.PROTECT, related_name="stocks")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="stocks")
    on_hand = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)
    safety_level = models.BigIntegerField(default=0)
    daily_consumption = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), help_text="Planning rate, units of issue per day."
    )
    shared = models.BooleanField(default=False, help_text="Offered to the alliance pool at this center.")
    # Released to a named list of nations instead (never both: stock_shared_or_released).  Indexed by its foreign key.
    release_list = models.ForeignKey(
        ReleaseList,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="stocks",
        help_text="Releasable to these nations (REL TO); empty: private, or shared with all.",
    )
    ledger_head = models.BinaryField(
        max_length=32,
        default=GENESIS,
        db_default=GENESIS,
        editable=False,
        help_text="Hash of the newest movement (all zeros: none yet).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = StockQuerySet.as_manager()

    class Meta:
        ordering = ["center__code", "item__nsn", "nation__code"]
        constraints = [
            models.UniqueConstraint(fields=["nation", "center", "item"], name="stock_unique_nation_center_item"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_reserved_not_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"),
            models.CheckConstraint(condition=Q(safety_level__gte=0), name="stock_safety_level_not_negative"),
            models.CheckConstraint(condition=Q(daily_consumption__gte=0), name="stock_daily_consumption_not_negative"),
            models.CheckConstraint(condition=Exact(Length("ledger_head"), 32), name="stock_ledger_head_sha256"),
            # (center, id) is unique because id is: this makes it a key that a movement's (center, stock) can
            # reference (migration inventory/0013), and the ledger check of a run picks a center's stocks and their
            # chain heads from this index (inventory/ledger.py) instead of visiting a heap page per stock.
            models.UniqueConstraint(fields=["center", "id"], include=["ledger_head"], name="stock_center_id_key"),
            # a stock is private, shared with all, or released to a list: one marking
            models.CheckConstraint(
                condition=Q(shared=False) | Q(release_list__isnull=True), name="stock_shared_or_released"
            ),
        ]
        indexes = [
            # A center's stock list counts the rows visible to the caller; nation, shared and the release list are all
            # the access rules read from a stock row, so with them in the index the count never touches the table.
            models.Index(fields=["center", "nation", "shared", "release_list"], name="stock_center_nation_shared_idx"),
            models.Index(fields=["item", "center"]),
            # Reconciliation reads a center's stocks five times per pass (coordination/reconciliation.py); with
            # every column it reads carried here, each read is a short range of this index instead of a visit to
            # most of the table's pages (a center's stocks are spread over the whole table).
            models.Index(
                fields=["center"],
                include=[
                    "id",
                    "nation",
                    "item",
                    "on_hand",
                    "reserved",
                    "safety_level",
                    "daily_consumption",
                    "shared",
                    "release_list",  # read by the access rule of the stock list's first step (IdsFirstPaginator)
                ],
                name="stock_center_reconcile_idx",
            ),
            # The dashboard's "closest to running out" for an officer's nation: the first rows of this index, instead
            # of computing and sorting the margin of all the nation's stocks (some 30,000 at 1M stocks).
            models.Index(
                F("nation"), SAFETY_MARGIN, F("id"), condition=Q(safety_level__gt=0), name="stock_nation_margin_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.nation_id and self.nation.code} {self.item.nsn} @ {self.center.code}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def releasable_to(self) -> str | list[str]:
        """The release: "ALL" when shared with every participating nation, else the nation codes of its release
        list ([]: private).  Reads the list's key (load it with ``select_related("release_list")``)."""
        if self.shared:
            return ALL
        return self.release_list.codes if self.release_list_id else []

    @property
    def release_marking(self) -> str:
        """The marking people read: "Private", "Shared (ALL)" or "REL TO DEU, FRA"."""
        if self.shared:
            return str(_("Shared (ALL)"))
        if self.release_list_id:
            return str(self.release_list)
        return str(_("Private"))

    @property
    def below_safety(self) -> bool:
        return self.available < self.safety_level

    @property
    def days_of_supply(self) -> Decimal | None:
        """Days the available quantity lasts at the planning rate; None when nothing is consumed."""
        if not self.daily_consumption:
            return None
        return (Decimal(self.available) / self.daily_consumption).quantize(Decimal("0.1"))


class MovementKind(models.TextChoices):
    RECEIPT = "receipt", _("Receipt")
    ISSUE = "issue", _("Issue")
    TRANSFER_OUT = "transfer_out", _("Transfer out")
    TRANSFER_IN = "transfer_in", _("Transfer in")
    ADJUSTMENT = "adjustment", _("Adjustment")
    COUNT_CORRECTION = "count_correction", _("Count correction")


INCOMING_KINDS = [MovementKind.RECEIPT, MovementKind.TRANSFER_IN]
OUTGOING_KINDS = [MovementKind.ISSUE, MovementKind.TRANSFER_OUT]


class Movement(models.Model):
    """One line of a stock's ledger.  Never updated, never deleted; sealed by a hash chained over the previous
    movement of its stock (inventory/ledger.py)."""

    # indexed by (stock, id) below, which also serves the foreign key
    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="movements", db_index=False)
    # The stock's center, copied onto its movements so that a center's ledger is one range of an index: the
    # reconciliation of a center sums its movements per stock in one pass over that range instead of one index
    # descent per stock.  The database keeps the copy true (migration inventory/0013): on PostgreSQL a foreign key
    # from (center, stock) to the stock's (center, id), which also keeps a stock with movements at its center; on
    # SQLite triggers.  Hence no foreign key of its own (db_constraint=False).
    center = models.ForeignKey(
        LogisticsCenter, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False, editable=False
    )
    kind = models.CharField(max_length=20, choices=MovementKind.choices)
    quantity = models.BigIntegerField(help_text="Signed: positive into the stock, negative out of it.")
    balance_after = models.BigIntegerField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="movements")
    occurred_at = models.DateTimeField(db_index=True)
    recorded_at = models.DateTimeField(
        default=timezone.now,
        editable=False,
        db_index=True,
        help_text="When the portal wrote it; what incremental sync follows.",
    )
    reason = models.CharField(max_length=500, blank=True)
    request = models.ForeignKey(
        "coordination.SupplyRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="movements"
    )
    prev_hash = models.BinaryField(
        max_length=32, editable=False, help_text="Hash of the stock's previous movement (all zeros for its first)."
    )
    hash = models.BinaryField(max_length=32, editable=False, help_text="SHA-256 of the canonical form.")

    objects = MovementQuerySet.as_manager()

    class Meta:
        ordering = ["stock_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=MovementKind.values), name="movement_kind_valid"),
            models.CheckConstraint(condition=~Q(quantity=0), name="movement_quantity_not_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="movement_balance_not_negative"),
            models.CheckConstraint(
                condition=~Q(kind__in=INCOMING_KINDS) | Q(quantity__gt=0), name="movement_incoming_positive"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=OUTGOING_KINDS) | Q(quantity__lt=0), name="movement_outgoing_negative"
            ),
            models.CheckConstraint(condition=Exact(Length("prev_hash"), 32), name="movement_prev_hash_sha256"),
            models.CheckConstraint(condition=Exact(Length("hash"), 32), name="movement_hash_sha256"),
        ]
        indexes = [
            # a stock's chain in order, and its newest movement (the head check of every reconciliation run)
            models.Index(fields=["stock", "id"], name="movement_stock_chain_idx"),
            # quantity carried in the index: the ledger sums of reconciliation (a stock's movements, or those up to
            # a count's time) are read from the index alone
            models.Index(fields=["stock", "occurred_at"], include=["quantity"], name="movement_stock_time_qty_idx"),
            # a center's ledger, stock by stock, with the quantities: the ledger check of reconciliation
            models.Index(fields=["center", "stock"], include=["quantity"], name="movement_center_stock_qty_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity:+d} → {self.balance_after}"

    def save(self, *args, **kwargs):
        if self.center_id is None and self.stock_id is not None:
            self.center_id = self.stock.center_id  # the stock's; the database refuses any other (bulk_create too)
        super().save(*args, **kwargs)


class LedgerCheckpoint(models.Model):
    """How far reconciliation runs have verified one center's ledger chains (inventory/ledger.py)."""

    center = models.OneToOneField(
        LogisticsCenter, on_delete=models.CASCADE, primary_key=True, related_name="ledger_checkpoint"
    )
    verified_through = models.BigIntegerField(default=0, help_text="The newest movement id the last run could see.")
    passes = models.PositiveBigIntegerField(default=0, help_text="Runs so far; picks the slice re-verified in turn.")
    checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"ledger of center {self.center_id} verified through movement {self.verified_through}"


class CountSource(models.TextChoices):
    OPERATOR = "operator", _("Center operator")
    NATIONAL_SYSTEM = "national_system", _("National system")
    OFFICER = "officer", _("Logistics officer")


class StockReport(models.Model):
    """A bulk report of physical counts from a national system (or an operator) for one center."""

    nation = models.ForeignKey("nations.Nation", on_delete=models.PROTECT, related_name="stock_reports")
    center = models.ForeignKey(LogisticsCenter, on_delete=models.PROTECT, related_name="stock_reports")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    counted_at = models.DateTimeField()
    line_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = StockReportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"report #{self.pk}: {self.nation_id}@{self.center_id}, {self.line_count} lines"


class StockCount(models.Model):
    """A physical count of a stock at a moment; reconciliation compares it with the book balance then."""

    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="counts")
    counted_quantity = models.BigIntegerField()
    counted_at = models.DateTimeField()
    counted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="stock_counts")
    source = models.CharField(max_length=20, choices=CountSource.choices, default=CountSource.OPERATOR)
    note = models.CharField(max_length=500, blank=True)
    report = models.ForeignKey(StockReport, on_delete=models.PROTECT, null=True, blank=True, related_name="counts")
    recorded_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = StockCountQuerySet.as_manager()

    class Meta:
        ordering = ["-counted_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(counted_quantity__gte=0), name="count_quantity_not_negative"),
            models.CheckConstraint(condition=Q(source__in=CountSource.values), name="count_source_valid"),
        ]
        indexes = [models.Index(fields=["stock", "-counted_at"])]

    def __str__(self) -> str:
        return f"count {self.counted_quantity} of stock {self.stock_id} at {self.counted_at:%Y-%m-%d %H:%M}"
