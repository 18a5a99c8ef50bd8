from django import forms
from django.utils.translation import gettext_lazy as _

from core.validation import NON_ZERO, whole_number_error

from .api.serializers import MAX_QUANTITY


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


class StockSettingsForm(forms.Form):
    safety_level = forms.IntegerField(label=_("Safety level"), min_value=0, max_value=MAX_QUANTITY)
    daily_consumption = forms.DecimalField(label=_("Daily consumption"), min_value=0, max_digits=14, decimal_places=2)
    shared = forms.BooleanField(label=_("Shared with the alliance pool"), required=False)
