"""Browser pages for requisitions: the list, the new-requisition page (header, line editor, sheet import) and the
requisition's page (its lines' figures and requests, re-sourcing and cancelling what is outstanding).

Every write is a service of ``coordination.requisitions`` (the API calls the same), answered as the request pages
answer theirs (``core.web.service_action``): 403 for a refused right, 409 for a wrong state or nothing to do, 400
for bad input, 404 for a requisition the viewer may not see."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.tables import TableListView
from core.web import finish, public_page, service_action, visible_or_404
from nations import access
from nations.models import ActivityDesignator, Nation

from . import priority as priorities
from . import requisitions
from .models import RequestStatus, Requisition, RequisitionLine, RequisitionStatus, SupplyRequest
from .requisition_forms import (
    BLANK_ROWS,
    MAX_EDITOR_ROWS,
    PREFIX,
    RequisitionForm,
    SheetForm,
    line_formset,
    rows_data,
    selected_line_numbers,
)
from .requisition_import import read_sheet
from .requisition_state import with_figures
from .requisition_tables import REQUISITION_WORK_ORDER, RequisitionFilter, RequisitionTable, with_line_counts


def visible_requisitions(user):
    return Requisition.objects.visible_to(user).select_related("requesting_nation", "destination_center", "created_by")


# --- the list ------------------------------------------------------------------------------------------------------


class RequisitionListView(TableListView):
    """The requisitions the user may see: open ones first, the most pressing priority designator first, then the
    soonest required delivery date."""

    queryset = Requisition.objects.select_related("requesting_nation", "destination_center")
    filterset_class = RequisitionFilter
    table_class = RequisitionTable
    ordering = REQUISITION_WORK_ORDER
    template_name = "coordination/requisition_list.html"

    def get_queryset(self):
        return with_line_counts(super().get_queryset(), self.request.user)

    def get_context_data(self, **extra):
        return super().get_context_data(can_create=bool(access.profile(self.request.user).logistics_nations), **extra)


requisition_list = RequisitionListView.as_view()


# --- a new requisition ---------------------------------------------------------------------------------------------


def _extra_rows(value, default: int = BLANK_ROWS) -> int:
    return max(1, min(int(value), MAX_EDITOR_ROWS)) if str(value or "").isdigit() else default


@public_page  # a form over reference data (nations, centers, the catalog): it reads no restricted rows
@login_required
def requisition_new(request):
    """GET: the header and a line editor of blank rows (``?extra=N`` rows).  POST, by the button pressed
    (``action``): ``add`` shows the editor again with ``add_count`` more rows (htmx: the editor alone); ``import``
    reads the sheet into the editor (or lists its bad rows, creating nothing); ``draft`` saves, ``submit`` saves and
    sources every line (``create_requisition``)."""
    nations = Nation.objects.filter(id__in=access.profile(request.user).logistics_nations).order_by("code")
    if not nations:
        raise PermissionDenied(_("Only a nation's logistics officers raise requisitions."))
    context: dict = {"sheet_form": SheetForm(), "import_errors": [], "show_errors": False}
    status = 200
    if request.method != "POST":
        form = RequisitionForm(nations=nations)
        lines = line_formset(_extra_rows(request.GET.get("extra")))(prefix=PREFIX)
        return _editor_page(request, form, lines, context, status)

    action = request.POST.get("action", "")
    if action == "add":
        data = rows_data(request.POST, add=_extra_rows(request.POST.get("add_count"), default=1))
        form, lines = RequisitionForm(data, nations=nations), line_formset()(data, prefix=PREFIX)
        if request.htmx:
            return render(request, "coordination/_requisition_lines.html", {"lines": lines, **context})
        return _editor_page(request, form, lines, context, status)
    if action == "import":
        sheet_form = SheetForm(request.POST, request.FILES)
        upload = request.FILES.get("sheet")
        reading = read_sheet(upload) if upload else None
        if reading is None:
            context["import_errors"] = [_("Choose a CSV or XLSX sheet to import.")]
        elif not reading.ok:
            context["import_errors"] = reading.errors
        data = rows_data(request.POST, sheet=reading.lines if reading and reading.ok else ())
        form, lines = RequisitionForm(data, nations=nations), line_formset()(data, prefix=PREFIX)
        context["sheet_form"] = sheet_form
        if context["import_errors"]:
            status = 400
        else:
            n = len(reading.lines)
            context["import_done"] = ngettext(
                "%(n)s line read from the sheet: check it, then save or submit the requisition.",
                "%(n)s lines read from the sheet: check them, then save or submit the requisition.",
                n,
            ) % {"n": n}
        return _editor_page(request, form, lines, context, status)

    form, lines = RequisitionForm(request.POST, nations=nations), line_formset()(request.POST, prefix=PREFIX)
    context["show_errors"] = True
    if action not in ("draft", "submit"):
        messages.error(request, _("Choose to save the requisition as a draft or to submit it."))
        return _editor_page(request, form, lines, context, 400)
    if not (form.is_valid() and lines.is_valid()):
        return _editor_page(request, form, lines, context, 400)
    filled = lines.filled_forms()
    data = form.cleaned_data
    with service_action(request) as outcome:
        created = requisitions.create_requisition(
            requester=request.user,
            requesting_nation=data["requesting_nation"],
            destination_center=data["destination_center"],
            required_by=data["required_by"],
            justification=data["justification"],
            urgency=data["urgency"],
            lines=[line.line_input() for line in filled],
            submit=action == "submit",
        )
    if outcome.ok:
        if action == "submit":
            messages.success(request, sourcing_report(created.plan, submitted=True))
        else:
            messages.success(request, _("%(reference)s saved as a draft.") % {"reference": created.reference})
        return redirect("requisition-detail-page", created.pk)
    _put_back(outcome.field_errors, form, filled, lines)
    return _editor_page(request, form, lines, context, outcome.status)


def _editor_page(request, form, lines, context, status):
    response = render(request, "coordination/requisition_new.html", {"form": form, "lines": lines, **context})
    response.status_code = status
    return response


def _put_back(field_errors: dict[str, list[str]], form, filled, lines) -> None:
    """The service's errors on the fields they name: ``required_by`` on the header, ``lines[3].quantity`` on the
    fourth line given (``filled``), ``lines`` above the editor."""
    for key, errors in field_errors.items():
        if key in form.fields:
            form.add_error(key, errors)
            continue
        index, _dot, name = key.partition("].")
        index = index.removeprefix("lines[")
        if index.isdigit() and int(index) < len(filled):
            row = filled[int(index)]
            row.add_error(name if name in row.fields else None, errors)
        else:
            lines.non_form_errors().extend(errors)


# --- the requisition's page ----------------------------------------------------------------------------------------


def priority_meaning(requisition) -> dict:
    """What the designator means: the force activity designator and urgency it came from, its group, the group's
    standard times for the supplier's decision and for dispatch."""
    hours = priorities.standard_hours(requisition.priority_designator)
    return {
        "designator": priorities.label(requisition.priority_designator),
        "group": priorities.group(requisition.priority_designator),
        "fad": ActivityDesignator(requisition.activity_designator).label,
        "approve_hours": hours["approve"],
        "dispatch_hours": hours["dispatch"],
    }


