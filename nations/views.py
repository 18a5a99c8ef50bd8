"""The audit log page."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.translation import gettext as _

from . import access
from .filters import AuditEntryFilter
from .models import AuditEntry


@login_required
def audit_log(request):
    """The audit log, for alliance coordinators and administrators (403 for anyone else: the page exists for
    every user, its content does not)."""
    if not access.may_read_audit_log(request.user):
        raise PermissionDenied(_("Only alliance coordinators and administrators read the audit log."))
    entries = AuditEntry.objects.visible_to(request.user).select_related("nation").order_by("-at", "-id")
    audit_filter = AuditEntryFilter(request.GET, queryset=entries)
    page = Paginator(audit_filter.qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "nations/audit_log.html", {"filter": audit_filter, "page": page, "query": query.urlencode()})
