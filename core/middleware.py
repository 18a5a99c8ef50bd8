"""Middleware of every request: requests the database could never store, and a lost database.

- ``RefuseNulCharacters``: PostgreSQL text cannot hold a NUL character: a NUL that reached a query made it fail
  (a 500) wherever a code, an NSN or any text from the request was looked up or saved -- in a URL, a query string, a
  form or a JSON body.  Such a request is refused with 400 before any view runs (problem+json under /api/, see
  core/api/handlers.py).
- ``DatabaseUnavailableMiddleware``: a lost database answers 503 with Retry-After, on the API and on the pages,
  instead of a 500.
- ``IdleSessionTimeout``: a browser session idle for SESSION_IDLE_TIMEOUT_MINUTES is signed out, whatever is left
  of the shift (SESSION_COOKIE_AGE).
"""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from django.contrib.auth import logout
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
            or (request.method in ("POST", "PUT", "PATCH") and self._body_has_nul(request))
        ):
            raise BadRequest("NUL characters are not accepted.")
        return self.get_response(request)

    @staticmethod
    def _body_has_nul(request) -> bool:
        body = request.body  # read first: whoever reads the body later still can
        if request.content_type == "multipart/form-data":
            # an uploaded file is bytes, never looked up or saved as text (an XLSX sheet is a zip, full of NULs):
            # only the form's text fields and the files' names are
            texts = [text for key, values in request.POST.lists() for text in (key, *values)]
            texts += [upload.name or "" for upload in request.FILES.values()]
            return any("\x00" in text for text in texts)
        return any(nul in body for nul in ENCODED_NUL)


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


# The session records activity at most this often: a write per page view would cost a database write per request.
IDLE_CLOCK_RESOLUTION_SECONDS = 60
LAST_ACTIVITY = "last_activity"


def start_activity_clock(sender, request, user, **kwargs):
    """Signing in is activity: the clock starts with the session (``user_logged_in``, connected in CoreConfig), so
    the first page after it writes nothing more to the session."""
    if request is not None and hasattr(request, "session"):
        request.session[LAST_ACTIVITY] = int(time.time())


class IdleSessionTimeout:
    """Sign out a browser session that has been idle too long (an unattended terminal in an operations room)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.SESSION_IDLE_TIMEOUT_MINUTES * 60
        user = getattr(request, "user", None)
        try:
            signed_in = user is not None and user.is_authenticated  # reads the session: the database
        except DATABASE_UNAVAILABLE:
            # leave the answer to the view, which meets the same error inside DatabaseUnavailableMiddleware (503)
            return self.get_response(request)
        if limit > 0 and signed_in:
            now = int(time.time())
            last = request.session.get(LAST_ACTIVITY)
            if last is not None and now - last > limit:
                logout(request)  # the view then sees an anonymous visitor: pages send it to the sign-in form
            elif last is None or now - last >= IDLE_CLOCK_RESOLUTION_SECONDS:
                request.session[LAST_ACTIVITY] = now
        return self.get_response(request)
