"""The portal's own 404 and 403 pages (header, navigation, where to go next), under DEBUG as in production.

In production Django answers a 404 with ``handler404`` (config/urls.py) and a 403 with ``403.html``.  Under DEBUG --
what ``make run`` serves -- it answered a 404 with its technical page instead: a developer's tool, but it hid the
page users are meant to see, and the demo runs under DEBUG.  ``StyledNotFoundUnderDebug`` gives the portal's page
under DEBUG too; a developer who wants Django's technical page (the URL patterns tried) adds ``?debug`` to the
address.  A refused CSRF check (a form left open past the session, a stale tab) gets the portal's 403 page with
what to do, rather than Django's bare one."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _

from core.api.handlers import page_not_found

TECHNICAL_PAGE_PARAMETER = "debug"


def _wants_technical_page(request) -> bool:
    return not settings.DEBUG or TECHNICAL_PAGE_PARAMETER in request.GET


class StyledNotFoundUnderDebug:
    """Under DEBUG, a 404 -- an address no route matches, or a view's ``Http404`` -- answers the portal's page
    (``handler404``: problem+json under /api/), unless the address asks for the technical page.  Placed after
    CommonMiddleware (which still redirects ``/stocks`` to ``/stocks/``) and the authentication middleware (the
    page shows the user's navigation)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # No route matched (Resolver404 is raised before any view, so process_exception never sees it): Django has
        # rendered its technical page, which is replaced here.
        if response.status_code == 404 and request.resolver_match is None and not _wants_technical_page(request):
            return page_not_found(request, Http404())
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, Http404) and not _wants_technical_page(request):
            return page_not_found(request, exception)
        return None


def csrf_failure(request, reason: str = ""):
    """CSRF_FAILURE_VIEW: the 403 page, saying what most likely happened and what to do."""
    message = _(
        "The form could not be accepted: it was probably opened before you signed in again, or in another tab. "
        "Nothing was changed. Reload the page and try again."
    )
    return render(request, "403.html", {"exception": message}, status=403)
