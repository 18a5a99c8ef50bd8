"""``/api/v1/requisitions/``: a nation's list of needs for one destination, sourced line by line into supply
requests (the rules are the services' of ``coordination.requisitions``; this module reads payloads and answers).

- The requesting nation, the destination's operators and coordinators see a requisition whole; a supplier (the
  officers of a nation it was sourced from, the operators of a source center) sees only the lines addressed to it,
  only its own requests of them, and figures of its own part (``partial``).  Whatever the caller may not see
  answers 404.
- ``submit``, ``resource``, ``cancel-lines``, ``cancel``: the requester's actions; ``decide``: the suppliers' liaison
  officers approve or reject the requests addressed to them, each request in its own transaction.
- ``POST /api/v1/requests/bulk-decide/`` decides up to 200 requests at once, whatever their requisition.

A detail's ETag covers the requisition and the requests shown in it: a supplier's approval changes it.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager

import django_filters
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Q
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from coordination import events, requisitions, services
from coordination.api.views import own_nation
from coordination.models import RequestStatus, Requisition, RequisitionLine, RequisitionStatus, SupplyRequest
from coordination.requisition_state import with_figures
from core.api.base import PortalGenericViewSet, etag_for, not_modified
from core.api.problems import PROBLEM_CONTENT_TYPE, problem_body
from core.errors import Conflict
from core.filters import CodeFilter, PortalFilterSet
from inventory.filters import center_choices
from nations import access
from nations.access import Party, visibility
from nations.filters import nation_choices

from . import requisition_serializers as s


class RequisitionFilter(PortalFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RequisitionStatus.choices)
    requesting_nation = CodeFilter(field_name="requesting_nation__code", choices=nation_choices)
    destination_center = CodeFilter(field_name="destination_center__code", choices=center_choices)
    reference = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Requisition
        fields = ["status", "requesting_nation", "destination_center", "reference", "updated_after"]


# --- what the caller sees of a requisition -------------------------------------------------------------------------


def as_seen(requisition: Requisition, user) -> Requisition:
    """`requisition` with the lines and requests `user` may see, and their figures (``shown_lines``).  Two queries
    whatever the number of lines: the requests, then the lines with their figures.

    A supplier's lines are those its visible requests source (``visibility.requisition_line``'s rule for it), and
    their figures are sums of those requests only; the backorder and what the requester cancelled are not its to
    read (null)."""
    partial = not requisitions.sees_whole(user, requisition)
    requests = SupplyRequest.objects.visible_to(user) if partial else SupplyRequest.objects.all()
    shown_requests = list(
        requests.filter(requisition=requisition)
        .select_related("supplying_nation", "source_center", "item", "substitute_for")
        .order_by("id")
    )
    lines = RequisitionLine.objects.filter(requisition=requisition).select_related("item").order_by("number")
    if partial:
        lines = lines.filter(pk__in={r.requisition_line_id for r in shown_requests})
    lines = list(with_figures(lines, requests=requests if partial else None))
    by_line: dict[int, list[SupplyRequest]] = {}
    for r in shown_requests:
        by_line.setdefault(r.requisition_line_id, []).append(r)
    for line in lines:
        line.shown_requests = by_line.get(line.pk, [])
        line.shown_cancelled = None if partial else line.cancelled
        line.shown_outstanding = None if partial else line.outstanding
    requisition.shown_lines = lines
    requisition.partial = partial
    requisition.line_count = len(lines)
    requisition.lines_outstanding = None if partial else sum(1 for line in lines if line.outstanding > 0)
    # the representation changes with any request shown in it, not only with the requisition's own version
    marker = ":".join([etag_for(requisition), *(f"{r.pk}.{r.version}" for r in shown_requests)])
    requisition.etag = '"' + hashlib.sha256(marker.encode()).hexdigest()[:32] + '"'
    return requisition


def summarize(rows: list[Requisition], user) -> None:
    """Each row's ``line_count`` and ``lines_outstanding`` as `user` sees it: at most two queries for a page, over
    the lines of the page's requisitions only."""
    whole = {r.pk for r in rows if requisitions.sees_whole(user, r)}
    part = [r.pk for r in rows if r.pk not in whole]
    counts: dict[int, tuple[int, int | None]] = {}
    if whole:
        per_requisition = (
            with_figures(RequisitionLine.objects.filter(requisition_id__in=whole))
            .order_by()
            .values("requisition_id")
            .annotate(n=Count("id"), short=Count("id", filter=Q(outstanding__gt=0)))
            .values_list("requisition_id", "n", "short")
        )
        counts.update({pk: (n, short) for pk, n, short in per_requisition})
    if part:  # a supplier: the lines its requests source
        per_requisition = (
            SupplyRequest.objects.visible_to(user)
            .filter(requisition_id__in=part)
            .order_by()
            .values("requisition_id")
            .annotate(n=Count("requisition_line", distinct=True))
            .values_list("requisition_id", "n")
        )
        counts.update({pk: (n, None) for pk, n in per_requisition})
    for r in rows:
        r.partial = r.pk not in whole
        r.line_count, r.lines_outstanding = counts.get(r.pk, (0, None if r.partial else 0))


