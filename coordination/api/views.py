"""Coordination API: supply requests and their lifecycle actions, flags, reconciliation runs, sourcing."""

from django.db.models import Prefetch, prefetch_related_objects
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from coordination import lifecycle, services
from coordination.filters import (
    DiscrepancyFilter,
    NotificationFilter,
    ReconciliationRunFilter,
    ShortfallFilter,
    SupplyRequestFilter,
)
from coordination.lifecycle import Transition
from coordination.models import (
    Discrepancy,
    Notification,
    ReconciliationRun,
    RequestEvent,
    Shortfall,
    SupplyRequest,
    WebhookEndpoint,
)
from coordination.run_findings import disclose_findings
from coordination.runs import start_reconciliation
from coordination.sourcing import sourcing_options
from core.api.base import PortalGenericViewSet, etag_for
from core.prepared import prepared_statements
from nations import access
from nations.models import Nation

from . import serializers as s

# a request's timeline with its actors, for the detail answer
TIMELINE = Prefetch("events", queryset=RequestEvent.objects.select_related("actor"))


# ?ordering=priority: by priority designator, 01 (most pressing) first, not alphabetical; urgent, priority and
# routine raised at the default FAD IV are 07, 09 and 14, the order they always had.  Queues add the required-by
# date (coordination.designators.QUEUE_ORDER): ?ordering=priority,required_by.
PRIORITY_RANK = "priority_designator"


class SupplyRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, PortalGenericViewSet
):
    """Cross-nation supply requests.  Transitions are POSTs to ``/requests/{id}/{action}/``."""

    queryset = SupplyRequest.objects.select_related(
        "requesting_nation", "supplying_nation", "source_center", "destination_center", "item", "created_by"
    )
    filterset_class = SupplyRequestFilter
    ordering_fields = {
        "id": "id",
        "created_at": "created_at",
        "updated_at": "updated_at",
        "required_by": "required_by",
        "priority": PRIORITY_RANK,  # the designator: 01 first, not alphabetical
        "priority_designator": "priority_designator",
        "status": "status",
    }
    ordering = ["-id"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(TIMELINE)
        return queryset

    # handler name -> its row of the lifecycle table (filled by `_add_transition_actions` below)
    transition_actions: dict[str, Transition] = {}

    def get_serializer_class(self):
        if self.action in self.transition_actions:
            return s.transition_serializer(self.transition_actions[self.action])
        return {
            "create": s.SupplyRequestCreateSerializer,
            "retrieve": s.SupplyRequestDetailSerializer,
        }.get(self.action, s.SupplyRequestSerializer)

    def _detail(self, request_obj, code=status.HTTP_200_OK, *, in_hand: bool = False):
        """The request's detail answer, with its ETag.  Visibility was settled when it was fetched for the action.
        `in_hand`: `request_obj` is the row the service locked and changed, with its nations, item, centers and
        author loaded; only its timeline is read.  Otherwise it is re-read by key."""
        if in_hand:
            with prepared_statements():
                prefetch_related_objects([request_obj], TIMELINE)
            fresh = request_obj
        else:
            fresh = self.queryset.prefetch_related(TIMELINE).get(pk=request_obj.pk)
        response = Response(s.SupplyRequestDetailSerializer(fresh).data, status=code)
        response["ETag"] = etag_for(fresh)
        return response

    def visible_one(self, pk):
        """The caller's visible requests narrowed to `pk` (not read yet): what a transition locks and reads once.
        An id that is not a number is no request: 404, as DRF's get_object answers."""
        try:
            return self.get_queryset().filter(pk=int(pk))
        except (TypeError, ValueError):
            raise NotFound() from None

    def _payload(self):
        # Actions fetch their request first: one the caller may not see answers 404 whatever the body holds.
        serializer = self.get_serializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(request=s.SupplyRequestCreateSerializer, responses={201: s.SupplyRequestDetailSerializer})
    def create(self, request, *args, **kwargs):
        data = self._payload()
        requesting = data.get("requesting_nation") or own_nation(
            request.user, refusal="Only a nation's logistics officers raise requests."
        )
        created = services.create_request(
            requester=request.user,
            requesting_nation=requesting,
            supplying_nation=data["supplying_nation"],
            item=data["nsn"],
            source_center=data["source_center"],
            destination_center=data["destination_center"],
            quantity=data["quantity"],
            required_by=data["required_by"],
            justification=data["justification"],
            priority=data["priority"],
            submit=data["submit"],
        )
        return self._detail(created, status.HTTP_201_CREATED)


def own_nation(user, *, refusal) -> Nation:
    """The nation a caller raises for when the payload names none (a request, a requisition): the one it is a
    logistics officer of; 400 when it is one of several, 403 (`refusal`) when it is none."""
    own = access.profile(user).logistics_nations
    if len(own) > 1:  # bad input, not a refused right: say which field is missing
        raise ValidationError({"requesting_nation": ["You act for several nations: name one."]})
    if not own:
        raise PermissionDenied(str(refusal))
    return Nation.objects.get(pk=next(iter(own)))


def _transition_action(row: Transition, name: str):
    """``POST /requests/{id}/{row.action}/``: the row's transition through ``services.make_transition``."""

    def transition(self, request, pk=None, format=None):
        # The service locks the row among the caller's visible ones (one read for visibility and lock; no list
        # filters, no ordering), and the answer is built from the row it changed.
        target = self.visible_one(pk)
        try:
            data = self._payload()
        except ValidationError:
            if not target.exists():  # one the caller may not see answers 404 whatever the body holds
                raise NotFound() from None
            raise
        try:
            moved = services.make_transition(action=row.action, request=target, actor=request.user, **data)
        except SupplyRequest.DoesNotExist:
            raise NotFound() from None
        return self._detail(moved, in_hand=True)

    # named before @action reads the name (its method mapping and the viewset's `action` are this name)
    transition.__name__ = transition.__qualname__ = name
    routed = action(detail=True, methods=["post"], url_path=row.action, url_name=row.action, name=row.action.title())
    schema = extend_schema(request=s.transition_serializer(row), responses={200: s.SupplyRequestDetailSerializer})
    return schema(routed(transition))


def _add_transition_actions(viewset) -> None:
    """One extra action per row of the lifecycle table, each with its own schema."""
    for row in lifecycle.TRANSITIONS:
        # a name the viewset already has ('dispatch' is every view's entry point) gets a trailing underscore
        name = f"{row.action}_" if hasattr(viewset, row.action) else row.action
        setattr(viewset, name, _transition_action(row, name))
        viewset.transition_actions = {**viewset.transition_actions, name: row}


_add_transition_actions(SupplyRequestViewSet)
# the POSTs whose answer is the request itself, with its new ETag (documented in the schema)
SupplyRequestViewSet.etag_actions = ("create", *SupplyRequestViewSet.transition_actions)


class FlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    ordering_fields = ["id", "first_seen", "last_seen", "severity", "updated_at"]
    ordering = ["-id"]

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None, format=None):
        flag = services.acknowledge_flag(flag=self.get_object(), user=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=flag.pk)).data)


class ShortfallViewSet(FlagViewSet):
    """Shortfalls: below safety, low days of supply, unmet demand.  Raised and resolved by the jobs."""

    # the center's last pass is an open flag's last sighting
    queryset = Shortfall.objects.select_related("nation", "center__last_pass", "item", "acknowledged_by")
    serializer_class = s.ShortfallSerializer
    filterset_class = ShortfallFilter


class DiscrepancyViewSet(FlagViewSet):
    """Discrepancies: the books do not reconcile (ledger, reservations, counts, overdue, short receipts).
    A count discrepancy is settled by the owning nation's logistics officers: accept the count or reject it."""

    queryset = Discrepancy.objects.select_related("request", "acknowledged_by")
    serializer_class = s.DiscrepancySerializer
    filterset_class = DiscrepancyFilter

    @extend_schema(request=s.ResolveDiscrepancySerializer, responses={200: s.DiscrepancySerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None, format=None):
        discrepancy = self.get_object()  # first: one the caller may not see answers 404 whatever the body holds
        payload = s.ResolveDiscrepancySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        resolved = services.resolve_count_discrepancy(
            discrepancy=discrepancy,
            user=request.user,
            accept=payload.validated_data["accept"],
            comment=payload.validated_data["comment"],
        )
        return Response(s.DiscrepancySerializer(self.get_queryset().get(pk=resolved.pk)).data)


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    """The caller's own notifications; ``?unread=true`` for the unread ones."""

    queryset = Notification.objects.all()
    serializer_class = s.NotificationSerializer
    filterset_class = NotificationFilter
    ordering = ["-id"]

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None, format=None):
        note = self.get_object()
        services.mark_notifications_read(user=request.user, ids=[note.pk])
        note.refresh_from_db()
        return Response(self.get_serializer(note).data)

    @extend_schema(request=None, responses={200: {"type": "object", "properties": {"marked": {"type": "integer"}}}})
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request, format=None):
        return Response({"marked": services.mark_notifications_read(user=request.user)})


