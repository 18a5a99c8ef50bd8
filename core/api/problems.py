"""Errors as ``application/problem+json`` (RFC 9457), for every failure the API can answer.

Shape: ``{"type", "title", "status", "detail", "code"}`` and, for validation errors, ``"errors"``: always one
flat list of ``{"field", "code", "message"}``, ``field`` a path into the request body (``quantity``,
``lines[12].nsn``) or null for the body as a whole -- whichever serializer, service or nesting produced the error,
so a client reads every error the same way.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Conflict

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://alliance-logistics.invalid/problems/"

TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    429: "Too many requests",
    503: "Service unavailable",
}


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource changed since you read it (ETag mismatch). Read it again and retry."
    default_code = "precondition_failed"


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = (
        "Say which version you change: send If-Match with the ETag of your last read (or If-Match: * to overwrite "
        "whatever the version)."
    )
    default_code = "precondition_required"


class UnprocessableContent(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def problem_body(status_code: int, detail: str, code: str, errors=None) -> dict:
    body = {
        "type": PROBLEM_BASE + code.replace("_", "-"),
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem(status_code: int, detail: str, code: str, errors=None, headers=None) -> Response:
    return Response(
        problem_body(status_code, detail, code, errors),
        status=status_code,
        headers=headers,
        content_type=PROBLEM_CONTENT_TYPE,
    )


_WHOLE_BODY_KEYS = {"non_field_errors", "__all__"}


def _join(path: str | None, key) -> str | None:
    """The path of `key` inside `path`: ``lines`` + 3 -> ``lines[3]``, ``lines[3]`` + ``nsn`` -> ``lines[3].nsn``."""
    if str(key) in _WHOLE_BODY_KEYS:
        return path
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        return f"{path or ''}[{key}]"
    return f"{path}.{key}" if path else str(key)


def flat_errors(detail, path: str | None = None) -> list[dict]:
    """DRF's nested error detail (dicts by field, lists by line, ``ErrorDetail`` leaves) as one flat list.
    Recursive: the depth is the payload's, which the parser caps at 32 levels (core/api/parsers.py)."""
    if isinstance(detail, dict):
        return [error for key, value in detail.items() for error in flat_errors(value, _join(path, key))]
    if isinstance(detail, list):
        if any(isinstance(item, (dict, list)) for item in detail):  # one entry per line of a list payload
            return [error for index, item in enumerate(detail) for error in flat_errors(item, _join(path, index))]
        return [error for item in detail for error in flat_errors(item, path)]
    return [{"field": path, "code": getattr(detail, "code", None) or "invalid", "message": str(detail)}]


def _django_validation_errors(exc: DjangoValidationError) -> list[dict]:
    if hasattr(exc, "error_dict"):
        pairs = [(field, error) for field, errors in exc.error_dict.items() for error in errors]
    else:
        pairs = [(None, error) for error in exc.error_list]
    return [
        {"field": _join(None, field) if field else None, "code": error.code or "invalid", "message": message}
        for field, error in pairs
        for message in error.messages
    ]


def _flatten_detail(detail) -> str:
    if isinstance(detail, list) and detail:
        return _flatten_detail(detail[0])
    if isinstance(detail, dict) and detail:
        return _flatten_detail(next(iter(detail.values())))
    return str(detail)


def exception_handler(exc, context):
    """DRF exception handler answering problem+json for domain, Django and DRF errors."""
    if isinstance(exc, Conflict):
        return problem(409, exc.message, exc.code)
    if isinstance(exc, DjangoValidationError):
        return problem(400, "The request contains invalid data.", "invalid", _django_validation_errors(exc))
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()

    response = drf_exception_handler(exc, context)
    if response is None:
        # unexpected: a lost database answers 503 (core.middleware), anything else 500, logged by Django
        return None
    headers = {k: v for k, v in response.headers.items() if k.lower() in {"retry-after", "www-authenticate"}}
    if isinstance(exc, exceptions.ValidationError):
        return problem(400, "The request contains invalid data.", "invalid", flat_errors(exc.detail), headers)
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "error"
    detail = _flatten_detail(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
    return problem(response.status_code, detail, code, headers=headers)
