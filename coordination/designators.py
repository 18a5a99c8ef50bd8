"""How a priority designator is shown and sorted: ``07``, its priority group, and the cell of the UMMIPS matrix that
made it (force activity designator IV, urgency of need A); and the one order of every queue of requests.

Each designator is exactly one cell of the matrix (coordination/priority.py), so a request's designator says which
FAD and urgency made it without storing them."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from nations.models import ActivityDesignator

from . import priority
from .models import Urgency

# the matrix read backwards: designator -> (FAD, urgency)
CELL = {pd: (fad, str(urgency)) for fad, row in priority.MATRIX.items() for urgency, pd in row.items()}

# Every queue of requests (the request list's open ones, the approval queue, the dashboard's cards, the API's
# ?ordering=priority): the most pressing designator first (01 before 15), then the soonest required, then the oldest.
QUEUE_ORDER = ("priority_designator", "required_by", "id")


@dataclass(frozen=True)
class Designator:
    """A priority designator (1-15) as people read it."""

    value: int

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return priority.label(self.value)

    @property
    def group(self) -> int:
        return priority.group(self.value)

    @property
    def activity_designator(self) -> str:
        """The force activity designator that made it, as written (``IV``)."""
        return ActivityDesignator(CELL[self.value][0]).label

    @property
    def urgency(self) -> str:
        """The urgency of need that made it (``A``, ``B`` or ``C``)."""
        return CELL[self.value][1]

    @property
    def urgency_label(self) -> str:
        return str(Urgency(self.urgency).label)

    @property
    def explanation(self) -> str:
        """``Group 2 · FAD IV · urgency A``, in the reader's language."""
        return _("Group %(group)s · FAD %(fad)s · urgency %(urgency)s") % {
            "group": self.group,
            "fad": self.activity_designator,
            "urgency": self.urgency,
        }


def describe(value: int) -> Designator:
    return Designator(int(value))
