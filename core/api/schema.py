"""OpenAPI: every operation also documents the problem+json errors it can answer (RFC 9457)."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .problems import PROBLEM_CONTENT_TYPE


class ProblemSerializer(serializers.Serializer):
    type = serializers.URLField(help_text="A URI naming the kind of problem.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="A short machine-readable code, e.g. insufficient_stock.")
    errors = serializers.DictField(required=False, help_text="Per field (or per line, e.g. lines[12].nsn) messages.")


PROBLEMS = {
    "400": "Invalid input; `errors` holds the messages per field (per line for stock reports). A NUL character "
    "anywhere in the request is refused too.",
    "401": "No valid credentials (token unknown, expired or revoked).",
    "403": "Visible, but the caller's role does not allow this.",
    "404": "Not found, or not visible to the caller (existence is not revealed); for a list, a page past the end.",
    "409": "Wrong state for this action, not enough stock, or the same Idempotency-Key still in progress.",
    "412": "If-Match does not match the current ETag: read again and retry.",
    "415": "The body is not JSON, form data or multipart.",
    "422": "The Idempotency-Key was used with a different body.",
    "429": "Over the caller's budget; see Retry-After.",
}


class PortalAutoSchema(AutoSchema):
    def _problem_codes(self) -> list[str]:
        codes = ["400", "401", "403", "429"]  # 400: invalid input, or a NUL anywhere (nations/middleware.py)
        method = self.method
        if "{" in self.path or (method == "GET" and self._is_list_view() and self._get_paginator()):
            codes.append("404")  # an object, or a page of a list past its end
        if method in ("POST", "PATCH", "PUT", "DELETE"):
            codes.append("409")
        if method in ("PATCH", "PUT"):
            codes.append("412")
        if method in ("POST", "PUT", "PATCH"):
            codes.append("415")
        if method == "POST":
            codes.append("422")
        return sorted(codes)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction=direction)
        if direction != "response":
            return responses
        for code in self._problem_codes():
            responses.setdefault(
                code,
                self._get_response_for_code(
                    OpenApiResponse(ProblemSerializer, description=PROBLEMS[code]), code, [PROBLEM_CONTENT_TYPE]
                ),
            )
        return responses
