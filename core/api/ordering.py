"""``?ordering=`` as part of the contract: the values are payload field names, listed as an enum in the schema, and
an unknown one is a 400 problem (DRF's filter silently ignores it, and takes ORM paths such as ``item__nsn``).

A viewset declares ``ordering_fields`` as a list of names that are model fields too, or as a mapping from the
payload name to what to sort by: an ORM path (``"nsn": "item__nsn"``) or an expression (a rank for priorities).
The primary key ends every ordering, so pages never repeat or skip a row whose sort value ties with another's.
"""

from __future__ import annotations

from django.db.models import F
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter


def ordering_choices(view) -> dict:
    """The view's ``ordering_fields`` as {payload name: ORM path or expression}."""
    declared = getattr(view, "ordering_fields", None) or {}
    return dict(declared) if isinstance(declared, dict) else {name: name for name in declared}


class ContractOrdering(OrderingFilter):
    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if raw is None or raw == "":
            return self.get_default_ordering(view)
        choices = ordering_choices(view)
        terms = [term.strip() for term in raw.split(",")]
        unknown = [term for term in terms if term.lstrip("-") not in choices]
        if unknown:
            allowed = ", ".join(sorted(choices)) or _("none")
            raise ValidationError(
                {
                    self.ordering_param: [
                        _("Unknown ordering %(terms)s: use %(allowed)s, each optionally after a '-' (descending).")
                        % {"terms": ", ".join(repr(term) for term in unknown), "allowed": allowed}
                    ]
                }
            )
        ordering = []
        for term in terms:
            target = choices[term.lstrip("-")]
            expression = F(target) if isinstance(target, str) else target
            ordering.append(expression.desc() if term.startswith("-") else expression.asc())
        return ordering

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        ordering = list(ordering)
        if not any(isinstance(term, str) and term.lstrip("-") in ("pk", "id") for term in ordering):
            ordering.append("pk")
        return queryset.order_by(*ordering)

    def get_schema_operation_parameters(self, view):
        names = sorted(ordering_choices(view))
        if not names:
            return []
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": "Sort by these payload fields, comma-separated, '-' before one for descending "
                "(ties end in id order). Any other value answers 400.",
                "schema": {"type": "array", "items": {"type": "string", "enum": names + [f"-{n}" for n in names]}},
                "style": "form",
                "explode": False,
            }
        ]
