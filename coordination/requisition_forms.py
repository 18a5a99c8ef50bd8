"""The forms of the requisition pages: the header, the line editor (a formset of lines), the sheet to import, and the
lines ticked on the requisition's page.

The forms read the input (an NSN or name into a catalog item, a date, a whole number); the rules (dates not past,
an NSN once, at most MAX_LINES lines, who may raise) are the service's (``coordination.requisitions``), whose
errors the page puts back on the fields they name (``lines[3].quantity`` on the fourth line's quantity)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.widgets import IsoDateInput
from inventory.api.serializers import MAX_QUANTITY
from inventory.lookup import entry_of, item_for_entry
from inventory.models import LogisticsCenter
from nations.models import Nation

from .models import Urgency
from .requisition_import import SheetLine
from .requisitions import MAX_LINES, LineInput

PREFIX = "lines"
BLANK_ROWS = 5  # the editor's rows on a fresh page
MAX_EDITOR_ROWS = MAX_LINES  # ?extra=N and "add lines" stop here


class RequisitionForm(forms.Form):
    """A requisition's header.  The nation is chosen only by an officer of several nations."""

    requesting_nation = forms.ModelChoiceField(
        label=_("Requesting nation"), queryset=Nation.objects.none(), to_field_name="code"
    )
    destination_center = forms.ModelChoiceField(
        label=_("Destination center"),
        to_field_name="code",
        queryset=LogisticsCenter.objects.order_by("code"),
        empty_label=_("Choose a center"),
    )
    required_by = forms.DateField(
        label=_("Required delivery date (RDD)"),
        widget=IsoDateInput,
        help_text=_("Of every line that names no date of its own."),
    )
    urgency = forms.ChoiceField(
        label=_("Urgency of need"), choices=Urgency.choices, initial=Urgency.C, widget=forms.RadioSelect
    )
    justification = forms.CharField(
        label=_("Justification"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "class": "rq-wide"})
    )

    def __init__(self, *args, nations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["requesting_nation"].queryset = nations
        if len(nations) == 1:
            self.fields["requesting_nation"].initial = nations[0].code
            self.fields["requesting_nation"].widget = forms.HiddenInput()
        self.fields["required_by"].initial = timezone.localdate() + dt.timedelta(days=7)


class RequisitionLineForm(forms.Form):
    """One line: an NSN or an item's name (the catalog's autocomplete fills the page's ``<datalist id="item-list">``
    as one types), a quantity, its own RDD if different, whether substitutes may stand in."""

    nsn = forms.CharField(
        label=_("Item (NSN or name)"),
        max_length=250,
        widget=forms.TextInput(
            attrs={
                "class": "rq-item",
                "placeholder": _("NSN or item name"),
                "list": "item-list",
                "autocomplete": "off",
                # the lookup reads ?q=: static/js/portal.js sends the input's text under that name
                "data-item-lookup": "",
                "hx-get": reverse_lazy("item-lookup"),
                "hx-trigger": "input changed delay:250ms",
                "hx-include": "this",
                "hx-target": "#item-list",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            }
        ),
    )
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=MAX_QUANTITY)
    required_by = forms.DateField(label=_("Own RDD"), required=False, widget=IsoDateInput)
    allow_substitutes = forms.BooleanField(label=_("Substitutes allowed"), required=False)

    def clean_nsn(self):
        item = item_for_entry(self.cleaned_data["nsn"])
        if item is None:
            raise ValidationError(_("No item in the catalog has this NSN or name: pick one from the list."))
        return item

    def line_input(self) -> LineInput:
        data = self.cleaned_data
        return LineInput(
            item=data["nsn"],
            quantity=data["quantity"],
            required_by=data.get("required_by"),
            allow_substitutes=bool(data.get("allow_substitutes")),
        )


class BaseLineFormSet(forms.BaseFormSet):
    """The line editor: blank rows are left out, rows ticked "remove" too; at least one line."""

    def filled_forms(self) -> list[RequisitionLineForm]:
        """The rows that hold a line (valid formset: every row but the blank and the removed)."""
        return [f for f in self.forms if f.has_changed() and not self._should_delete_form(f)]

    def clean(self):
        super().clean()
        if not any(form.errors for form in self.forms) and not self.filled_forms():
            raise ValidationError(_("Add at least one line."))


def line_formset(extra: int = 0):
    """The formset class with `extra` blank rows (every row is an "extra" row: a blank one is never required)."""
    return forms.formset_factory(
        RequisitionLineForm,
        formset=BaseLineFormSet,
        extra=max(0, min(extra, MAX_EDITOR_ROWS)),
        can_delete=True,
        max_num=MAX_LINES,
        absolute_max=MAX_LINES,
        validate_max=True,
    )


def rows_data(data, *, add: int = 0, sheet: list[SheetLine] = ()) -> dict:
    """The editor's posted values (a QueryDict) with `add` blank rows after its rows, or the lines of a sheet in
    place of its blank rows (the rows already filled stay first): what the page shows again, bound."""
    total = _total_forms(data)
    names = ("nsn", "quantity", "required_by", "allow_substitutes", "DELETE")
    kept = [
        {name: data.get(f"{PREFIX}-{i}-{name}", "") for name in names}
        for i in range(total)
        if not sheet or any(data.get(f"{PREFIX}-{i}-{name}", "").strip() for name in ("nsn", "quantity"))
    ]
    for line in sheet:
        kept.append(
            {
                "nsn": entry_of(line.item),
                "quantity": str(line.quantity),
                "required_by": line.required_by.isoformat() if line.required_by else "",
                "allow_substitutes": "on" if line.allow_substitutes else "",
                "DELETE": "",
            }
        )
    kept += [{} for _ in range(max(0, min(add, MAX_EDITOR_ROWS - len(kept))))]
    rows = {key: value for key, value in data.items() if not key.startswith(f"{PREFIX}-")}
    for i, row in enumerate(kept):
        rows.update({f"{PREFIX}-{i}-{name}": value for name, value in row.items() if value})
    rows.update({f"{PREFIX}-TOTAL_FORMS": str(len(kept)), f"{PREFIX}-INITIAL_FORMS": "0"})
    return rows


def _total_forms(data) -> int:
    value = data.get(f"{PREFIX}-TOTAL_FORMS", "")
    return min(int(value), MAX_EDITOR_ROWS) if value.isdigit() else 0


class SheetForm(forms.Form):
    sheet = forms.FileField(
        label=_("Sheet (CSV or XLSX)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,text/csv"}),
    )


def selected_line_numbers(data) -> list[int] | None:
    """The line numbers ticked on the requisition's page (``lines``), or None when none is ticked (all lines)."""
    values = [value.strip() for value in data.getlist("lines") if value.strip()]
    if not values:
        return None
    if len(values) > MAX_LINES or not all(value.isascii() and value.isdigit() for value in values):
        raise ValidationError(_("The selection could not be read; reload the page and select again."))
    return sorted({int(value) for value in values})
