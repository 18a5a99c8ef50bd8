"""Form widgets every app's forms share."""

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import mark_safe

ISO_DATE = "%Y-%m-%d"


class IsoDateInput(forms.DateInput):
    """A browser date picker (``<input type="date">``) whose value is ISO 8601 in every language.

    The HTML standard reads a date input's value as ``YYYY-MM-DD`` only; a localized value (``14/12/2026`` in French)
    leaves the picker empty.  The picker itself shows the date in the browser's own language."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=ISO_DATE)


class LeanSelect(forms.Select):
    """A ``<select>`` written in Python rather than through Django's widget templates, which render every
    ``<option>`` as a template include (about 0.1 ms each: a list page's filter dropdowns, listing every nation and
    center, cost 50 ms of its 150).  The same markup, attributes and selection as ``forms.Select`` (a single select
    marks its first matching option only); option groups (``(group, [(value, label), ...])``) become ``<optgroup>``."""

    def render(self, name, value, attrs=None, renderer=None):
        self._selected, self._has_selected = set(self.format_value(value)), False
        options = self._options(self.choices)
        return format_html(
            '<select name="{}"{}>{}</select>', name, flatatt(self.build_attrs(self.attrs, attrs)), options
        )

    def _options(self, choices) -> str:
        parts = []
        for value, label in choices:
            if isinstance(label, list | tuple):
                parts.append(format_html('<optgroup label="{}">{}</optgroup>', value, self._options(label)))
                continue
            text = "" if value is None else str(value)
            chosen = text in self._selected and (self.allow_multiple_selected or not self._has_selected)
            self._has_selected |= chosen
            parts.append(format_html('<option value="{}"{}>{}</option>', text, " selected" if chosen else "", label))
        return mark_safe("".join(parts))
