"""REST API v1 for national systems: one router over the apps' viewsets, plus the schema and its docs."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from coordination.api import views as coordination
from inventory.api import views as inventory

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

api_v1 = [
    *router.urls,
    path("sourcing/", coordination.SourcingView.as_view(), name="sourcing"),
]

schema_urls = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
