"""What is still missing after a request was refused, approved short or received short.

The remainder is what a follow-up request ("raise the remainder from the next source") should ask for.
"""

from .models import RequestStatus, SupplyRequest


def remainder_of(supply_request: SupplyRequest) -> int:
    """The quantity a follow-up request should ask for, 0 when nothing is missing.

    - rejected: the whole requested quantity;
    - approved short and still open (approved or dispatched): requested − approved;
    - received short: dispatched − received (what the approval left out could already be followed up while the
      request was open; what was lost in transit is only known now);
    - anything else (draft, submitted, cancelled, approved or received in full): 0.
    """
    status = supply_request.status
    if status == RequestStatus.REJECTED:
        return supply_request.quantity_requested
    if status in (RequestStatus.APPROVED, RequestStatus.DISPATCHED):
        return max(supply_request.quantity_requested - (supply_request.quantity_approved or 0), 0)
    if status == RequestStatus.RECEIVED:
        return max((supply_request.quantity_dispatched or 0) - (supply_request.quantity_received or 0), 0)
    return 0
