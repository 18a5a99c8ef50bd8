"""The webhooks as part of the contract: what the portal POSTs to a national system, in the OpenAPI document's
``webhooks`` section (OpenAPI 3.1), one entry per event, so an integrator generates or checks the receiving side
from the same document as the API.

Every delivery is ``POST <endpoint url>`` with a JSON body ``{"event", "occurred_at", "data"}`` (``events.envelope``)
and the headers below; the receiver answers any 2xx within ``WEBHOOK_TIMEOUT_SECONDS`` or the delivery is retried
with exponential backoff (``WEBHOOK_MAX_ATTEMPTS``).  Listed in settings (``SPECTACULAR_SETTINGS["WEBHOOKS"]``).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiWebhook, extend_schema
from rest_framework import serializers

from coordination.models import EventType

from .serializers import ShortfallSerializer, SupplyRequestSerializer

SIGNATURE_HELP = (
    "Verify before trusting a delivery: `X-Alliance-Signature: t=<unix time>,v1=<hex>`, where hex is "
    'HMAC-SHA256(endpoint secret, "<t>." + raw body). Recompute it over the raw bytes received, compare in constant '
    "time, and refuse a `t` more than 5 minutes from your clock (a replay). `X-Alliance-Delivery` is the delivery's "
    "id: the same id means the same delivery sent again after a failed attempt; process it once. A redelivery asked "
    "for by the nation (`POST /webhooks/{id}/redeliver/`) has a new id and the same body."
)

HEADERS = [
    OpenApiParameter("X-Alliance-Signature", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
    OpenApiParameter("X-Alliance-Event", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
    OpenApiParameter("X-Alliance-Delivery", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
]


def _envelope(name: str, event_help: str, data) -> type[serializers.Serializer]:
    fields = {
        "event": serializers.CharField(help_text=event_help),
        "occurred_at": serializers.DateTimeField(help_text="When the event happened."),
        "data": data,
    }
    return type(name, (serializers.Serializer,), fields)


class PingData(serializers.Serializer):
    endpoint = serializers.IntegerField(help_text="The endpoint's id.")
    nation = serializers.CharField(help_text="The nation whose endpoint it is.")
    url = serializers.URLField(help_text="Where it was sent.")


class RequisitionClosedData(serializers.Serializer):
    id = serializers.IntegerField(help_text="The requisition's id: GET /api/v1/requisitions/{id}/ for its lines.")
    reference = serializers.CharField(help_text="RQN-000123.")
    status = serializers.CharField(help_text="closed: every line received or cancelled.")


RequestEventPayload = _envelope(
    "WebhookRequestEvent", "request.submitted, request.approved, ...", SupplyRequestSerializer()
)
ShortfallEventPayload = _envelope("WebhookShortfallEvent", "shortfall.critical", ShortfallSerializer())
PingPayload = _envelope("WebhookPing", "ping", PingData())
RequisitionClosedPayload = _envelope("WebhookRequisitionClosed", "requisition.closed", RequisitionClosedData())


def _webhook(event: str, payload, description: str) -> OpenApiWebhook:
    return OpenApiWebhook(
        name=str(event),
        decorator=extend_schema(
            summary=str(EventType(event).label),
            description=f"{description}\n\n{SIGNATURE_HELP}",
            parameters=HEADERS,
            request={"application/json": payload},
            responses={200: None},
        ),
    )


REQUEST_EVENTS = {
    EventType.REQUEST_SUBMITTED: "A request to or from the nation was submitted (sent to both nations' systems).",
    EventType.REQUEST_APPROVED: "A request was approved, possibly for less (quantity_approved).",
    EventType.REQUEST_REJECTED: "A request was rejected; the reason is in its timeline.",
    EventType.REQUEST_DISPATCHED: "A request was dispatched from the source center.",
    EventType.REQUEST_RECEIVED: "A request was received at the destination (quantity_received may be short).",
}

WEBHOOKS = [
    *[_webhook(event, RequestEventPayload, text) for event, text in REQUEST_EVENTS.items()],
    _webhook(
        EventType.SHORTFALL_CRITICAL,
        ShortfallEventPayload,
        "A new critical shortfall of one of the nation's stocks (one delivery per flag).",
    ),
    _webhook(
        EventType.REQUISITION_CLOSED,
        RequisitionClosedPayload,
        "Every line of one of the nation's requisitions was received or cancelled: it closed (sent to the "
        "requesting nation's system only; a supplier hears of its own requests through the request events).",
    ),
    _webhook(EventType.PING, PingPayload, "A test delivery, sent only when asked (POST /webhooks/{id}/ping/)."),
]