def _detail_context(request, requisition, *, outcome=None, success: str = "") -> dict:
    """The requisition, its lines the viewer sees (a supplier: the lines addressed to it) with their figures, and
    under each line the requests of it the viewer sees; the buttons the viewer may press now."""
    user = request.user
    # a supplier sees its part: the lines addressed to it, summed over its own requests, and no backorder
    whole = requisitions.sees_whole(user, requisition)
    visible = SupplyRequest.objects.visible_to(user)
    lines = list(
        with_figures(
            RequisitionLine.objects.visible_to(user).filter(requisition=requisition),
            requests=None if whole else visible,
        )
        .select_related("item")
        .order_by("number")
    )
    requests = (
        visible.filter(requisition=requisition)
        .select_related("supplying_nation", "source_center", "item", "substitute_for")
        .order_by("id")
    )
    by_line: dict[int, list[SupplyRequest]] = {}
    for supply_request in requests:
        by_line.setdefault(supply_request.requisition_line_id, []).append(supply_request)
    for line in lines:
        line.shown_requests = by_line.get(line.pk, [])
    is_open = requisition.status == RequisitionStatus.OPEN
    is_draft = requisition.status == RequisitionStatus.DRAFT
    liaison = access.profile(user).liaison_nations
    return {
        "requisition": requisition,
        "priority": priority_meaning(requisition),
        "lines": lines,
        "whole": whole,
        "outstanding": sum(line.outstanding for line in lines) if whole else None,
        "may_resource": is_open and access.can(user, "requisition.resource", requisition),
        "may_cancel_lines": is_open and access.can(user, "requisition.cancel", requisition),
        "may_submit": is_draft and access.can(user, "requisition.submit", requisition),
        "may_withdraw": is_draft and access.can(user, "requisition.cancel", requisition),
        # a liaison officer with requests of it waiting: their decisions, in the approval queue
        "decide_link": any(
            r.supplying_nation_id in liaison and r.status == RequestStatus.SUBMITTED
            for line in lines
            for r in line.shown_requests
        ),
        "outcome": outcome,
        "success": success,
    }


