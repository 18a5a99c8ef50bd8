"""The tables of the request, discrepancy, reconciliation and notification lists (``core.tables``).

An object shown inside a row (a discrepancy's stock or request, a notification's link) is decided for the viewer
per batch of rows (``prepare_rows``: one query per model), on the page and in the exports alike."""

import django_tables2 as tables
from django.db.models import Case, IntegerField, Value, When
from django.template.defaultfilters import linebreaksbr
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core.tables import PortalTable
from nations.access.nested import disclosure_for

from .designators import describe
from .models import OPEN_STATUSES, Priority
from .run_findings import disclose_findings

NUM = {"th": {"class": "num"}, "td": {"class": "num"}}
NOWRAP = {"td": {"class": "nowrap"}}

# urgent first: the priorities' order of service, not their alphabetical order
PRIORITY_RANK = Case(
    *(When(priority=p, then=Value(rank)) for rank, p in enumerate(Priority.values)),
    output_field=IntegerField(),
)
STILL_OPEN = Case(When(status__in=OPEN_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField())

# The request list's order when no column is chosen: the open requests first, the most pressing priority designator
# first (01 before 15), then the soonest required; the newest last among equals.
REQUEST_WORK_ORDER = (STILL_OPEN.asc(), "priority_designator", "required_by", "-id")


class RequestTable(PortalTable):
    export_name = "requests"
    caption = _("Supply requests you may see")

    reference = tables.Column(
        verbose_name=_("Reference"), order_by="id", linkify=("request-detail-page", [tables.A("pk")])
    )
    status = tables.Column(verbose_name=_("Status"))
    priority = tables.Column(verbose_name=_("Priority"))
    priority_designator = tables.Column(
        verbose_name=_("Designator"), order_by=("priority_designator", "required_by"), attrs=NOWRAP
    )
    requesting_nation = tables.Column(
        accessor="requesting_nation__code", verbose_name=_("Requesting nation"), order_by="requesting_nation__code"
    )
    supplying_nation = tables.Column(
        accessor="supplying_nation__code", verbose_name=_("Supplying nation"), order_by="supplying_nation__code"
    )
    nsn = tables.Column(accessor="item__nsn", verbose_name=_("NSN"), order_by="item__nsn", attrs=NOWRAP)
    item = tables.Column(accessor="item__name", verbose_name=_("Item"), order_by="item__name")
    quantity_requested = tables.Column(verbose_name=_("Quantity"), attrs=NUM)
    quantity_approved = tables.Column(verbose_name=_("Approved"), attrs=NUM, default="")
    source_center = tables.Column(
        accessor="source_center__code", verbose_name=_("Source"), order_by="source_center__code"
    )
    destination_center = tables.Column(
        accessor="destination_center__code", verbose_name=_("Destination"), order_by="destination_center__code"
    )
    required_by = tables.DateColumn(verbose_name=_("Required by"), format="SHORT_DATE_FORMAT", attrs=NOWRAP)

    def render_status(self, record):
        return format_html('<span class="status status-{}">{}</span>', record.status, record.get_status_display())

    def value_status(self, record):
        return record.status

    def render_priority(self, record):
        return format_html('<span class="prio prio-{}">{}</span>', record.priority, record.get_priority_display())

    def value_priority(self, record):
        return record.priority

    def render_priority_designator(self, record):
        designator = describe(record.priority_designator)
        return format_html('<abbr class="pd" title="{}">{}</abbr>', designator.explanation, designator.label)

    def value_priority_designator(self, record):
        return describe(record.priority_designator).label

    def order_priority(self, queryset, is_descending):
        rank = PRIORITY_RANK.desc() if is_descending else PRIORITY_RANK.asc()
        return queryset.order_by(rank, "-required_by" if is_descending else "required_by"), True

    def value_required_by(self, record):
        return record.required_by


class DiscrepancyTable(PortalTable):
    """The page draws its rows with coordination/_discrepancy_row.html (a row is swapped in place when a count is
    settled): this table gives it its header, its sorting and its exports."""

    export_name = "discrepancies"
    caption = _("Discrepancies you may see")

    severity = tables.Column(verbose_name=_("Severity"))
    kind = tables.Column(verbose_name=_("Kind"))
    subject = tables.Column(accessor="pk", verbose_name=_("Subject"), orderable=False)
    expected = tables.Column(verbose_name=_("Expected"), attrs=NUM)
    actual = tables.Column(verbose_name=_("Found"), attrs=NUM)
    first_seen = tables.Column(verbose_name=_("First seen"))
    last_seen = tables.Column(visible=False)
    acknowledged_at = tables.Column(visible=False)
    resolved_at = tables.Column(verbose_name=_("State"))

    def prepare_rows(self, records):
        disclosure = disclosure_for(self.for_request)
        disclosure.prime_related(records, "stock")
        disclosure.prime_related(records, "request")

    def value_severity(self, record):
        return record.severity

    def value_kind(self, record):
        return record.kind

    def value_subject(self, record):
        """The stock (nation, NSN, center) or the request's reference, or neutral words when the viewer may not
        see it (as on the page)."""
        disclosure = disclosure_for(self.for_request)
        if record.stock_id:
            shown = disclosure.show_related(
                record, "stock", text=lambda s: f"{s.nation.code} {s.item.nsn} @ {s.center.code}"
            )
            if not shown.hidden or not record.request_id:
                return str(shown)
        return str(disclosure.show_related(record, "request", text=lambda r: r.reference))


class ReconciliationRunTable(PortalTable):
    export_name = "reconciliation-runs"
    caption = _("Reconciliation runs")

    id = tables.Column(verbose_name="#")
    status = tables.Column(verbose_name=_("Status"))
    center = tables.Column(accessor="center__code", verbose_name=_("Scope"), order_by="center__code", default="")
    started_by = tables.Column(accessor="pk", verbose_name=_("Started by"), order_by="started_by__username")
    progress = tables.Column(accessor="centers_done", verbose_name=_("Progress"))
    created_at = tables.DateTimeColumn(verbose_name=_("Created"), format="SHORT_DATETIME_FORMAT")
    finished_at = tables.DateTimeColumn(verbose_name=_("Finished"), format="SHORT_DATETIME_FORMAT", default="—")
    findings = tables.Column(
        accessor="pk", verbose_name=_("Findings"), orderable=False, attrs={"td": {"class": "findings"}}
    )

    def prepare_rows(self, records):
        disclose_findings(records, self.user)  # a run's counts as this viewer may see them

    def render_status(self, record):
        return format_html('<span class="status status-{}">{}</span>', record.status, record.get_status_display())

    def value_status(self, record):
        return record.status

    def render_center(self, record):
        return record.center.code

    def render_started_by(self, record):
        return record.started_by.username if record.started_by_id else record.trigger

    def render_progress(self, record):
        return f"{record.centers_done}/{record.centers_total}"

    def render_findings(self, record):
        findings = ((label, n) for label, n in record.findings_labelled if n)
        return format_html_join("", '<span class="finding">{}: {}</span>', findings)

    def value_findings(self, record):
        return "; ".join(f"{label}: {n}" for label, n in record.findings_labelled if n)

    def value_created_at(self, record):
        return record.created_at

    def value_finished_at(self, record):
        return record.finished_at


class NotificationTable(PortalTable):
    export_name = "notifications"
    caption = _("Your notifications")

    title = tables.Column(verbose_name=_("Notification"))
    body = tables.Column(verbose_name=_("Details"), orderable=False, default="")
    created_at = tables.DateTimeColumn(verbose_name=_("Received"), format="SHORT_DATETIME_FORMAT", attrs=NOWRAP)
    read_at = tables.Column(verbose_name=_("Read"), default="")
    link = tables.Column(visible=False, default="")
    actions = tables.TemplateColumn(
        template_name="coordination/_notification_actions.html",
        verbose_name=_("Actions"),
        orderable=False,
        exclude_from_export=True,
    )

    class Meta(PortalTable.Meta):
        row_attrs = {"class": lambda record: "" if record.read_at else "unread"}

    def prepare_rows(self, records):
        disclosure_for(self.for_request).prime_links(
            (r.link for r in records), records[0].LINKED_OBJECTS if records else {}
        )

    def _link(self, record) -> str:
        """No link to what the reader may no longer see."""
        return disclosure_for(self.for_request).link(record.link, record.LINKED_OBJECTS)

    def render_title(self, record):
        link = self._link(record)
        return format_html('<a href="{}">{}</a>', link, record.title) if link else record.title

    def value_title(self, record):
        return record.title

    def render_body(self, record):
        return linebreaksbr(record.body, autoescape=True)

    def render_read_at(self, record):
        return format_html('<span class="badge">{}</span>', _("read")) if record.read_at else _("unread")

    def value_read_at(self, record):
        return record.read_at

    def value_link(self, record):
        return self._link(record)

    def value_created_at(self, record):
        return record.created_at
