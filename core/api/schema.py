"""OpenAPI: every operation also documents the problem+json errors it can answer (RFC 9457) and the headers of
the contract -- Idempotency-Key, If-Match, If-None-Match asked; ETag, Location, Retry-After, Idempotent-Replayed,
RateLimit and RateLimit-Policy answered -- so a generated client sends and reads them."""

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from .deprecation import deprecation_of
from .problems import PROBLEM_CONTENT_TYPE


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(
        allow_null=True, help_text="Path into the request body (quantity, lines[12].nsn); null: the body as a whole."
    )
    code = serializers.CharField(help_text="Machine-readable: required, invalid, min_value, does_not_exist, ...")
    message = serializers.CharField(help_text="For people, in the caller's language.")


class ProblemSerializer(serializers.Serializer):
    type = serializers.URLField(help_text="A URI naming the kind of problem.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="A short machine-readable code, e.g. insufficient_stock.")
    errors = FieldErrorSerializer(
        many=True, required=False, help_text="Validation errors (400 invalid): one flat list, one entry per message."
    )


PROBLEMS = {
    "400": "Invalid input; `errors` lists each message with its field path (`lines[12].nsn`). A NUL character "
    "anywhere in the request is refused too.",
    "401": "No valid credentials (token unknown, expired or revoked).",
    "403": "Visible, but the caller's role does not allow this.",
    "404": "Not found, or not visible to the caller (existence is not revealed); for a list, a page past the end.",
    "409": "Wrong state for this action, not enough stock, or the same Idempotency-Key still in progress.",
    "412": "If-Match does not match the current ETag: read again and retry.",
    "428": "If-Match is missing: a change must name the version it changes (the ETag of your last read, or *).",
    "415": "The body is not JSON (the API reads `application/json` only).",
    "422": "The Idempotency-Key was used with a different body.",
    "429": "Over the caller's budget; see Retry-After.",
    "503": "The database is unreachable for a moment; see Retry-After.",
}

CHANGES = ("PATCH", "PUT", "DELETE")
# the detail actions whose answer carries the resource's new ETag (GET/PATCH of any resource, request transitions)
ETAG_ACTIONS = ("retrieve", "update", "partial_update")


def _header(name: str, description: str, *, response=False, required=False, type_=OpenApiTypes.STR):
    return OpenApiParameter(
        name, type_, OpenApiParameter.HEADER, required=required, description=description, response=response
    )


RATE_LIMIT_HEADERS = [
    _header(
        "RateLimit",
        'Where the caller stands in its budget (draft-ietf-httpapi-ratelimit-headers): `"token";r=5999;t=42`, '
        "r calls remaining in this window, t seconds until it ends.",
        response=True,
    ),
    _header(
        "RateLimit-Policy",
        'The budget: `"token";q=6000;w=60`, q calls per window of w seconds (token, user or address).',
        response=True,
    ),
]


class PortalAutoSchema(AutoSchema):
    def _problem_codes(self) -> list[str]:
        codes = ["400", "401", "403", "429"]  # 400: invalid input, or a NUL anywhere (nations/middleware.py)
        method = self.method
        if "{" in self.path or (method == "GET" and self._is_list_view() and self._get_paginator()):
            codes.append("404")  # an object, or a page of a list past its end
        # a view may answer more, and says so (a bulk decision: 404 when none of the objects it names exists)
        codes += [code for code in getattr(self.view, "extra_problem_codes", ()) if code not in codes]
        if method in ("POST", "PATCH", "PUT", "DELETE"):
            codes.append("409")
        if method in CHANGES:
            codes += ["412", "428"] if settings.API_REQUIRE_IF_MATCH else ["412"]
        if method in ("POST", "PUT", "PATCH"):
            codes.append("415")
        if method == "POST":
            codes.append("422")
        codes.append("503")
        return sorted(codes)

    def _action(self) -> str | None:
        return getattr(self.view, "action", None)

    def _carries_etag(self) -> bool:
        # besides reads and changes, the POSTs whose answer is the resource itself (``etag_actions`` of the viewset)
        return self._action() in ETAG_ACTIONS or self._action() in getattr(self.view, "etag_actions", ())

    def is_deprecated(self):
        return deprecation_of(self.view) is not None or super().is_deprecated()

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(
                _header(
                    "Idempotency-Key",
                    "Any unique text (a UUID) of at most 255 characters. A retry with the same key and body replays "
                    "the first answer (with Idempotent-Replayed: true) without doing the work again; the same key "
                    "with another body is 422. Kept 24 hours.",
                )
            )
        if self.method in CHANGES:
            parameters.append(
                _header(
                    "If-Match",
                    "The ETag of your last read of this resource (or *: whatever the version). Stale: 412. "
                    "Missing: 428"
                    + ("" if settings.API_REQUIRE_IF_MATCH else " when API_REQUIRE_IF_MATCH is on")
                    + ".",
                    required=settings.API_REQUIRE_IF_MATCH,
                )
            )
        if self.method == "GET" and self._action() == "retrieve":
            parameters.append(
                _header("If-None-Match", "The ETag you hold: 304 without a body when the resource has not changed.")
            )
        parameters += RATE_LIMIT_HEADERS
        parameters.append(
            _header(
                "Retry-After",
                "Seconds to wait before trying again.",
                response=["429", "503"],
                type_=OpenApiTypes.INT,
            )
        )
        if self._carries_etag():
            parameters.append(
                _header(
                    "ETag",
                    "The version of the resource: send it as If-Match to change it.",
                    response=["200", "201", "304"],
                )
            )
        if self.method == "POST":
            parameters.append(_header("Location", "The address of the resource created.", response=["201"]))
            parameters.append(
                _header(
                    "Idempotent-Replayed",
                    "`true` when this answer is the replay of an earlier call with the same Idempotency-Key.",
                    response=["200", "201", "202"],
                )
            )
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction=direction)
        if direction != "response":
            return responses
        if self.method == "GET" and self._action() == "retrieve":
            not_modified = OpenApiResponse(description="Not modified: the ETag in If-None-Match is current.")
            responses.setdefault("304", self._get_response_for_code(not_modified, "304"))
        for code in self._problem_codes():
            responses.setdefault(
                code,
                self._get_response_for_code(
                    OpenApiResponse(ProblemSerializer, description=PROBLEMS[code]), code, [PROBLEM_CONTENT_TYPE]
                ),
            )
        return responses
