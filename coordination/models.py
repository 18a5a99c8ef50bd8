"""Supply requests and their timeline, shortfall and discrepancy flags, reconciliation runs, targets."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext, pgettext_lazy

from inventory.ledger import PROBLEM_LABELS
from inventory.models import SupplyClass
from nations.querysets import VisibleQuerySet

from .queries import FlagQuerySet, NotificationQuerySet, SupplyRequestQuerySet


class RequestStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    DISPATCHED = "dispatched", _("Dispatched")
    RECEIVED = "received", _("Received")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATUSES = [RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.APPROVED, RequestStatus.DISPATCHED]

# Which status moves to which, who may move it and how: the lifecycle table, coordination/lifecycle.py.


class Priority(models.TextChoices):
    URGENT = "urgent", _("Urgent")
    PRIORITY = "priority", pgettext_lazy("priority level", "Priority")
    ROUTINE = "routine", _("Routine")


class SupplyRequest(models.Model):
    """One nation asks another for a quantity of an item, from a source center to a destination center."""

    reference = models.CharField(
        max_length=20,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text="REQ-000123, assigned when the request is created.",
    )
    requesting_nation = models.ForeignKey("nations.Nation", on_delete=models.PROTECT, related_name="requests_made")
    supplying_nation = models.ForeignKey("nations.Nation", on_delete=models.PROTECT, related_name="requests_received")
    item = models.ForeignKey("inventory.Item", on_delete=models.PROTECT, related_name="requests")
    source_center = models.ForeignKey(
        "inventory.LogisticsCenter", on_delete=models.PROTECT, related_name="requests_out"
    )
    destination_center = models.ForeignKey(
        "inventory.LogisticsCenter", on_delete=models.PROTECT, related_name="requests_in"
    )
    quantity_requested = models.BigIntegerField(validators=[MinValueValidator(1)])
    quantity_approved = models.BigIntegerField(null=True, blank=True)
    quantity_dispatched = models.BigIntegerField(null=True, blank=True)
    quantity_received = models.BigIntegerField(null=True, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.ROUTINE)
    required_by = models.DateField()
    justification = models.TextField(max_length=2000)
    status = models.CharField(max_length=12, choices=RequestStatus.choices, default=RequestStatus.DRAFT, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requests_raised")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # UMMIPS priority designator 01-15 (coordination/priority.py): from the requesting nation's force activity
    # designator and the urgency of need; the queues sort by it, then by required-by date
    priority_designator = models.PositiveSmallIntegerField(default=14, db_default=14)
    # the requisition line this request sources (None: a request raised on its own)
    requisition = models.ForeignKey(
        "Requisition", on_delete=models.PROTECT, null=True, blank=True, related_name="requests"
    )
    requisition_line = models.ForeignKey(
        "RequisitionLine", on_delete=models.PROTECT, null=True, blank=True, related_name="requests"
    )
    # the item asked for when this request supplies a substitute for it (None: the item itself)
    substitute_for = models.ForeignKey(
        "inventory.Item", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    shipment = models.ForeignKey("Shipment", on_delete=models.PROTECT, null=True, blank=True, related_name="requests")
    version = models.PositiveIntegerField(default=1, help_text="Bumped by every change; the API's ETag.")

    objects = SupplyRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RequestStatus.values), name="request_status_valid"),
            models.CheckConstraint(condition=Q(priority__in=Priority.values), name="request_priority_valid"),
            models.CheckConstraint(
                condition=~Q(requesting_nation=F("supplying_nation")), name="request_between_two_nations"
            ),
            models.CheckConstraint(condition=Q(quantity_requested__gt=0), name="request_quantity_positive"),
            models.CheckConstraint(
                condition=Q(quantity_approved__isnull=True)
                | Q(quantity_approved__gt=0, quantity_approved__lte=F("quantity_requested")),
                name="request_approved_within_requested",
            ),
            models.CheckConstraint(
                condition=Q(quantity_dispatched__isnull=True) | Q(quantity_dispatched__gt=0),
                name="request_dispatched_positive",
            ),
            models.CheckConstraint(
                condition=Q(quantity_received__isnull=True) | Q(quantity_received__gte=0),
                name="request_received_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[RequestStatus.APPROVED, RequestStatus.DISPATCHED, RequestStatus.RECEIVED])
                | Q(quantity_approved__isnull=False),
                name="request_approved_has_quantity",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[RequestStatus.DISPATCHED, RequestStatus.RECEIVED])
                | Q(quantity_dispatched__isnull=False),
                name="request_dispatched_has_quantity",
            ),
            models.CheckConstraint(
                condition=~Q(status=RequestStatus.RECEIVED) | Q(quantity_received__isnull=False),
                name="request_received_has_quantity",
            ),
            models.CheckConstraint(
                condition=Q(priority_designator__gte=1, priority_designator__lte=15), name="request_designator_range"
            ),
            models.CheckConstraint(
                condition=Q(requisition_line__isnull=True) | Q(requisition__isnull=False),
                name="request_line_has_requisition",
            ),
        ]
        indexes = [
            models.Index(fields=["source_center", "item", "status"]),
            models.Index(fields=["requesting_nation", "status"]),
            models.Index(fields=["supplying_nation", "status"]),
        ]

    def __str__(self) -> str:
        return self.reference or f"request #{self.pk}"


class RequestEvent(models.Model):
    """One step of a request's timeline: who moved it from which status to which, when, and why."""

    request = models.ForeignKey(SupplyRequest, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12, choices=RequestStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=RequestStatus.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="request_events")
    at = models.DateTimeField()
    comment = models.TextField(max_length=2000, blank=True)
    quantity = models.BigIntegerField(null=True, blank=True)

    # The comment the services write on a request's first event: stored in English, shown in the reader's language.
    CREATED = "Created"

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.request} {self.from_status or '∅'} → {self.to_status}"

    @property
    def comment_display(self) -> str:
        if not self.from_status and self.comment == self.CREATED:
            return pgettext("request timeline", "Created")
        return self.comment