class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    PortalGenericViewSet,
):
    """A nation's webhook endpoints, managed by its logistics officers and national system.  Deliveries are
    POSTs signed ``X-Alliance-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""

    queryset = WebhookEndpoint.objects.select_related("nation")
    serializer_class = s.WebhookEndpointSerializer
    ordering = ["id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        own = access.profile(self.request.user).logistics_nations
        if len(own) != 1:
            raise PermissionDenied("Only a nation's logistics officers or national system register webhooks.")
        nation = Nation.objects.get(pk=next(iter(own)))
        serializer.instance = services.register_webhook(
            nation=nation, owner=self.request.user, **serializer.validated_data
        )

    @extend_schema(responses={200: s.WebhookDeliverySerializer(many=True)})
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None, format=None):
        endpoint = self.get_object()
        page = self.paginate_queryset(endpoint.deliveries.order_by("-id"))
        return self.get_paginated_response(s.WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: s.WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def ping(self, request, pk=None, format=None):
        """Send the endpoint one signed test delivery (event `ping`) now and answer how it went: status,
        the receiver's HTTP status or the class of error. One attempt, no retries."""
        delivery = services.ping_webhook(endpoint=self.get_object(), actor=request.user)
        return Response(s.WebhookDeliverySerializer(delivery).data)

    @extend_schema(request=s.RedeliverySerializer, responses={202: s.WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None, format=None):
        """Send a past delivery of this endpoint again (`{"delivery": <id>}`): a new delivery with the same event
        and payload, queued (202); follow it in `deliveries/`."""
        endpoint = self.get_object()
        serializer = s.RedeliverySerializer(data=request.data, context={"endpoint": endpoint})
        serializer.is_valid(raise_exception=True)
        again = services.redeliver_webhook(delivery=serializer.validated_data["delivery"], actor=request.user)
        return Response(s.WebhookDeliverySerializer(again).data, status=status.HTTP_202_ACCEPTED)


class ReconciliationRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    """Reconciliation runs with their progress (visible to every authenticated caller; a nation's officers see
    counts of the findings they may see, ``run_findings``).
    POST starts one: coordinators for all centers or one, operators for their own center."""

    queryset = ReconciliationRun.objects.select_related("center", "started_by")
    serializer_class = s.ReconciliationRunSerializer
    filterset_class = ReconciliationRunFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        disclose_findings(page or [], self.request.user)  # one query for the page
        return page

    def get_object(self):
        run = super().get_object()
        disclose_findings([run], self.request.user)
        return run

    @extend_schema(request=s.StartReconciliationSerializer, responses={202: s.ReconciliationRunSerializer})
    def create(self, request, *args, **kwargs):
        payload = s.StartReconciliationSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        run = start_reconciliation(user=request.user, center=payload.validated_data.get("center"), trigger="api")
        run = self.get_queryset().get(pk=run.pk)
        return Response(s.ReconciliationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SourcingView(APIView):
    """Where can `quantity` of `nsn` come from for `destination`: shared stocks of other nations that stay at
    or above their safety level after supplying it, nearest first."""

    @extend_schema(parameters=[s.SourcingQuerySerializer], responses={200: s.SourcingOptionSerializer(many=True)})
    def get(self, request):
        query = s.SourcingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        p = access.profile(request.user)
        options = sourcing_options(
            user=request.user,
            item=query.validated_data["nsn"],
            quantity=query.validated_data["quantity"],
            destination=query.validated_data["destination"],
            exclude_nation_ids=p.logistics_nations,
        )
        return Response(s.SourcingOptionSerializer(options, many=True).data)
