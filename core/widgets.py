"""Form widgets every app's forms share."""

from django import forms

ISO_DATE = "%Y-%m-%d"


class IsoDateInput(forms.DateInput):
    """A browser date picker (``<input type="date">``) whose value is ISO 8601 in every language.

    The HTML standard reads a date input's value as ``YYYY-MM-DD`` only; a localized value (``14/12/2026`` in French)
    leaves the picker empty.  The picker itself shows the date in the browser's own language."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=ISO_DATE)