@login_required
def requisition_detail(request, pk):
    requisition = visible_or_404(visible_requisitions(request.user), pk=pk)
    context = _detail_context(request, requisition)
    if request.htmx:
        return render(request, "coordination/_requisition_panel.html", context)
    return render(request, "coordination/requisition_detail.html", context)


ACTIONS = ("submit", "cancel", "resource", "cancel-outstanding")


@login_required
@require_POST
def requisition_action(request, pk, action):
    """The requester's buttons: ``submit`` or ``cancel`` a draft; ``resource`` or ``cancel-outstanding`` what is
    outstanding on the ticked lines (``lines``; none ticked: every line).  Answered as the API answers."""
    if action not in ACTIONS:
        raise Http404  # no such address, whatever the requisition: the same answer for every pk
    requisition = visible_or_404(visible_requisitions(request.user), pk=pk)
    success = ""
    with service_action(request) as outcome:
        numbers = selected_line_numbers(request.POST)
        if action == "submit":
            submitted = requisitions.submit_requisition(requisition=requisition, actor=request.user)
            success = sourcing_report(submitted.plan, submitted=True)
        elif action == "cancel":
            requisitions.cancel_requisition(requisition=requisition, actor=request.user)
            success = _("%(reference)s was withdrawn.") % {"reference": requisition.reference}
        elif action == "resource":
            plan = requisitions.resource_lines(requisition=requisition, actor=request.user, numbers=numbers)
            success = sourcing_report(plan)
        else:
            given_up = requisitions.cancel_lines(requisition=requisition, actor=request.user, numbers=numbers)
            success = _("%(n)s outstanding cancelled; nobody will be asked for it again.") % {"n": given_up}
            if Requisition.objects.filter(pk=pk, status=RequisitionStatus.CLOSED).exists():
                success += " " + _("Every line is received or cancelled: the requisition is closed.")

    def render_page(fragment: bool):
        fresh = visible_requisitions(request.user).get(pk=pk)
        context = _detail_context(request, fresh, outcome=outcome, success=success if outcome.ok else "")
        template = "coordination/_requisition_panel.html" if fragment else "coordination/requisition_detail.html"
        return render(request, template, context)

    return finish(
        request,
        outcome,
        render=render_page,
        redirect_to=reverse("requisition-detail-page", args=[pk]),
        success=success,
    )


def sourcing_report(plan: requisitions.SourcingPlan, *, submitted: bool = False) -> str:
    """What a submission or a re-sourcing did, in words: the requests raised per line (a substitute said so), and
    what no source could cover."""
    parts = []
    for a in plan.allocations:
        values = {
            "line": a.line.number,
            "n": a.quantity,
            "nsn": a.stock.item.nsn,
            "nation": a.stock.nation.code,
            "center": a.stock.center.code,
        }
        if a.substitute_for is not None:
            parts.append(_("line %(line)s: %(n)s of substitute %(nsn)s from %(nation)s at %(center)s") % values)
        else:
            parts.append(_("line %(line)s: %(n)s from %(nation)s at %(center)s") % values)
    n = len(plan.allocations)
    if n:
        text = ngettext("%(n)s request raised (%(parts)s).", "%(n)s requests raised (%(parts)s).", n) % {
            "n": n,
            "parts": "; ".join(parts),
        }
    else:
        text = _("No source could supply any of it.")
    if submitted:
        text = _("Submitted.") + " " + text
    if plan.uncovered:
        uncovered = "; ".join(
            _("line %(line)s: %(n)s") % {"line": line, "n": left} for line, left in sorted(plan.uncovered.items())
        )
        text += " " + _("Still outstanding, for no source could cover it: %(lines)s.") % {"lines": uncovered}
    return text