# --- input helpers -------------------------------------------------------------------------------------------------

_SERVICE_LINE_PATH = re.compile(r"^lines\[(\d+)\]\.sources(.*)$")


@contextmanager
def paths_by_line_number(key: str):
    """The services name a line's sources ``lines[<index>].sources[k]`` (the index of the line in a new
    requisition); ``submit`` and ``resource`` take sources keyed by line number: name them ``<key>[<number>][k]``,
    as the payload's own errors are named."""
    try:
        yield
    except DjangoValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise

        def renamed(path: str) -> str:
            found = _SERVICE_LINE_PATH.match(path)
            return f"{key}[{int(found.group(1)) + 1}]{found.group(2)}" if found else path

        raise DjangoValidationError({renamed(path): errors for path, errors in exc.error_dict.items()}) from None


def _line_choices(raw: dict | None, key: str) -> dict[int, list]:
    """{"3": [sources]} -> {3: [sources]}; a key that is no line number is a 400 at its path."""
    if not raw:
        return {}
    bad = {f"{key}.{number}": [_("Not a line number.")] for number in raw if not str(number).isdigit()}
    if bad:
        raise ValidationError(bad)
    return {int(number): sources for number, sources in raw.items()}


def _check_lines_exist(requisition: Requisition, user, numbers, key: str) -> None:
    """400 for line numbers the requisition does not have (told only to whoever sees it whole: a supplier learns
    nothing of the lines not addressed to it, and is refused the requester's actions anyway)."""
    numbers = sorted(set(numbers))
    if not numbers or not requisitions.sees_whole(user, requisition):
        return
    existing = set(requisition.lines.filter(number__in=numbers).values_list("number", flat=True))
    missing = [n for n in numbers if n not in existing]
    if missing:
        raise ValidationError({f"{key}[{n}]": [_("There is no line %(n)s.") % {"n": n}] for n in missing})


# --- decisions, one transaction per request ------------------------------------------------------------------------


def _refusal(exc: Exception) -> tuple[int, str, str]:
    """(HTTP status, code, message) of a service's refusal, as the API's problem answers say them."""
    if isinstance(exc, DjangoPermissionDenied):
        return 403, "permission_denied", str(exc) or _("You may not do that.")
    if isinstance(exc, Conflict):
        return 409, exc.code, exc.message
    return 400, "invalid", " ".join(exc.messages)


def _decide(user, data: dict, request: SupplyRequest, quantity: int | None) -> SupplyRequest:
    if data["decision"] == "approve":
        return services.approve_request(request=request, approver=user, quantity=quantity, comment=data["comment"])
    return services.reject_request(request=request, approver=user, reason=data["reason"])