class Urgency(models.TextChoices):
    """Urgency of need (UMMIPS): A cannot perform the mission without it, B mission impaired, C routine need."""

    A = "A", _("A: unable to perform the mission")
    B = "B", _("B: mission impaired")
    C = "C", _("C: routine")


class RequisitionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    OPEN = "open", _("Open")  # submitted: its lines are being sourced, approved, shipped, received
    CLOSED = "closed", _("Closed")  # every line received or cancelled
    CANCELLED = "cancelled", _("Cancelled")


class Requisition(models.Model):
    """One nation's list of needs for one destination (``RQN-000123``).  On submit each line is sourced into supply
    requests to supplying nations (coordination/requisitions.py); what they refuse or approve short stays
    outstanding on its line until it is re-sourced, received or cancelled."""

    reference = models.CharField(max_length=20, unique=True, null=True, blank=True, editable=False)
    requesting_nation = models.ForeignKey("nations.Nation", on_delete=models.PROTECT, related_name="requisitions")
    destination_center = models.ForeignKey(
        "inventory.LogisticsCenter", on_delete=models.PROTECT, related_name="requisitions"
    )
    required_by = models.DateField(help_text="Required delivery date (RDD) of every line that names none.")
    urgency = models.CharField(max_length=1, choices=Urgency.choices, default=Urgency.C)
    # the requesting nation's force activity designator when the requisition was raised, and what it made
    activity_designator = models.PositiveSmallIntegerField()
    priority_designator = models.PositiveSmallIntegerField()
    justification = models.TextField(max_length=2000)
    status = models.CharField(max_length=10, choices=RequisitionStatus.choices, default=RequisitionStatus.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Bumped by every change; the API's ETag.")

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RequisitionStatus.values), name="requisition_status_valid"),
            models.CheckConstraint(condition=Q(urgency__in=Urgency.values), name="requisition_urgency_valid"),
            models.CheckConstraint(
                condition=Q(activity_designator__gte=1, activity_designator__lte=5),
                name="requisition_activity_designator",
            ),
            models.CheckConstraint(
                condition=Q(priority_designator__gte=1, priority_designator__lte=15),
                name="requisition_designator_range",
            ),
        ]
        indexes = [models.Index(fields=["requesting_nation", "status", "-id"], name="requisition_nation_status")]

    def __str__(self) -> str:
        return self.reference or f"requisition #{self.pk}"


