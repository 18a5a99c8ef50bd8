from functools import partial

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from core.validation import NON_ZERO, whole_number_error
from nations.models import Nation

from .api.serializers import MAX_QUANTITY
from .models import ALL


class AdjustForm(forms.Form):
    delta = forms.IntegerField(label=_("Change (+/-)"), min_value=-MAX_QUANTITY, max_value=MAX_QUANTITY)
    reason = forms.CharField(label=_("Reason"), max_length=500)

    def clean_delta(self):
        if error := whole_number_error(self.cleaned_data["delta"], NON_ZERO):
            raise forms.ValidationError(error)
        return self.cleaned_data["delta"]


class CountForm(forms.Form):
    counted_quantity = forms.IntegerField(label=_("Counted quantity"), min_value=0, max_value=MAX_QUANTITY)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


def _release_choices(owner_id: int | None) -> list[tuple[str, str]]:
    """ALL, then every nation but the owner (which always sees its stock)."""
    nations = Nation.objects.exclude(pk=owner_id).order_by("code").values_list("code", "name")
    return [(ALL, _("ALL: every nation taking part in the center")), *((c, f"{c} – {n}") for c, n in nations)]


class FastSelectMultiple(forms.SelectMultiple):
    """A multi-select rendered in one pass (Django renders a template per option: some 30 nations cost the stock
    page several milliseconds)."""

    def render(self, name, value, attrs=None, renderer=None):
        chosen = {str(v) for v in (value or [])}
        final = self.build_attrs(self.attrs, {**(attrs or {}), "name": name, "multiple": True})
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((v, mark_safe(" selected") if str(v) in chosen else "", label) for v, label in self.choices),
        )
        return format_html("<select{}>{}</select>", flatatt(final), options)


class StockSettingsForm(forms.Form):
    safety_level = forms.IntegerField(label=_("Safety level"), min_value=0, max_value=MAX_QUANTITY)
    daily_consumption = forms.DecimalField(label=_("Daily consumption"), min_value=0, max_digits=14, decimal_places=2)
    releasable_to = forms.MultipleChoiceField(
        label=_("Releasable to"),
        required=False,
        widget=FastSelectMultiple(attrs={"size": 8}),
        help_text=_("Nothing chosen: private. ALL: shared with the alliance pool. Nations: REL TO those nations."),
    )

    def __init__(self, *args, stock=None, **kwargs):
        super().__init__(*args, **kwargs)
        # read when the form is rendered or validated, not for viewers who never see it
        self.fields["releasable_to"].choices = partial(_release_choices, stock.nation_id if stock else None)

    def clean_releasable_to(self) -> str | list[str]:
        codes = self.cleaned_data["releasable_to"]
        if ALL in codes:
            if len(codes) > 1:
                raise forms.ValidationError(_("Choose ALL or named nations, not both."))
            return ALL
        return codes