def decide_each(user, data: dict, targets: list[tuple[str | None, SupplyRequest | None, int | None, int | None]]):
    """Approve or reject each target (label, request or None when not found, its line number, the quantity to
    approve or None), each through its lifecycle service in a transaction of its own: a refusal is that row's
    answer alone.  Returns the rows and the HTTP status of the first refusal (None when none)."""
    rows, first_refusal = [], None
    with events.batched():  # the recipients and endpoints looked up once, the sending queued once
        _decide_rows(user, data, targets, rows)
    first_refusal = next((row["http_status"] for row in rows if "http_status" in row), None)
    for row in rows:
        row.pop("http_status", None)
    return rows, first_refusal


def _decide_rows(user, data: dict, targets, rows: list[dict]) -> None:
    for label, request, line, quantity in targets:
        row = {"request": label, "line": line, "ok": False, "status": None, "quantity_approved": None}
        refusal = None
        if request is None:
            unknown = _("No such request.") if label is not None else _("No request of this line is yours to decide.")
            refusal = (404, "not_found", unknown)
        else:
            row.update(request=request.reference, status=request.status, quantity_approved=request.quantity_approved)
            try:
                decided = _decide(user, data, request, quantity)
            except (DjangoPermissionDenied, Conflict, DjangoValidationError) as exc:
                refusal = _refusal(exc)
            else:
                row.update(ok=True, status=decided.status, quantity_approved=decided.quantity_approved)
        if refusal is not None:
            answer, code, message = refusal
            row.update(code=code, error=str(message), http_status=answer)
        rows.append(row)


