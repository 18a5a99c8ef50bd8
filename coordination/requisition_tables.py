"""The requisitions list: its filters and its table (``core.tables``), on the page and in its CSV/XLSX exports."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django.db.models import Case, Count, IntegerField, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.filters import CodeFilter, PortalFilterSet
from core.tables import PortalTable
from inventory.filters import center_choices

from . import priority as priorities
from . import requisitions
from .models import Requisition, RequisitionLine, RequisitionStatus
from .requisition_state import with_figures

NUM = {"th": {"class": "num"}, "td": {"class": "num"}}
NOWRAP = {"td": {"class": "nowrap"}}

STILL_OPEN = Case(
    When(status__in=[RequisitionStatus.DRAFT, RequisitionStatus.OPEN], then=Value(0)),
    default=Value(1),
    output_field=IntegerField(),
)
# The list's order when no column is chosen: drafts and open requisitions first, the most pressing priority
# designator first (01 before 15), then the soonest required delivery date; the newest first among equals.
REQUISITION_WORK_ORDER = (STILL_OPEN.asc(), "priority_designator", "required_by", "-id")


class RequisitionFilter(PortalFilterSet):
    status = django_filters.ChoiceFilter(choices=RequisitionStatus.choices, label=_("Status"))
    destination_center = CodeFilter(
        field_name="destination_center__code", choices=center_choices, label=_("Destination center")
    )

    class Meta:
        model = Requisition
        fields = ["status", "destination_center", "updated_after"]


def with_line_counts(requisitions, user):
    """`requisitions` with ``line_count`` and ``lines_outstanding``: the lines the viewer sees (a supplier only
    those addressed to it), and those of them with something outstanding.  Subqueries in the select list: only the
    rows of the page shown are counted."""
    lines = RequisitionLine.objects.visible_to(user).filter(requisition=OuterRef("pk")).order_by()
    count = lambda rows: Coalesce(  # noqa: E731
        Subquery(rows.values("requisition").annotate(n=Count("pk")).values("n")), Value(0)
    )
    return requisitions.annotate(
        line_count=count(lines),
        lines_outstanding=count(with_figures(lines).filter(outstanding__gt=0)),
    )


def designator_label(requisition) -> str:
    """``07 · A``: the priority designator and the urgency it was derived from."""
    return f"{priorities.label(requisition.priority_designator)} · {requisition.urgency}"


class RequisitionTable(PortalTable):
    export_name = "requisitions"
    caption = _("Requisitions you may see")

    reference = tables.Column(
        verbose_name=_("Reference"), order_by="id", linkify=("requisition-detail-page", [tables.A("pk")])
    )
    requesting_nation = tables.Column(
        accessor="requesting_nation__code", verbose_name=_("Nation"), order_by="requesting_nation__code"
    )
    destination_center = tables.Column(
        accessor="destination_center__code", verbose_name=_("Destination"), order_by="destination_center__code"
    )
    required_by = tables.DateColumn(verbose_name=_("RDD"), format="SHORT_DATE_FORMAT", attrs=NOWRAP)
    priority_designator = tables.Column(
        verbose_name=_("Priority"), order_by=("priority_designator", "required_by"), attrs=NOWRAP
    )
    urgency = tables.Column(visible=False)
    status = tables.Column(verbose_name=_("Status"))
    line_count = tables.Column(verbose_name=_("Lines"), orderable=False, attrs=NUM)
    lines_outstanding = tables.Column(verbose_name=_("Lines outstanding"), orderable=False, attrs=NUM)

    def render_priority_designator(self, record):
        return format_html(
            '<span class="rqn-prio rqn-group-{}" title="{}">{}</span>',
            priorities.group(record.priority_designator),
            record.get_urgency_display(),
            designator_label(record),
        )

    def value_priority_designator(self, record):
        return priorities.label(record.priority_designator)

    def value_urgency(self, record):
        return record.urgency

    def render_lines_outstanding(self, record):
        """A supplier sees the lines addressed to it, not the requester's backorders."""
        return record.lines_outstanding if requisitions.sees_whole(self.user, record) else "—"

    def value_lines_outstanding(self, record):
        return record.lines_outstanding if requisitions.sees_whole(self.user, record) else None

    def render_status(self, record):
        return format_html('<span class="status status-{}">{}</span>', record.status, record.get_status_display())

    def value_status(self, record):
        return record.status

    def value_required_by(self, record):
        return record.required_by
