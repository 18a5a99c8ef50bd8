"""Where a requisition stands, read from its supply requests: each line's figures, and closing when it is done.

A line's quantity is accounted for by its requests and what the requester cancelled of it:

    quantity = cancelled + received + in flight + outstanding

- in flight: what its open requests still carry: a draft or submitted request its requested quantity, an approved
  one its approved quantity, a dispatched one its dispatched quantity;
- received: what its received requests booked at the destination;
- outstanding (the backorder): the rest, which nobody is asked for any more: refused, approved short, received
  short, or never sourced.  The requester re-sources it or cancels it.

A line is done when nothing is in flight or outstanding; the requisition closes when every line is done.  Nothing
here is stored: the figures are one aggregate over the lines' requests, so they cannot drift from the requests.
"""

from __future__ import annotations

from django.db.models import Case, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from . import events
from .models import RequestStatus, Requisition, RequisitionLine, RequisitionStatus, SupplyRequest

IN_FLIGHT = Case(
    When(status__in=[RequestStatus.DRAFT, RequestStatus.SUBMITTED], then=F("quantity_requested")),
    When(status=RequestStatus.APPROVED, then=F("quantity_approved")),
    When(status=RequestStatus.DISPATCHED, then=F("quantity_dispatched")),
    default=Value(0),
)
LIVE = ~Q(status__in=[RequestStatus.REJECTED, RequestStatus.CANCELLED])
# What a live request sources: what it asks until the supplier decides, then what the supplier approved (a request
# approved short sources only its approved part; the rest is outstanding, and re-sourcing it must not read as more
# than the line's quantity).
SOURCED = Case(
    When(status__in=[RequestStatus.DRAFT, RequestStatus.SUBMITTED], then=F("quantity_requested")),
    default=F("quantity_approved"),
)


EVERY = Q()


def _sum_of_requests(expression, condition: Q = EVERY, requests=None):
    """A subquery: the sum of `expression` over the line's requests meeting `condition` (0 when none), among
    `requests` (a SupplyRequest queryset; all of them when None)."""
    requests = SupplyRequest.objects.all() if requests is None else requests
    per_line = (
        requests.filter(condition, requisition_line=OuterRef("pk"))
        .order_by()
        .values("requisition_line")
        .annotate(total=Sum(expression))
        .values("total")
    )
    return Coalesce(Subquery(per_line), Value(0))


def with_figures(lines, *, requests=None):
    """`lines` (a RequisitionLine queryset) with ``sourced``, ``approved``, ``dispatched``, ``received``,
    ``in_flight`` and ``outstanding`` (see the module's docstring), summed over `requests` (a SupplyRequest
    queryset, e.g. those a supplier may see: its part of the line; every request when None)."""
    done = [RequestStatus.APPROVED, RequestStatus.DISPATCHED, RequestStatus.RECEIVED]
    return lines.annotate(
        sourced=_sum_of_requests(SOURCED, LIVE, requests),
        approved=_sum_of_requests(F("quantity_approved"), Q(status__in=done), requests),
        dispatched=_sum_of_requests(
            F("quantity_dispatched"), Q(status__in=[RequestStatus.DISPATCHED, RequestStatus.RECEIVED]), requests
        ),
        received=_sum_of_requests(F("quantity_received"), Q(status=RequestStatus.RECEIVED), requests),
        in_flight=_sum_of_requests(IN_FLIGHT, EVERY, requests),
    ).annotate(
        outstanding=Greatest(F("quantity") - F("cancelled") - F("received") - F("in_flight"), Value(0)),
    )


def line_outstanding(line: RequisitionLine) -> int:
    """What of `line` nobody is asked for now (read afresh: callers hold the line's lock)."""
    return with_figures(RequisitionLine.objects.filter(pk=line.pk)).values_list("outstanding", flat=True).get()


def open_lines(requisition_id: int):
    """The requisition's lines that are not done: something in flight or outstanding."""
    lines = with_figures(RequisitionLine.objects.filter(requisition_id=requisition_id))
    return lines.filter(Q(in_flight__gt=0) | Q(outstanding__gt=0))


def close_if_done(requisition_id: int, *, actor) -> bool:
    """Close an open requisition once every line is received or cancelled (in the caller's transaction; the
    requisition row is locked last).  True when this call closed it."""
    requisition = Requisition.objects.select_for_update().filter(pk=requisition_id).first()
    if requisition is None or requisition.status != RequisitionStatus.OPEN or open_lines(requisition_id).exists():
        return False
    requisition.status = RequisitionStatus.CLOSED
    requisition.closed_at = timezone.now()
    requisition.version = F("version") + 1
    requisition.save(update_fields=["status", "closed_at", "version", "updated_at"])
    requisition.refresh_from_db(fields=["version"])
    events.requisition_closed(requisition, actor=actor)
    return True