class RequisitionLine(models.Model):
    """One NSN and quantity of a requisition.  Its figures (sourced, approved, dispatched, received, outstanding)
    are those of its supply requests (``coordination.requisitions.line_figures``); `cancelled` is what the
    requester gave up of it."""

    requisition = models.ForeignKey(Requisition, on_delete=models.CASCADE, related_name="lines")
    number = models.PositiveIntegerField()
    item = models.ForeignKey("inventory.Item", on_delete=models.PROTECT, related_name="+")
    quantity = models.BigIntegerField(validators=[MinValueValidator(1)])
    required_by = models.DateField(null=True, blank=True, help_text="This line's own RDD, if not the requisition's.")
    allow_substitutes = models.BooleanField(default=False)
    cancelled = models.BigIntegerField(default=0)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["requisition", "number"]
        constraints = [
            models.UniqueConstraint(fields=["requisition", "number"], name="requisition_line_number_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="requisition_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(cancelled__gte=0, cancelled__lte=F("quantity")), name="requisition_line_cancelled_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.requisition} line {self.number}"


class TransportMode(models.TextChoices):
    ROAD = "road", _("Road")
    RAIL = "rail", _("Rail")
    AIR = "air", _("Air")
    SEA = "sea", _("Sea")


class Shipment(models.Model):
    """Dispatched requests travelling together from one source center to one destination (``SHP-000123``): how,
    by whom, when it left and when it is due.  Receipt of its last request closes it (`arrived_at`)."""

    reference = models.CharField(max_length=20, unique=True, null=True, blank=True, editable=False)
    shipping_nation = models.ForeignKey("nations.Nation", on_delete=models.PROTECT, related_name="shipments")
    source_center = models.ForeignKey(
        "inventory.LogisticsCenter", on_delete=models.PROTECT, related_name="shipments_out"
    )
    destination_center = models.ForeignKey(
        "inventory.LogisticsCenter", on_delete=models.PROTECT, related_name="shipments_in"
    )
    mode = models.CharField(max_length=4, choices=TransportMode.choices)
    carrier = models.CharField(max_length=200, blank=True, help_text="Carrier, convoy or flight designation.")
    departed_at = models.DateTimeField()
    expected_arrival = models.DateTimeField()
    arrived_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    version = models.PositiveIntegerField(default=1)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["-departed_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(mode__in=TransportMode.values), name="shipment_mode_valid"),
            models.CheckConstraint(
                condition=Q(expected_arrival__gte=F("departed_at")), name="shipment_arrives_after_departure"
            ),
        ]
        indexes = [models.Index(fields=["destination_center", "arrived_at"], name="shipment_inbound")]

    def __str__(self) -> str:
        return self.reference or f"shipment #{self.pk}"


class DaysOfSupplyTarget(models.Model):
    """How many days of supply a nation wants to hold for a supply class (default from settings)."""

    nation = models.ForeignKey("nations.Nation", on_delete=models.CASCADE, related_name="supply_targets")
    supply_class = models.CharField(max_length=4, choices=SupplyClass.choices)
    days = models.PositiveIntegerField(default=15, validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["nation__code", "supply_class"]
        constraints = [
            models.UniqueConstraint(fields=["nation", "supply_class"], name="target_unique_nation_class"),
            models.CheckConstraint(condition=Q(days__gt=0), name="target_days_positive"),
            models.CheckConstraint(condition=Q(supply_class__in=SupplyClass.values), name="target_class_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.nation.code} class {self.supply_class}: {self.days} days"


class Severity(models.TextChoices):
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class Flag(models.Model):
    """Shared shape of shortfalls and discrepancies: raised once, kept up to date, resolves by itself."""

    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    first_seen = models.DateTimeField()
    # When a pass last saw the flag.  Passes rewrite an open shortfall only when its figures change, so an open
    # shortfall's last sighting is its center's CenterPass.passed_at (which the API and pages show).
    last_seen = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    details = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = FlagQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class ShortfallKind(models.TextChoices):
    BELOW_SAFETY = "below_safety", _("Below safety level")
    LOW_DAYS_OF_SUPPLY = "low_days_of_supply", _("Low days of supply")
    UNMET_DEMAND = "unmet_demand", _("Unmet demand")


class Shortfall(Flag):
    """A stock (below safety, low days of supply) or a center's pool of an item (unmet demand) is short."""

    kind = models.CharField(max_length=20, choices=ShortfallKind.choices)
    stock = models.ForeignKey(
        "inventory.Stock", on_delete=models.CASCADE, null=True, blank=True, related_name="shortfalls"
    )
    nation = models.ForeignKey(
        "nations.Nation", on_delete=models.CASCADE, null=True, blank=True, related_name="shortfalls"
    )
    center = models.ForeignKey("inventory.LogisticsCenter", on_delete=models.CASCADE, related_name="shortfalls")
    item = models.ForeignKey("inventory.Item", on_delete=models.CASCADE, related_name="shortfalls")
    available = models.BigIntegerField(
        null=True, blank=True, help_text="Available (pool: shared available) when last seen."
    )
    threshold = models.DecimalField(
        max_digits=16,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Safety level, days-of-supply target, or open demand.",
    )
    days_of_supply = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    # The stock's shared flag, copied so that the access rules filter shortfalls without joining a million stocks.
    # A trigger on inventory_stock keeps it in step (migration 0007), whatever changes the stock.
    shared = models.BooleanField(default=False, editable=False)
    # Likewise its release list (migration 0009): shortfalls follow the stock's release list with no join either.
    release_list = models.ForeignKey(
        "inventory.ReleaseList", on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["-last_seen", "-id"]
        indexes = [
            # the shortfall list: open flags, most severe first ("critical" sorts before "warning"), newest first;
            # a page of 50 is read in index order instead of sorting every open flag of the alliance
            models.Index(
                fields=["severity", "-last_seen"],
                condition=Q(resolved_at__isnull=True),
                name="shortfall_open_severity_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ShortfallKind.values), name="shortfall_kind_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="shortfall_severity_valid"),
            models.CheckConstraint(
                condition=Q(kind=ShortfallKind.UNMET_DEMAND, stock__isnull=True)
                | (~Q(kind=ShortfallKind.UNMET_DEMAND) & Q(stock__isnull=False)),
                name="shortfall_stock_or_pool",
            ),
            models.UniqueConstraint(
                fields=["kind", "stock"],
                condition=Q(resolved_at__isnull=True, stock__isnull=False),
                name="shortfall_one_open_per_stock",
            ),
            models.UniqueConstraint(
                fields=["kind", "center", "item"],
                condition=Q(resolved_at__isnull=True, stock__isnull=True),
                name="shortfall_one_open_per_pool",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.item_id}@{self.center_id}"

    @property
    def last_sighting(self):
        """When a pass last found this shortfall: for an open one, its center's last pass (load it with
        ``select_related("center__last_pass")``)."""
        if self.resolved_at is None:
            center_pass = getattr(self.center, "last_pass", None)
            if center_pass is not None and center_pass.passed_at > self.last_seen:
                return center_pass.passed_at
        return self.last_seen


class DiscrepancyKind(models.TextChoices):
    LEDGER_MISMATCH = "ledger_mismatch", _("On hand differs from the ledger")
    RESERVATION_MISMATCH = "reservation_mismatch", _("Reserved differs from approved requests")
    COUNT_MISMATCH = "count_mismatch", _("Physical count differs from the books")
    OVERDUE_DISPATCH = "overdue_dispatch", _("Approved request not dispatched in time")
    SHORT_RECEIPT = "short_receipt", _("Less received than dispatched")
    LEDGER_CHAIN = "ledger_chain", _("Ledger hash chain broken")
    OVERDUE_APPROVAL = "overdue_approval", _("Submitted request not decided in time")
    OVERDUE_ARRIVAL = "overdue_arrival", _("Shipment not arrived in time")


class DiscrepancyResolution(models.TextChoices):
    CLEARED = "cleared", _("Condition cleared")
    COUNT_ACCEPTED = "count_accepted", _("Count accepted (adjusted)")
    COUNT_REJECTED = "count_rejected", _("Count rejected")
    CLOSED = "closed", _("Closed by a user")


class Discrepancy(Flag):
    """The books do not reconcile: for a stock, a count, or a request."""

    kind = models.CharField(max_length=24, choices=DiscrepancyKind.choices)
    stock = models.ForeignKey(
        "inventory.Stock", on_delete=models.CASCADE, null=True, blank=True, related_name="discrepancies"
    )
    request = models.ForeignKey(
        SupplyRequest, on_delete=models.CASCADE, null=True, blank=True, related_name="discrepancies"
    )
    count = models.ForeignKey(
        "inventory.StockCount", on_delete=models.CASCADE, null=True, blank=True, related_name="discrepancies"
    )
    expected = models.BigIntegerField(null=True, blank=True)
    actual = models.BigIntegerField(null=True, blank=True)
    resolution = models.CharField(max_length=20, choices=DiscrepancyResolution.choices, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-last_seen", "-id"]
        verbose_name_plural = "discrepancies"
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=DiscrepancyKind.values), name="discrepancy_kind_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="discrepancy_severity_valid"),
            models.CheckConstraint(
                condition=Q(stock__isnull=False) | Q(request__isnull=False), name="discrepancy_has_subject"
            ),
            models.UniqueConstraint(
                fields=["kind", "stock"],
                name="discrepancy_one_open_per_stock",
                condition=Q(resolved_at__isnull=True, request__isnull=True),
            ),
            models.UniqueConstraint(
                fields=["kind", "request"],
                name="discrepancy_one_open_per_request",
                condition=Q(resolved_at__isnull=True, request__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} (stock {self.stock_id}, request {self.request_id})"

    @property
    def ledger_problem(self) -> str:
        """A broken ledger chain: where it breaks and how, in the reader's language (empty for other kinds)."""
        problem = PROBLEM_LABELS.get((self.details or {}).get("problem"))
        if self.kind != DiscrepancyKind.LEDGER_CHAIN or problem is None:
            return ""
        movement = self.details.get("movement_id")
        if movement is None:
            return str(problem)
        return _("movement #%(movement)s: %(problem)s") % {"movement": movement, "problem": problem}


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


# What a run's findings count, by key (the flag kinds, and the pools it refreshed).
FINDING_LABELS = {
    **dict(DiscrepancyKind.choices),
    **dict(ShortfallKind.choices),
    "pool_items": _("Pool items refreshed"),
}


class ReconciliationRun(models.Model):
    """One execution of the background reconciliation and shortfall flagging, with its progress."""

    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    center = models.ForeignKey(
        "inventory.LogisticsCenter",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reconciliation_runs",
        help_text="Empty: all centers.",
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: the schedule.",
    )
    trigger = models.CharField(max_length=20, default="schedule")
    centers_total = models.PositiveIntegerField(default=0)
    centers_done = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    findings = models.JSONField(default=dict, blank=True, help_text="Counts of findings by kind.")
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="run_status_valid"),
            models.CheckConstraint(condition=Q(centers_done__lte=F("centers_total")), name="run_progress_bounded"),
        ]

    def __str__(self) -> str:
        return f"reconciliation #{self.pk} ({self.status})"

    @property
    def progress_percent(self) -> int:
        return 100 if not self.centers_total else round(100 * self.centers_done / self.centers_total)

    @property
    def is_finished(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)

    @property
    def findings_labelled(self) -> list[tuple[str, int]]:
        """The findings as (label in the user's language, count) pairs, for pages."""
        return [(FINDING_LABELS.get(kind, kind), n) for kind, n in (self.findings or {}).items()]


class CenterReconciliation(models.Model):
    """What one run found at one center.  One row per (run, center), so a redelivered task does nothing twice
    and the run's progress is simply the number of rows."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="center_results")
    center = models.ForeignKey("inventory.LogisticsCenter", on_delete=models.CASCADE, related_name="+")
    findings = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "center"], name="center_result_unique_run_center")]

    def __str__(self) -> str:
        return f"run {self.run_id} center {self.center_id}"


class CenterPass(models.Model):
    """When reconciliation last went over a center.  Every flag still open at the center was seen by that pass,
    so this one row stands for the "last seen" of all of them: a pass rewrites only the flags and pool rows whose
    figures changed, instead of touching some 130,000 rows to restamp them."""

    center = models.OneToOneField(
        "inventory.LogisticsCenter", on_delete=models.CASCADE, primary_key=True, related_name="last_pass"
    )
    passed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"center {self.center_id} reconciled at {self.passed_at:%Y-%m-%d %H:%M}"


class PoolSummary(models.Model):
    """The pool of one item at one center, refreshed by reconciliation: what the alliance can see at a glance."""

    center = models.ForeignKey("inventory.LogisticsCenter", on_delete=models.CASCADE, related_name="pool")
    item = models.ForeignKey("inventory.Item", on_delete=models.CASCADE, related_name="+")
    on_hand = models.BigIntegerField()
    reserved = models.BigIntegerField()
    available = models.BigIntegerField()
    shared_available = models.BigIntegerField()
    nations = models.PositiveIntegerField(help_text="How many nations hold the item there.")
    refreshed_at = models.DateTimeField(
        help_text="When these figures were last found changed; the center's pass time is CenterPass.passed_at."
    )

    class Meta:
        ordering = ["center_id", "item_id"]
        constraints = [models.UniqueConstraint(fields=["center", "item"], name="pool_unique_center_item")]

    def __str__(self) -> str:
        return f"pool {self.item_id}@{self.center_id}"


class EventType(models.TextChoices):
    REQUEST_SUBMITTED = "request.submitted", _("Request submitted")
    REQUEST_APPROVED = "request.approved", _("Request approved")
    REQUEST_REJECTED = "request.rejected", _("Request rejected")
    REQUEST_DISPATCHED = "request.dispatched", _("Request dispatched")
    REQUEST_RECEIVED = "request.received", _("Request received")
    SHORTFALL_CRITICAL = "shortfall.critical", _("New critical shortfall")
    REQUISITION_SUBMITTED = "requisition.submitted", _("Requisition submitted")
    REQUISITION_CLOSED = "requisition.closed", _("Requisition closed")
    REQUEST_OVERDUE = "request.overdue", _("Request overdue")
    SHIPMENT_DISPATCHED = "shipment.dispatched", _("Shipment dispatched")
    SHIPMENT_OVERDUE = "shipment.overdue", _("Shipment overdue")
    # sent on demand to test an endpoint (POST /webhooks/{id}/ping/); nobody subscribes to it
    PING = "ping", _("Ping (a test delivery)")


# the events an endpoint may subscribe to (every one but the on-demand ping)
SUBSCRIBABLE_EVENTS = [(value, label) for value, label in EventType.choices if value != EventType.PING]


class Notification(models.Model):
    """An in-app notice for one user (also sent by email when the user has an address)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=30, choices=EventType.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    # The pages a link may open that show one object, and that object's model: the link is offered only to a
    # reader who may see the object (nations.access.nested), whoever it was addressed to when written.
    LINKED_OBJECTS = {
        "request-detail-page": "coordination.supplyrequest",
        "requisition-detail-page": "coordination.requisition",
        "shipment-detail-page": "coordination.shipment",
    }

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.title}"


class WebhookEndpoint(models.Model):
    """Where a nation's national system wants to be told of events (registered through the API)."""

    nation = models.ForeignKey("nations.Nation", on_delete=models.CASCADE, related_name="webhooks")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="Event types to deliver; empty means all.")
    secret = models.CharField(max_length=128, help_text="Shared secret for the HMAC-SHA256 signature.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.nation_id} → {self.url}"

    def wants(self, event: str) -> bool:
        return self.active and (not self.events or event in self.events)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed (gave up)")


class WebhookDelivery(models.Model):
    """One event sent to one endpoint, with its attempts.  The payload is fixed when the event happens."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=30, choices=EventType.choices)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"
