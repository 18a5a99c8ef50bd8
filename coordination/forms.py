import datetime as dt

from django import forms
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.widgets import IsoDateInput
from inventory.api.serializers import MAX_QUANTITY
from inventory.lookup import item_for_entry
from inventory.models import LogisticsCenter
from nations.models import Nation

from .lifecycle import Input, Transition
from .models import Priority, SupplyRequest


class SupplyRequestForm(forms.Form):
    """A new request.  The supplier and source center are chosen by hand, or else come from the sourcing suggestion
    picked (``source_option``: "NATION|CENTER"; the page pre-selects the nearest).  The page may open it prefilled
    from a shortage (``coordination.prefill``)."""

    requesting_nation = forms.ModelChoiceField(
        label=_("Requesting nation"), queryset=Nation.objects.none(), to_field_name="code"
    )
    # an NSN with or without dashes, an item's name, or an entry picked from the autocomplete: as one types, the
    # catalog's matches fill the page's <datalist id="nsn-list"> (inventory.lookup)
    nsn = forms.CharField(
        label=_("Item (NSN or name)"),
        max_length=250,
        widget=forms.TextInput(
            attrs={
                "class": "rq-item",
                "placeholder": _("NSN or item name"),
                "list": "nsn-list",
                "autocomplete": "off",
                "aria-describedby": "nsn-hint",
                "hx-get": reverse_lazy("item-lookup"),
                "hx-trigger": "input changed delay:250ms",
                "hx-include": "this",
                "hx-target": "#nsn-list",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            }
        ),
    )
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=MAX_QUANTITY)
    destination_center = forms.ModelChoiceField(
        label=_("Destination center"), to_field_name="code", queryset=LogisticsCenter.objects.order_by("code")
    )
    source_option = forms.CharField(required=False, widget=forms.HiddenInput)
    supplying_nation = forms.ModelChoiceField(
        label=_("Supplying nation"),
        required=False,
        to_field_name="code",
        queryset=Nation.objects.filter(active=True).order_by("code"),
    )
    source_center = forms.ModelChoiceField(
        label=_("Source center"),
        required=False,
        to_field_name="code",
        queryset=LogisticsCenter.objects.order_by("code"),
    )
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices, initial=Priority.ROUTINE)
    required_by = forms.DateField(label=_("Required by"), widget=IsoDateInput)
    justification = forms.CharField(
        label=_("Justification"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "class": "rq-wide"})
    )
    submit_now = forms.BooleanField(label=_("Submit to the supplying nation now"), required=False, initial=True)
    # the request whose remainder this one raises: its supplier is left out of the sourcing suggestions.  Advice
    # only (read by the views, never validated): a stale or forged value must not make the form fail unseen.
    follow_up = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, nations=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["requesting_nation"].queryset = nations if nations is not None else Nation.objects.none()
        if nations is not None and nations.count() == 1:
            self.fields["requesting_nation"].initial = nations.first().code
        self.fields["required_by"].initial = timezone.localdate() + dt.timedelta(days=7)

    def clean_nsn(self):
        item = item_for_entry(self.cleaned_data["nsn"])
        if item is None:
            raise forms.ValidationError(_("No item in the catalog has this NSN or name: pick one from the list."))
        return item

    def clean_required_by(self):
        value = self.cleaned_data["required_by"]
        if value < timezone.localdate():
            raise forms.ValidationError(_("The required-by date is in the past."))
        return value

    def clean(self):
        data = super().clean()
        option = data.get("source_option") or ""
        by_hand = data.get("supplying_nation"), data.get("source_center")
        if any(by_hand):
            # the user's own choice wins over the suggestion the page pre-selected (it was silently overridden)
            if not all(by_hand):
                raise forms.ValidationError(
                    _("Choose both the supplying nation and the source center, or clear them to use a suggestion.")
                )
        elif option:
            nation_code, _sep, center_code = option.partition("|")
            data["supplying_nation"] = Nation.objects.filter(code=nation_code).first()
            data["source_center"] = LogisticsCenter.objects.filter(code=center_code).first()
        if not data.get("supplying_nation") or not data.get("source_center"):
            raise forms.ValidationError(
                _("Pick a sourcing suggestion, or choose the supplying nation and the source center.")
            )
        return data


class TransitionForm(forms.Form):
    """The browser's form of one lifecycle transition: the fields its row of the table asks for.

    A quantity the service would default (``Input.default_from``) starts from the request's figure, so the
    browser always sends it."""

    def __init__(self, *args, transition: Transition, supply_request: SupplyRequest | None = None, **kwargs):
        # several of these forms share a page: ids named for the action keep each label with its own input
        kwargs.setdefault("auto_id", f"id_{transition.action}_%s")
        super().__init__(*args, **kwargs)
        self.transition = transition
        for spec in transition.fields:
            self.fields[spec.name] = self._field(spec, supply_request)

    @staticmethod
    def _field(spec: Input, supply_request: SupplyRequest | None) -> forms.Field:
        if spec.kind == "quantity":
            initial = None
            if supply_request is not None and spec.default_from:
                initial = getattr(supply_request, spec.default_from) or 0
            return forms.IntegerField(
                label=spec.label,
                min_value=spec.minimum,
                max_value=MAX_QUANTITY,
                required=spec.required or spec.default_from is not None,
                initial=initial,
            )
        return forms.CharField(label=spec.label, max_length=2000, required=spec.required)
