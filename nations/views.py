"""The audit log page."""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from core.web import RestrictedListView

from . import access, audit
from .filters import AuditEntryFilter
from .models import AuditEntry


class AuditLogView(RestrictedListView):
    """The audit log, for administrators, alliance coordinators and a nation's officers, each reading the entries
    they may see (``visibility.audit_entry``: an entry follows its subject's stock); 403 for anyone else (the page
    exists for every user, its content does not).  Each view of a page is itself recorded (``audit.log_read``)."""

    queryset = AuditEntry.objects.select_related("nation")
    filterset_class = AuditEntryFilter
    ordering = ("-at", "-id")
    template_name = "nations/audit_log.html"

    def get(self, request, *args, **kwargs):
        if not access.may_read_audit_log(request.user):
            raise PermissionDenied(
                _("Only nations' officers, alliance coordinators and administrators read the audit log.")
            )
        response = super().get(request, *args, **kwargs)
        audit.log_read(channel="page", query=request.GET)
        return response


audit_log = AuditLogView.as_view()
