"""Answers to requests under ``/api/`` that no API view answers: an address that matches no route, or an error
raised outside a view.  They are problem+json like every other API error (RFC 9457); elsewhere Django's pages."""

import json

from django.core.exceptions import BadRequest
from django.http import HttpResponse
from django.views import defaults

from .problems import PROBLEM_BASE, PROBLEM_CONTENT_TYPE, TITLES

API_PREFIX = "/api/"


def _problem(status: int, code: str, detail: str) -> HttpResponse:
    body = {
        "type": PROBLEM_BASE + code.replace("_", "-"),
        "title": TITLES.get(status, "Server error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    return HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)


def bad_request(request, exception):
    if request.path.startswith(API_PREFIX):
        # BadRequest carries a message written for the caller; other causes (SuspiciousOperation) are not told
        detail = str(exception) if type(exception) is BadRequest and str(exception) else "The request cannot be read."
        return _problem(400, "bad_request", detail)
    return defaults.bad_request(request, exception)


def page_not_found(request, exception):
    if request.path.startswith(API_PREFIX):
        return _problem(404, "not_found", "There is no such resource.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return _problem(500, "server_error", "Something went wrong on our side; it has been logged.")
    return defaults.server_error(request)
