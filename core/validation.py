"""Checks on input that services, forms and serializers share, with the one text a user reads for each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True, eq=False)
class WholeNumbers:
    """Which whole numbers a field accepts, and what a caller who gave another value is told."""

    allows: Callable[[int], bool]
    refusal: Promise

    @property
    def message(self) -> str:
        return str(self.refusal)

    def accepts(self, value) -> bool:
        # bool is an int subclass, and True is not a quantity
        return isinstance(value, int) and not isinstance(value, bool) and self.allows(value)


POSITIVE = WholeNumbers(lambda n: n > 0, _("Enter a whole number greater than zero."))
ZERO_OR_MORE = WholeNumbers(lambda n: n >= 0, _("Enter a whole number, zero or more."))
NON_ZERO = WholeNumbers(lambda n: n != 0, _("Enter a non-zero whole number."))


def whole_number_error(value, accept: WholeNumbers = POSITIVE) -> str | None:
    """The message for `value` unless it is a whole number `accept` allows (for callers that gather every
    field's error before raising)."""
    return None if accept.accepts(value) else accept.message


def whole_number(value, *, field: str, accept: WholeNumbers = POSITIVE) -> int:
    """`value`, or a ValidationError on `field` unless it is a whole number `accept` allows."""
    error = whole_number_error(value, accept)
    if error is not None:
        raise ValidationError({field: error})
    return value
