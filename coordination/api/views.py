"""Coordination API: supply requests and their lifecycle actions, flags, reconciliation runs, sourcing."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from coordination import services
from coordination.filters import (
    DiscrepancyFilter,
    ReconciliationRunFilter,
    ShortfallFilter,
    SupplyRequestFilter,
)
from coordination.models import Discrepancy, ReconciliationRun, RequestEvent, Shortfall, SupplyRequest
from coordination.sourcing import sourcing_options
from nations import access
from nations.api.base import ETagMixin, PortalGenericViewSet
from nations.models import Nation

from . import serializers as s


class SupplyRequestViewSet(ETagMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                           PortalGenericViewSet):
    """Cross-nation supply requests.  Transitions are POSTs to ``/requests/{id}/{action}/``."""

    filterset_class = SupplyRequestFilter
    ordering_fields = ["id", "created_at", "updated_at", "required_by", "priority"]
    ordering = ["-id"]

    def get_queryset(self):
        queryset = SupplyRequest.objects.visible_to(self.request.user).select_related(
            "requesting_nation", "supplying_nation", "source_center", "destination_center", "item", "created_by"
        )
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                Prefetch("events", queryset=RequestEvent.objects.select_related("actor"))
            )
        return queryset

    def get_serializer_class(self):
        return {
            "create": s.SupplyRequestCreateSerializer,
            "retrieve": s.SupplyRequestDetailSerializer,
            "submit": s.CommentSerializer,
            "cancel": s.CommentSerializer,
            "dispatch_": s.CommentSerializer,
            "approve": s.ApproveSerializer,
            "reject": s.RejectSerializer,
            "receive": s.ReceiveSerializer,
        }.get(self.action, s.SupplyRequestSerializer)

    def _detail(self, request_obj, code=status.HTTP_200_OK):
        fresh = self.get_queryset().prefetch_related(
            Prefetch("events", queryset=RequestEvent.objects.select_related("actor"))
        ).get(pk=request_obj.pk)
        response = Response(s.SupplyRequestDetailSerializer(fresh).data, status=code)
        from nations.api.base import etag_for

        response["ETag"] = etag_for(fresh)
        return response

    def _payload(self):
        serializer = self.get_serializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(request=s.SupplyRequestCreateSerializer, responses={201: s.SupplyRequestDetailSerializer})
    def create(self, request, *args, **kwargs):
        data = self._payload()
        requesting = data.get("requesting_nation")
        if requesting is None:
            own = access.profile(request.user).logistics_nations
            if len(own) != 1:
                raise PermissionDenied("Name the requesting_nation: you do not act for exactly one nation.")
            requesting = Nation.objects.get(pk=next(iter(own)))
        created = services.create_request(
            requester=request.user, requesting_nation=requesting, supplying_nation=data["supplying_nation"],
            item=data["nsn"], source_center=data["source_center"], destination_center=data["destination_center"],
            quantity=data["quantity"], required_by=data["required_by"], justification=data["justification"],
            priority=data["priority"], submit=data["submit"],
        )
        return self._detail(created, status.HTTP_201_CREATED)

    @extend_schema(request=s.CommentSerializer, responses={200: s.SupplyRequestDetailSerializer})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        data = self._payload()
        return self._detail(services.submit_request(request=self.get_object(), actor=request.user,
                                                    comment=data["comment"]))

    @extend_schema(request=s.ApproveSerializer, responses={200: s.SupplyRequestDetailSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = self._payload()
        return self._detail(services.approve_request(request=self.get_object(), approver=request.user,
                                                     quantity=data.get("quantity"), comment=data["comment"]))

    @extend_schema(request=s.RejectSerializer, responses={200: s.SupplyRequestDetailSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = self._payload()
        return self._detail(services.reject_request(request=self.get_object(), approver=request.user,
                                                    reason=data["reason"]))

    @extend_schema(request=s.CommentSerializer, responses={200: s.SupplyRequestDetailSerializer})
    @action(detail=True, methods=["post"], url_path="dispatch", url_name="dispatch")
    def dispatch_(self, request, pk=None):
        data = self._payload()
        return self._detail(services.dispatch_request(request=self.get_object(), actor=request.user,
                                                      comment=data["comment"]))

    @extend_schema(request=s.ReceiveSerializer, responses={200: s.SupplyRequestDetailSerializer})
    @action(detail=True, methods=["post"])
    def receive(self, request, pk=None):
        data = self._payload()
        return self._detail(services.receive_request(request=self.get_object(), actor=request.user,
                                                     quantity=data.get("quantity"), comment=data["comment"]))

    @extend_schema(request=s.CommentSerializer, responses={200: s.SupplyRequestDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = self._payload()
        return self._detail(services.cancel_request(request=self.get_object(), actor=request.user,
                                                    comment=data["comment"]))


class FlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    ordering_fields = ["id", "first_seen", "last_seen", "severity", "updated_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return self.queryset.model.objects.visible_to(self.request.user).select_related(
            *self.related, "acknowledged_by"
        )

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        flag = services.acknowledge_flag(flag=self.get_object(), user=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=flag.pk)).data)


class ShortfallViewSet(FlagViewSet):
    """Shortfalls: below safety, low days of supply, unmet demand.  Raised and resolved by the jobs."""

    queryset = Shortfall.objects.all()
    serializer_class = s.ShortfallSerializer
    filterset_class = ShortfallFilter
    related = ("nation", "center", "item")


class DiscrepancyViewSet(FlagViewSet):
    """Discrepancies: the books do not reconcile (ledger, reservations, counts, overdue, short receipts)."""

    queryset = Discrepancy.objects.all()
    serializer_class = s.DiscrepancySerializer
    filterset_class = DiscrepancyFilter
    related = ("request",)


class ReconciliationRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalGenericViewSet):
    """Reconciliation runs with their progress (visible to every authenticated caller: no national data)."""

    queryset = ReconciliationRun.objects.select_related("center", "started_by")
    serializer_class = s.ReconciliationRunSerializer
    filterset_class = ReconciliationRunFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]


class SourcingView(APIView):
    """Where can `quantity` of `nsn` come from for `destination`: shared stocks of other nations that stay at
    or above their safety level after supplying it, nearest first."""

    @extend_schema(parameters=[s.SourcingQuerySerializer], responses={200: s.SourcingOptionSerializer(many=True)})
    def get(self, request):
        query = s.SourcingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        p = access.profile(request.user)
        options = sourcing_options(user=request.user, item=query.validated_data["nsn"],
                                   quantity=query.validated_data["quantity"],
                                   destination=query.validated_data["destination"],
                                   exclude_nation_ids=p.logistics_nations)
        return Response(s.SourcingOptionSerializer(options, many=True).data)


