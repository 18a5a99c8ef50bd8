"""The audit log's table (``core.tables``): an entry's subject is shown as its reader may see it."""

import django_tables2 as tables
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.tables import PortalTable

from .access.nested import audit_subject, disclosure_for, prime_audit_subjects

# the subjects that have a page of their own: their label and the page's URL name
SUBJECT_PAGES = {"coordination.supplyrequest": "request-detail-page"}


class AuditEntryTable(PortalTable):
    export_name = "audit-log"
    caption = _("Audit log")

    at = tables.DateTimeColumn(
        verbose_name=_("When"), format="SHORT_DATETIME_FORMAT", attrs={"td": {"class": "nowrap"}}
    )
    kind = tables.Column(verbose_name=_("Event"))
    username = tables.Column(verbose_name=_("User"), default="—")
    nation = tables.Column(accessor="nation__code", verbose_name=_("Nation"), order_by="nation__code", default="—")
    subject = tables.Column(accessor="pk", verbose_name=_("Object"), orderable=False)
    summary = tables.Column(accessor="pk", verbose_name=_("What happened"), orderable=False)
    ip_address = tables.Column(verbose_name=_("From"), default="", attrs={"td": {"class": "nowrap"}})

    def prepare_rows(self, records):
        prime_audit_subjects(disclosure_for(self.for_request), records)  # one query per subject model

    def _subject(self, record):
        return audit_subject(disclosure_for(self.for_request), record, links=SUBJECT_PAGES)

    def value_at(self, record):
        return record.at

    def value_kind(self, record):
        return record.kind

    def render_subject(self, record):
        # an entry about what the reader may not see (a private stock's adjustment) names it in neutral words only
        subject = self._subject(record)
        if subject.url:
            return format_html('<a href="{}">{}</a>', subject.url, subject.object_repr)
        return subject.object_repr or "—"

    def value_subject(self, record):
        return str(self._subject(record).object_repr or "")

    def render_summary(self, record):
        return self._subject(record).summary

    def render_ip_address(self, record):
        token = self._subject(record).details.get("api_token")
        if token:
            return format_html("{} <code>{}…</code>", record.ip_address or "", token)
        return record.ip_address or ""

    def value_ip_address(self, record):
        return record.ip_address or ""
