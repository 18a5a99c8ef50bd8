"""Middleware of every request: requests the database could never store, and a lost database.

- ``RefuseNulCharacters``: PostgreSQL text cannot hold a NUL character: a NUL that reached a query made it fail
  (a 500) wherever a code, an NSN or any text from the request was looked up or saved -- in a URL, a query string, a
  form or a JSON body.  Such a request is refused with 400 before any view runs (problem+json under /api/, see
  core/api/handlers.py).
- ``DatabaseUnavailableMiddleware``: a lost database answers 503 with Retry-After, on the API and on the pages,
  instead of a 500.
"""

from __future__ import annotations

import json
import logging

from django.core.exceptions import BadRequest
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

from core.api.problems import PROBLEM_CONTENT_TYPE, problem_body

# A NUL as it arrives: raw, percent-encoded (URLs, forms), or escaped in JSON.
ENCODED_NUL = (b"\x00", b"%00", b"\\u0000")


class RefuseNulCharacters:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            "\x00" in request.path
            or "%00" in request.META.get("QUERY_STRING", "")
            or (request.method in ("POST", "PUT", "PATCH") and any(nul in request.body for nul in ENCODED_NUL))
        ):
            raise BadRequest("NUL characters are not accepted.")
        return self.get_response(request)


log = logging.getLogger(__name__)

# What a lost or refused database connection raises (also a statement cancelled, a deadlock, a lock timeout):
# transient, so the caller is told to retry rather than handed a 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 2
DETAIL = (
    "The database could not complete the request (connection lost or a transient error); it was not applied, "
    "unless it committed just as the connection dropped.  Retry it: with the same Idempotency-Key a POST is "
    "done at most once."
)

# No template: rendering one would run the context processors, which read the database that just failed.
PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Service unavailable</title></head>'
    "<body><h1>Service unavailable</h1><p>The portal cannot reach its database just now. Nothing was changed; "
    "please try again in a moment.</p></body></html>"
)


class DatabaseUnavailableMiddleware:
    """Turns a database connection error raised by a view into 503 (problem+json under /api/, a short page
    elsewhere) instead of a 500.  The API's problem handler leaves these errors to it (DRF re-raises what its
    handler does not answer), so both answer alike.  The connection is closed at the end of the request (its
    errors mark it unusable), so the next request connects afresh."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        log.warning("database unavailable on %s %s; answered 503", request.method, request.path, exc_info=exception)
        if request.path.startswith("/api/"):
            body = json.dumps(problem_body(503, DETAIL, "database_unavailable"))
            response = HttpResponse(body, status=503, content_type=PROBLEM_CONTENT_TYPE)
        else:
            response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
