"""The audit log page, and the sign-in and language switch that remember a user's language."""

from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.views import i18n

from core.tables import TableListView

from . import access, audit
from .filters import AuditEntryFilter
from .forms import LoginForm
from .models import AuditEntry, UserPreference
from .tables import AuditEntryTable


class AuditLogView(TableListView):
    """The audit log, for administrators, alliance coordinators and a nation's officers, each reading the entries
    they may see (``visibility.audit_entry``: an entry follows its subject's stock); 403 for anyone else (the page
    exists for every user, its content does not).  Each view of a page, and each export, is itself recorded
    (``audit.log_read``)."""

    queryset = AuditEntry.objects.select_related("nation")
    filterset_class = AuditEntryFilter
    table_class = AuditEntryTable
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


# --- the user's language: notices and e-mails are written in it (coordination/events.py) ---------------------------


def set_language(request):
    """Django's language switch (the header's form), which also remembers a signed-in user's choice."""
    response = i18n.set_language(request)
    if request.method == "POST" and request.user.is_authenticated:
        UserPreference.remember_language(request.user, request.POST.get("language", ""), replace=True)
    return response


class SignInView(auth_views.LoginView):
    """Django's sign-in; a user who never chose a language gets the one the sign-in page was shown in."""

    template_name = "registration/login.html"
    authentication_form = LoginForm

    def form_valid(self, form):
        response = super().form_valid(form)
        UserPreference.remember_language(form.get_user(), self.request.LANGUAGE_CODE, replace=False)
        return response


sign_in = SignInView.as_view()
