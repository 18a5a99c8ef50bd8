"""A nation's force activity designator (FAD I-V): how much the force it supplies matters to the operation now.

Set by the alliance coordinators (reference data, PRODUCT.md), on the nations page or through
``PATCH /api/v1/nations/{code}/``.  With a requisition's urgency of need it makes the priority designator
(coordination/priority.py), fixed when a requisition or request is raised: a change applies to those raised
afterwards, never to those already raised.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from . import access, audit
from .access import Rule
from .models import ActivityDesignator, AuditKind, Nation

access.register(
    "nation.activity_designator",
    Rule(
        lambda p, nation: p.coordinator or p.superuser,
        _("Only alliance coordinators set a nation's force activity designator."),
    ),
)


@transaction.atomic
def set_activity_designator(*, actor, nation: Nation, activity_designator: int) -> Nation:
    """Set `nation`'s force activity designator (1-5, FAD I-V).  Alliance coordinators (and administrators) only;
    a value outside I-V is refused (400) and changes nothing."""
    access.require(actor, "nation.activity_designator", nation)
    if activity_designator not in ActivityDesignator.values:
        raise ValidationError(
            {
                "activity_designator": [
                    _("Choose one of %(choices)s.") % {"choices": ", ".join(ActivityDesignator.labels)}
                ]
            }
        )
    nation = Nation.objects.select_for_update().get(pk=nation.pk)
    if nation.activity_designator != activity_designator:
        before = nation.activity_designator
        nation.activity_designator = activity_designator
        nation.save(update_fields=["activity_designator", "updated_at"])
        audit.record(
            AuditKind.ACTIVITY_DESIGNATOR,
            actor=actor,
            nation=nation,
            obj=nation,
            summary=f"{nation.code} force activity designator "
            f"{ActivityDesignator(before).label} → {ActivityDesignator(activity_designator).label}",
            details={"from": before, "to": activity_designator},
        )
    return nation
