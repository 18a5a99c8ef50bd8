"""``{% load designators %}{% with d=req.priority_designator|designator %}{{ d }} {{ d.explanation }}{% endwith %}``:
a priority designator as people read it (``coordination.designators``)."""

from django import template

from coordination.designators import Designator, describe

register = template.Library()


@register.filter
def designator(value) -> Designator | str:
    """The designator of a request or requisition (its ``priority_designator``), or "" for none."""
    return "" if value in (None, "") else describe(value)
