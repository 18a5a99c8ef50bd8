"""What every browser page shares: the 404/403/409 rules of the API, applied to views."""

from __future__ import annotations

from contextlib import contextmanager

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from core.errors import Conflict


def visible_or_404(queryset, **lookup):
    """The object if the user's visible queryset holds it, else 404 (existence is never leaked)."""
    obj = queryset.filter(**lookup).first()
    if obj is None:
        raise Http404
    return obj



class ActionOutcome:
    """Filled by :func:`service_action`: the HTTP status to answer and the messages to show."""

    def __init__(self):
        self.status = 200
        self.errors: list[str] = []
        self.field_errors: dict[str, list[str]] = {}

    @property
    def ok(self) -> bool:
        return self.status < 400


@contextmanager
def service_action(request):
    """Run a service call; turn its refusals into the status and message the user sees.

    403 for a refused right, 409 for a wrong state or too little stock, 400 for bad input — as in the API."""
    outcome = ActionOutcome()
    try:
        yield outcome
    except PermissionDenied as exc:
        outcome.status, outcome.errors = 403, [str(exc) or _("You may not do that.")]
    except Conflict as exc:
        outcome.status, outcome.errors = 409, [exc.message]
    except ValidationError as exc:
        outcome.status = 400
        if hasattr(exc, "error_dict"):
            outcome.field_errors = {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
            outcome.errors = [f"{', '.join(v)}" for v in outcome.field_errors.values()]
        else:
            outcome.errors = exc.messages
    if not request.htmx:
        for error in outcome.errors:
            messages.error(request, error)


def finish(request, outcome: ActionOutcome, *, render, redirect_to: str, success: str = "") -> HttpResponse:
    """Answer an action.  htmx: the re-rendered fragment, with the outcome's status (htmx is configured to swap
    4xx answers too).  A plain form post: back to the page on success (post/redirect/get), the page itself
    with the error and the status otherwise.  `render(fragment: bool)` renders the fragment or the page."""
    if outcome.ok and not request.htmx:
        if success:
            messages.success(request, success)
        return redirect(redirect_to)
    response = render(bool(request.htmx))
    response.status_code = outcome.status
    return response

