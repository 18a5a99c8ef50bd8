"""The four human roles of PRODUCT.md and the guardian permission that carries each one.

A role is held by membership of a role group; the group holds one object permission on the nation (or
center) it acts for.  Coordinators hold a global (model-level) permission instead.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    LOGISTICS = "logistics", _("Logistics officer")
    LIAISON = "liaison", _("Liaison officer")
    OPERATOR = "operator", _("Center operator")
    COORDINATOR = "coordinator", _("Alliance coordinator")


# role -> (app_label, codename) of the permission that carries it
ROLE_PERMISSIONS: dict[str, tuple[str, str]] = {
    Role.LOGISTICS: ("nations", "act_as_logistics_officer"),
    Role.LIAISON: ("nations", "act_as_liaison_officer"),
    Role.OPERATOR: ("inventory", "operate_center"),
    Role.COORDINATOR: ("nations", "coordinate_alliance"),
}

NATION_ROLES = (Role.LOGISTICS, Role.LIAISON)
CENTER_ROLES = (Role.OPERATOR,)
GLOBAL_ROLES = (Role.COORDINATOR,)

COORDINATOR_GROUP_NAME = "Alliance coordinators"


def role_group_name(role: str, target_code: str | None) -> str:
    """The name of the group that holds `role` for a nation or center, e.g. 'FRA logistics officers'."""
    if role == Role.COORDINATOR:
        return COORDINATOR_GROUP_NAME
    suffix = {Role.LOGISTICS: "logistics officers", Role.LIAISON: "liaison officers", Role.OPERATOR: "operators"}
    return f"{target_code} {suffix[role]}"
