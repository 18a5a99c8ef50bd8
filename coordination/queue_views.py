"""The liaison officer's approval queue: the requests addressed to their nations that wait for approval, most
pressing first (priority designator, then required-by date), with the supplier's stock beside each, and bulk
approve / reject.  ``?requisition=RQN-000123`` narrows it to the lines of one requisition addressed to the officer,
with "Approve all" / "Reject all" for them.

A bulk decision is a loop over the chosen requests, each through the lifecycle's own service (its own transaction,
timeline event, audit entry and notices): a request that cannot be decided (not enough stock, separation of duties,
already decided by someone else, not visible) is reported on its row and changes nothing, and the others go
through."""

from __future__ import annotations

from dataclasses import dataclass

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.web import RestrictedListView, service_action
from nations import access
from nations.access import visibility

from . import decision, events, lifecycle, services
from .designators import QUEUE_ORDER
from .models import SupplyRequest

APPROVE = lifecycle.transition("approve")
DECISIONS = ("approve", "reject")
MAX_BULK = 200  # a page of the queue at most: a decision is a transaction per request


@dataclass(frozen=True)
class BulkResult:
    """What became of one chosen request: its HTTP-like status and the message the officer reads."""

    label: str
    status: int
    message: str

    @property
    def ok(self) -> bool:
        return self.status < 400


class ApprovalQueueView(RestrictedListView):
    """GET: the queue, by priority designator, then by required-by date.  POST: approve (the full requested
    quantity) or reject (one reason for all) the checked requests, or (``all``) every request of the requisition
    the queue is narrowed to."""

    queryset = SupplyRequest.objects.select_related(
        "requesting_nation", "supplying_nation", "item", "source_center", "destination_center"
    )
    template_name = "coordination/approval_queue.html"
    paginate_by = 50

    def get_queryset(self):
        rows = super().get_queryset()
        # the same condition as the dashboard's "Waiting for your approval" card: the rule that offers the button
        waiting = visibility.party_condition(access.profile(self.request.user), APPROVE.party)
        rows = rows.filter(waiting, status__in=sorted(APPROVE.sources))
        if requisition := self.requisition_reference():  # its lines addressed to this officer, and only those
            rows = rows.filter(requisition__reference=requisition)
        return decision.with_supplier_stock(rows, self.request.user)

    def requisition_reference(self) -> str:
        """The requisition the queue is narrowed to (``?requisition=RQN-000123``, or the bulk form's field)."""
        given = self.request.POST.get("requisition") or self.request.GET.get("requisition") or ""
        return given.strip().upper()[:20]

    def sort(self, rows):
        return rows.order_by(*QUEUE_ORDER)

    def get_context_data(self, **extra):
        context = super().get_context_data(
            liaison=bool(access.profile(self.request.user).liaison_nations),
            requisition=self.requisition_reference(),
            **extra,
        )
        page = context["page"]
        page.object_list = list(page.object_list)
        for row in page.object_list:  # what approving in full would leave, from the annotated figures
            row.available_after = None
            if row.supplier_available is not None:
                row.available_after = row.supplier_available - row.quantity_requested
                row.below_safety_after = row.available_after < row.supplier_safety_level
        return context

    def post(self, request, *args, **kwargs):
        choice = request.POST.get("decision", "")
        comment = request.POST.get("comment", "").strip()[:2000]
        chosen = list(dict.fromkeys(request.POST.getlist("request")))[:MAX_BULK]  # in order, once each
        requisition = self.requisition_reference()
        whole = request.POST.get("all") in DECISIONS  # "Approve all" / "Reject all": the requisition's lines shown
        if whole:
            choice = request.POST["all"]
            chosen = self._whole_requisition() if requisition else []
        problem = ""
        if choice not in DECISIONS:
            problem = _("Choose to approve or to reject.")
        elif whole and not requisition:
            problem = _("Approving or rejecting all applies to the lines of one requisition: open it first.")
        elif whole and not chosen:
            problem = _("No line of %(requisition)s waits for your decision.") % {"requisition": requisition}
        elif not chosen:
            problem = _("Select at least one request.")
        elif choice == "reject" and not comment:
            problem = _("Give the reason for the refusal: it is sent to every requesting nation.")
        if problem:
            return self._answer(status=400, problem=problem, comment=comment)
        with events.batched():  # each decision its own transaction; their notices' sending queued once
            results = [self._decide(choice, ident, comment) for ident in chosen]
        done = sum(result.ok for result in results)
        # 200 when anything went through (each row says how it went); else the first refusal's status
        status = 200 if done else results[0].status
        if choice == "approve":
            summary = ngettext("%(n)d request approved.", "%(n)d requests approved.", done) % {"n": done}
        else:
            summary = ngettext("%(n)d request rejected.", "%(n)d requests rejected.", done) % {"n": done}
        return self._answer(status=status, results=results, summary=summary)

    def _whole_requisition(self) -> list[str]:
        """The ids of the requests of the requisition the queue is narrowed to that wait for this officer, most
        pressing first (MAX_BULK at most, as a page of checked rows)."""
        return [str(pk) for pk in self.sort(self.get_queryset()).values_list("pk", flat=True)[:MAX_BULK]]

    def _decide(self, choice: str, ident: str, comment: str) -> BulkResult:
        """One request through its lifecycle service; a refusal is this request's answer alone."""
        user = self.request.user
        supply_request = (
            SupplyRequest.objects.visible_to(user).select_related("item", "source_center").filter(pk=ident).first()
            if ident.isdigit()
            else None
        )
        if supply_request is None:  # the same answer for a request that does not exist and one not visible
            return BulkResult(f"#{ident}", 404, _("No such request."))
        inputs = {"reason": comment} if choice == "reject" else {"comment": comment}
        with service_action(self.request) as outcome:
            services.make_transition(action=choice, request=supply_request, actor=user, **inputs)
        if not outcome.ok:
            return BulkResult(supply_request.reference, outcome.status, " ".join(outcome.errors))
        if choice == "approve":
            message = _("Approved %(n)d %(unit)s; %(center)s can dispatch.") % {
                "n": supply_request.quantity_requested,
                "unit": supply_request.item.unit_of_issue,
                "center": supply_request.source_center.code,
            }
        else:
            message = _("Rejected.")
        return BulkResult(supply_request.reference, 200, message)

    def _answer(self, *, status: int, results=(), summary: str = "", problem: str = "", comment: str = ""):
        """The queue again (decided requests gone), with how each chosen request went."""
        context = self.get_context_data(results=results, summary=summary, problem=problem, comment=comment)
        response = render(self.request, self.template_name, context)
        response.status_code = status
        return response


approval_queue = ApprovalQueueView.as_view()
