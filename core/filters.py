"""The base of every filterset (``<app>/filters.py``): one filterset serves a page and the API alike (NetBox), and
what every list offers -- incremental sync by ``updated_after``, the NSN-or-name search -- is declared here once."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.choices import CallableChoiceIterator
from django.utils.translation import gettext_lazy as _

from core.widgets import LeanSelect


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time, taken to UTC.  ISO 8601 allows offsets that PostgreSQL does not (beyond ±15:59): the
    query failed in the database, a 500, where the same instant in UTC compares fine."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None or value.tzinfo is None:
            return value
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:  # the first or last day of the calendar, shifted past it
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class ChangedAfterFilter(django_filters.IsoDateTimeFilter):
    """``updated_after=<ISO time>``: the rows changed since then (incremental sync)."""

    field_class = UtcIsoDateTimeField


YES_NO_ANY = [("", _("Any")), ("true", _("Yes")), ("false", _("No"))]


class StrictBooleanField(forms.NullBooleanField):
    """true/false (or 1/0), or nothing; anything else is an error rather than "no filter" (Django's NullBoolean
    reads every unknown word as unset, so ``?unread=perhaps`` listed everything)."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def __init__(self, *args, **kwargs):
        # a dropdown on a page; it hands over the raw text, which to_python judges (the API's ?unread=1 still reads)
        kwargs.setdefault("widget", LeanSelect(choices=YES_NO_ANY))
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        try:
            return self.VALUES[str(value).strip().lower()]
        except KeyError:
            raise ValidationError(_("Give true or false."), code="invalid") from None

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class YesNoAnySelect(LeanSelect, forms.NullBooleanSelect):
    """A boolean filter's dropdown on a page: Any, Yes, No (Django's says "Unknown" for "no filter").  It reads the
    query string as Django's does, so the API's ``?shared=true`` means what it meant."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = YES_NO_ANY

    def format_value(self, value):
        value = super().format_value(value)
        return [""] if value == "unknown" else [value]  # a list: a string would also "contain" the blank choice


class CodeFilter(django_filters.CharFilter):
    """A nation's or a center's code: typed in the API (any case; an unknown code finds nothing, as before), chosen
    from a dropdown on a page.  `choices` is a callable returning (code, label) pairs, read only when the dropdown
    is drawn, so the API pays no query for it."""

    def __init__(self, *args, choices, **kwargs):
        kwargs.setdefault("lookup_expr", "iexact")
        self.choices = choices
        super().__init__(*args, **kwargs)

    def use_choices(self, memo: dict) -> None:
        """Draw the dropdown from `memo`, shared by the filterset's filters: one query per list, not per filter."""
        choices = self.choices

        def listed():
            if choices not in memo:
                memo[choices] = [("", _("Any")), *choices()]
            return memo[choices]

        widget = LeanSelect()
        widget.choices = CallableChoiceIterator(listed)
        self.extra["widget"] = widget


# An NSN's groups: 4-digit supply classification, 2-digit NCB code, 7-digit serial written 3 + 4.
NSN_GROUPS = (4, 2, 3, 4)


def dashed_nsn(text: str) -> str:
    """`text` written as an NSN is stored (NNNN-NN-NNN-NNNN) when it is the digits of one, or of its beginning, with
    or without dashes or spaces (people copy NSNs from systems that print ``9130123456789``); else `text` as given."""
    digits = "".join(ch for ch in text if ch not in "- ")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > sum(NSN_GROUPS):
        return text
    groups, start = [], 0
    for size in NSN_GROUPS:
        if start >= len(digits):
            break
        groups.append(digits[start : start + size])
        start += size
    return "-".join(groups)


def item_search(queryset, text: str, *, item_path: str = ""):
    """Rows whose item's NSN starts with `text` (dashes optional) or whose name contains it (all rows for a blank
    `text`).  `item_path` reaches the item from the rows (``"item__"`` for stocks, ``""`` for items themselves)."""
    text = (text or "").strip()
    if not text:
        return queryset
    return queryset.filter(
        Q(**{f"{item_path}nsn__startswith": dashed_nsn(text)}) | Q(**{f"{item_path}name__icontains": text})
    )


class ItemSearchFilter(django_filters.CharFilter):
    """``q=<text>``: :func:`item_search` as a filter."""

    def __init__(self, *args, item_path: str = "", **kwargs):
        self.item_path = item_path
        kwargs.setdefault("label", _("Item NSN or name"))
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        return item_search(qs, value, item_path=self.item_path)


class PortalFilterSet(django_filters.FilterSet):
    """Every filterset's base: ``updated_after`` on ``updated_at``.  A model whose change time has another name
    redeclares the filter on it; one with no change time (the append-only audit log) sets it to None."""

    updated_after = ChangedAfterFilter(field_name="updated_at", lookup_expr="gt", label=_("Updated after"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # on a page: codes are dropdowns, yes/no filters say Any/Yes/No, choices offer Any (not "---------")
        code_lists: dict = {}
        for declared in self.filters.values():
            if isinstance(declared, CodeFilter):
                declared.use_choices(code_lists)
            elif isinstance(declared, django_filters.BooleanFilter) and not isinstance(declared, StrictBooleanFilter):
                declared.extra.setdefault("widget", YesNoAnySelect)
            elif isinstance(declared, django_filters.ChoiceFilter):
                declared.extra.setdefault("empty_label", _("Any"))
                declared.extra.setdefault("widget", LeanSelect)
            # a form field built earlier on the class's filter (the API schema reads them) was copied here with the
            # library's defaults ("---------", Select): built again from the page's settings
            declared.__dict__.pop("_field", None)