def decision_answer(data: dict, rows: list[dict], first_refusal: int | None) -> Response:
    """200 when any request was decided (each row says how it went); when none was, the first refusal's status as a
    problem, with the rows."""
    decided = sum(row["ok"] for row in rows)
    body = {"decision": data["decision"], "decided": decided, "failed": len(rows) - decided, "results": rows}
    if decided or first_refusal is None:
        return Response(body)
    first = next(row for row in rows if not row["ok"])
    return Response(
        {**problem_body(first_refusal, first["error"], first["code"]), **body},
        status=first_refusal,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def _quantity_keys(raw: dict | None, known: set[str]) -> None:
    unknown = [key for key in raw or {} if key not in known]
    if unknown:
        raise ValidationError({f"quantities.{key}": [_("Not among the requests decided.")] for key in unknown})


# --- the viewsets --------------------------------------------------------------------------------------------------


class RequisitionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    """Requisitions: most pressing first (priority designator, then required delivery date); ``?ordering=-id`` for
    the newest first.  Actions are POSTs to ``/requisitions/{id}/{action}/``."""

    queryset = Requisition.objects.select_related("requesting_nation", "destination_center", "created_by")
    serializer_class = s.RequisitionSerializer
    filterset_class = RequisitionFilter
    ordering_fields = {
        "id": "id",
        "priority_designator": "priority_designator",
        "required_by": "required_by",
        "created_at": "created_at",
        "updated_at": "updated_at",
    }
    ordering = ["priority_designator", "required_by", "id"]
    # the POSTs whose answer is the requisition itself, with its ETag (documented in the schema)
    etag_actions = ("create", "submit", "cancel_lines", "cancel")

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None:
            summarize(page, self.request.user)
        return page

    def _payload(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _answer(self, requisition: Requisition, code: int = status.HTTP_200_OK, *, changed: bool = True) -> Response:
        # Visibility was settled when the requisition was fetched: re-read a changed one by key alone.
        if changed:
            requisition = self.queryset.get(pk=requisition.pk)
        shown = as_seen(requisition, self.request.user)
        if self.request.method == "GET" and not_modified(self.request, shown.etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": shown.etag})
        return Response(s.RequisitionDetailSerializer(shown).data, status=code, headers={"ETag": shown.etag})

    @extend_schema(responses={200: s.RequisitionDetailSerializer})
    def retrieve(self, request, *args, **kwargs):
        requisition = self.get_object()
        self._etag_object = None  # the ETag covers the requests shown too: set by _answer, not by the base
        return self._answer(requisition, changed=False)

    @extend_schema(request=s.RequisitionCreateSerializer, responses={201: s.RequisitionDetailSerializer})
    def create(self, request, *args, **kwargs):
        """Raise a requisition (a draft, or sourced and submitted at once with ``submit: true``)."""
        data = self._payload(s.RequisitionCreateSerializer)
        created = requisitions.create_requisition(
            requester=request.user,
            requesting_nation=data.get("requesting_nation")
            or own_nation(request.user, refusal=access.refusal("requisition.create")),
            destination_center=data["destination_center"],
            required_by=data["required_by"],
            justification=data["justification"],
            lines=data["lines"],
            urgency=data["urgency"],
            submit=data["submit"],
        )
        return self._answer(created, status.HTTP_201_CREATED)

    @extend_schema(request=s.RequisitionSubmitSerializer, responses={200: s.RequisitionDetailSerializer})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None, format=None):
        """Source every line (the choices given, the automatic plan for the others) and send the requests."""
        requisition = self.get_object()
        choices = _line_choices(self._payload(s.RequisitionSubmitSerializer).get("lines"), "lines")
        _check_lines_exist(requisition, request.user, choices, "lines")
        with paths_by_line_number("lines"):
            requisitions.submit_requisition(requisition=requisition, actor=request.user, choices=choices)
        return self._answer(requisition)

    @extend_schema(request=s.RequisitionResourceSerializer, responses={200: s.ResourceAnswerSerializer})
    @action(detail=True, methods=["post"])
    def resource(self, request, pk=None, format=None):
        """Source again what is outstanding on the lines named (all when none are): what was sourced, and what
        stays uncovered per line."""
        requisition = self.get_object()
        data = self._payload(s.RequisitionResourceSerializer)
        numbers = data.get("lines")
        choices = _line_choices(data.get("sources"), "sources")
        if numbers is not None:
            stray = [n for n in choices if n not in numbers]
            if stray:
                raise ValidationError(
                    {f"sources[{n}]": [_("Line %(n)s is not among the lines to re-source.") % {"n": n}] for n in stray}
                )
        _check_lines_exist(requisition, request.user, [*(numbers or []), *choices], "lines")
        with paths_by_line_number("sources"):
            plan = requisitions.resource_lines(
                requisition=requisition, actor=request.user, numbers=numbers, choices=choices
            )
        requisition.refresh_from_db(fields=["version"])
        sourced = (
            SupplyRequest.objects.filter(pk__in=[r.pk for r in plan.requests])
            .select_related("requisition_line", "supplying_nation", "source_center", "item", "substitute_for")
            .order_by("requisition_line__number", "id")
        )
        answer = {
            "id": requisition.pk,
            "reference": requisition.reference,
            "version": requisition.version,
            "sourced": sourced,
            "uncovered": [{"line": n, "quantity": q} for n, q in sorted(plan.uncovered.items())],
        }
        return Response(s.ResourceAnswerSerializer(answer).data)

    @extend_schema(request=s.RequisitionCancelLinesSerializer, responses={200: s.RequisitionDetailSerializer})
    @action(detail=True, methods=["post"], url_path="cancel-lines", url_name="cancel-lines")
    def cancel_lines(self, request, pk=None, format=None):
        """Give up what is outstanding on the lines named (all when none are); the requisition closes when nothing
        else is in flight."""
        requisition = self.get_object()
        numbers = self._payload(s.RequisitionCancelLinesSerializer).get("lines")
        _check_lines_exist(requisition, request.user, numbers or [], "lines")
        requisitions.cancel_lines(requisition=requisition, actor=request.user, numbers=numbers)
        return self._answer(requisition)

    @extend_schema(request=None, responses={200: s.RequisitionDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None, format=None):
        """Withdraw a draft (an open requisition gives up its outstanding lines instead: ``cancel-lines``)."""
        requisition = self.get_object()
        requisitions.cancel_requisition(requisition=requisition, actor=request.user)
        return self._answer(requisition)

    @extend_schema(request=s.RequisitionDecideSerializer, responses={200: s.DecisionAnswerSerializer})
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None, format=None):
        """A supplier's liaison officer approves or rejects the requests of this requisition addressed to their
        nation (every one still waiting, or those of the lines named), each in its own transaction."""
        requisition = self.get_object()
        data = self._payload(s.RequisitionDecideSerializer)
        p = access.profile(request.user)
        theirs = SupplyRequest.objects.filter(requisition=requisition).filter(
            visibility.party_condition(p, Party.SUPPLIER_LIAISON)
        )
        if not theirs.exists():
            raise PermissionDenied(_("None of this requisition's requests is yours to decide."))
        numbers = data.get("lines")
        chosen = theirs.select_related("requisition_line", "item", "source_center")
        if numbers is None:
            chosen = chosen.filter(status=RequestStatus.SUBMITTED)
        else:
            chosen = chosen.filter(requisition_line__number__in=numbers)
        chosen = list(chosen.order_by("requisition_line__number", "id"))
        if not chosen:
            raise Conflict(_("Nothing of %(requisition)s waits for your decision.") % {"requisition": requisition})
        quantities = data.get("quantities") or {}
        per_line: dict[int, list[SupplyRequest]] = {}
        for r in chosen:
            per_line.setdefault(r.requisition_line.number, []).append(r)
        _quantity_keys(quantities, {r.reference for r in chosen} | {str(n) for n in per_line})
        ambiguous = {
            f"quantities.{n}": [_("Line %(n)s has several requests to you: key the quantity by request.") % {"n": n}]
            for n, found in per_line.items()
            if str(n) in quantities and len(found) > 1
        }
        if ambiguous:
            raise ValidationError(ambiguous)
        targets = [
            (
                r.reference,
                r,
                r.requisition_line.number,
                quantities.get(r.reference, quantities.get(str(r.requisition_line.number))),
            )
            for r in chosen
        ]
        # lines named with no request of the caller's: the same answer whether the line exists or not
        targets += [(None, None, n, None) for n in sorted(set(numbers or [])) if n not in per_line]
        rows, first_refusal = decide_each(request.user, data, targets)
        return decision_answer(data, rows, first_refusal)


class RequestBulkDecisionViewSet(PortalGenericViewSet):
    """``POST /requests/bulk-decide/``: a liaison officer approves or rejects up to 200 requests at once, whatever
    their requisition; each request through its lifecycle service, in its own transaction; one result per request."""

    extra_problem_codes = ("404",)  # none of the requests named exists for the caller: the first refusal, 404

    queryset = SupplyRequest.objects.select_related("requisition_line", "item", "source_center")
    serializer_class = s.BulkDecideSerializer

    @extend_schema(request=s.BulkDecideSerializer, responses={200: s.DecisionAnswerSerializer})
    def create(self, request, *args, **kwargs):
        payload = s.BulkDecideSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        asked = list(dict.fromkeys(data["requests"]))  # in order, once each
        ids = [int(a) for a in asked if a.isdigit()]
        references = [a for a in asked if not a.isdigit()]
        found = list(self.get_queryset().filter(Q(pk__in=ids) | Q(reference__in=references)))
        by_key = {str(r.pk): r for r in found} | {r.reference: r for r in found}
        quantities = data.get("quantities") or {}
        _quantity_keys(quantities, set(asked))
        targets = []
        for key in asked:
            r = by_key.get(key)
            line = r.requisition_line.number if r is not None and r.requisition_line_id else None
            targets.append((key, r, line, quantities.get(key)))
        rows, first_refusal = decide_each(request.user, data, targets)
        return decision_answer(data, rows, first_refusal)
