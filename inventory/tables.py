"""The tables of the stock and center lists (``core.tables``): columns, sorting, exports."""

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.tables import PortalTable, quantity_with_unit
from nations import access

from .models import ALL

NUM = {"th": {"class": "num"}, "td": {"class": "num"}}
NOWRAP = {"td": {"class": "nowrap"}}


class StockTable(PortalTable):
    """A stock per row; the export (stocks.csv / .xlsx) carries the machine figures integrators read."""

    export_name = "stocks"
    caption = _("Stocks you may see")

    center = tables.Column(
        accessor="center__code", verbose_name=_("Center"), order_by=("center__code", "item__nsn"), attrs=NOWRAP
    )
    nation = tables.Column(
        accessor="nation__code", verbose_name=_("Nation"), order_by=("nation__code", "center__code", "item__nsn")
    )
    nsn = tables.Column(accessor="item__nsn", verbose_name=_("NSN"), order_by=("item__nsn", "center__code"))
    item = tables.Column(accessor="item__name", verbose_name=_("Item"), order_by=("item__name", "item__nsn"))
    supply_class = tables.Column(accessor="item__supply_class", verbose_name=_("Class"), order_by="item__supply_class")
    unit = tables.Column(accessor="item__unit_of_issue", visible=False)
    on_hand = tables.Column(verbose_name=_("On hand"), attrs=NUM)
    reserved = tables.Column(verbose_name=_("Reserved"), attrs=NUM)
    available = tables.Column(verbose_name=_("Available"), order_by="available_qty", attrs=NUM)
    safety_level = tables.Column(verbose_name=_("Safety level"), attrs=NUM)
    daily_consumption = tables.Column(visible=False)
    shared = tables.BooleanColumn(visible=False)
    updated_at = tables.Column(visible=False)
    releasable_to = tables.Column(accessor="pk", visible=False, orderable=False)
    marking = tables.Column(
        accessor="pk",
        verbose_name=_("Marking"),
        orderable=False,
        exclude_from_export=True,
        attrs={"td": {"class": "nowrap marking"}},
    )
    actions = tables.Column(
        accessor="pk", verbose_name=_("Actions"), orderable=False, exclude_from_export=True, attrs=NOWRAP
    )

    class Meta(PortalTable.Meta):
        row_attrs = {"class": lambda record: "below-safety" if record.below_safety else ""}

    def render_nsn(self, record):
        return format_html(
            '<a href="{}"><code>{}</code></a>', reverse("stock-detail", args=[record.pk]), record.item.nsn
        )

    def value_nsn(self, record):
        return record.item.nsn

    def render_on_hand(self, record):
        return quantity_with_unit(record.on_hand, record.item.unit_of_issue)

    def value_on_hand(self, record):
        return record.on_hand

    def render_available(self, record):
        if record.below_safety:
            return format_html('{} <span class="badge warn">{}</span>', record.available, _("below safety"))
        return record.available

    def value_available(self, record):
        return record.available

    def render_releasable_to(self, record):
        """ "ALL", or the release list's codes apart by spaces; empty: private."""
        return ALL if record.shared else " ".join(record.releasable_to)

    def render_marking(self, record):
        return record.release_marking

    def render_actions(self, record):
        # the viewer raises requests for these nations (one read of their grants per page, none per row)
        if record.nation_id not in access.profile(self.user).logistics_nations:
            return ""
        return format_html(
            '<a class="button small" href="{}?stock={}">{}</a>',
            reverse("request-new"),
            record.pk,
            _("Request supplies"),
        )


class CenterTable(PortalTable):
    export_name = "centers"
    caption = _("Logistics centers")

    code = tables.Column(verbose_name=_("Code"), linkify=("center-detail", {"code": tables.A("code")}))
    name = tables.Column(verbose_name=_("Name"))
    host_nation = tables.Column(
        accessor="host_nation__code", verbose_name=_("Host nation"), order_by="host_nation__code"
    )
    kind = tables.Column(verbose_name=_("Kind"))
    participants = tables.Column(accessor="pk", verbose_name=_("Participants"), orderable=False)
    latitude = tables.Column(verbose_name=_("Latitude"), attrs=NUM)
    longitude = tables.Column(verbose_name=_("Longitude"), attrs=NUM)

    def render_participants(self, record):
        # prefetched with the rows (participants.all() reads no more)
        return ", ".join(n.code for n in record.participants.all())

    def value_kind(self, record):
        return record.kind
