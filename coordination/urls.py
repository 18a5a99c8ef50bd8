from django.urls import path

from core.web import public_page

from . import queue_views, requisition_views, shipment_views, views

urlpatterns = [
    path("requests/", views.request_list, name="request-list"),
    # a form over reference data (nations, centers, items): it reads no restricted rows
    path("requests/new/", public_page(views.request_new), name="request-new"),
    path("requests/sourcing/", views.request_sourcing, name="request-sourcing"),
    path("requests/approvals/", queue_views.approval_queue, name="approval-queue"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail-page"),
    path("requests/<int:pk>/<str:action>/", views.request_action, name="request-action"),
    path("requisitions/", requisition_views.requisition_list, name="requisition-list"),
    path("requisitions/new/", requisition_views.requisition_new, name="requisition-new"),
    path("requisitions/<int:pk>/", requisition_views.requisition_detail, name="requisition-detail-page"),
    path("requisitions/<int:pk>/<str:action>/", requisition_views.requisition_action, name="requisition-action"),
    path("shipments/", shipment_views.shipment_list, name="shipment-list"),
    path("shipments/new/", shipment_views.shipment_new, name="shipment-new"),
    path("shipments/<int:pk>/", shipment_views.shipment_detail, name="shipment-detail-page"),
    path("shipments/<int:pk>/receive/", shipment_views.shipment_receive, name="shipment-receive"),
    path("shortfalls/", views.shortfall_list, name="shortfall-list"),
    path("shortfalls/acknowledge/", views.shortfall_acknowledge, name="shortfall-acknowledge"),
    path("discrepancies/", views.discrepancy_list, name="discrepancy-list"),
    path("discrepancies/<int:pk>/resolve/", views.discrepancy_resolve, name="discrepancy-resolve"),
    path("flags/<str:kind>/<int:pk>/acknowledge/", views.flag_acknowledge, name="flag-acknowledge"),
    path("reconciliation/", views.reconciliation_list, name="reconciliation-list"),
    path("reconciliation/start/", views.reconciliation_start, name="reconciliation-start"),
    path("reconciliation/<int:pk>/progress/", views.reconciliation_progress, name="reconciliation-progress"),
    path("notifications/", views.notification_list, name="notification-list"),
    path("notifications/read/", views.notification_read, name="notification-read-all"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
]
