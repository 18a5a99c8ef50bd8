"""The audit log page."""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from core.web import RestrictedListView

from . import access
from .filters import AuditEntryFilter
from .models import AuditEntry


class AuditLogView(RestrictedListView):
    """The audit log, for alliance coordinators and administrators (403 for anyone else: the page exists for
    every user, its content does not)."""

    queryset = AuditEntry.objects.select_related("nation")
    filterset_class = AuditEntryFilter
    ordering = ("-at", "-id")
    template_name = "nations/audit_log.html"

    def get(self, request, *args, **kwargs):
        if not access.may_read_audit_log(request.user):
            raise PermissionDenied(_("Only alliance coordinators and administrators read the audit log."))
        return super().get(request, *args, **kwargs)


audit_log = AuditLogView.as_view()
