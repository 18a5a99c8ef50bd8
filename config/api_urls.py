"""REST API v1 for national systems: one router over the apps' viewsets, plus the schema and its docs."""

from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from coordination.api import requisitions as coordination_requisitions
from coordination.api import shipments as coordination_shipments
from coordination.api import views as coordination
from inventory.api import views as inventory
from nations.api import views as nations

router = DefaultRouter()
router.register("nations", inventory.NationViewSet, basename="nation")
router.register("centers", inventory.CenterViewSet, basename="center")
router.register("items", inventory.ItemViewSet, basename="item")
router.register("stocks", inventory.StockViewSet, basename="stock")
router.register("movements", inventory.MovementViewSet, basename="movement")
router.register("stock-reports", inventory.StockReportViewSet, basename="stock-report")
router.register("requests", coordination.SupplyRequestViewSet, basename="request")
router.register("shortfalls", coordination.ShortfallViewSet, basename="shortfall")
router.register("discrepancies", coordination.DiscrepancyViewSet, basename="discrepancy")
router.register("reconciliations", coordination.ReconciliationRunViewSet, basename="reconciliation")
router.register("notifications", coordination.NotificationViewSet, basename="notification")
router.register("webhooks", coordination.WebhookEndpointViewSet, basename="webhook")
router.register("shipments", coordination_shipments.ShipmentViewSet, basename="shipment")
router.register("requisitions", coordination_requisitions.RequisitionViewSet, basename="requisition")
router.register("audit-events", nations.AuditEntryViewSet, basename="audit-event")

api_v1 = [
    # before the router's routes, whose requests/{pk}/ would take "bulk-decide" for an id
    path(
        "requests/bulk-decide/",
        coordination_requisitions.RequestBulkDecisionViewSet.as_view({"post": "create"}),
        name="request-bulk-decide",
    ),
    *router.urls,
    path("sourcing/", coordination.SourcingView.as_view(), name="sourcing"),
]

docs_csp = csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["data:", "'self'"], "worker-src": ["blob:"]})

schema_urls = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up code as a file: no inline script, as the CSP demands.  Both
    # UIs set styles at run time, so only their pages allow inline styles.
    path("docs/", docs_csp(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("redoc/", docs_csp(SpectacularRedocView.as_view(url_name="schema")), name="api-redoc"),
]
