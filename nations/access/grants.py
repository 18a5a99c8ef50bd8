"""Granting and revoking roles: membership of the role group that holds the role's one object permission."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db import transaction
from guardian.shortcuts import assign_perm

from ..models import Nation
from ..roles import CENTER_ROLES, GLOBAL_ROLES, NATION_ROLES, ROLE_PERMISSIONS, Role, role_group_name
from .profile import center_ids_operated_by, center_model, forget_profile, is_coordinator, nation_ids_for


def role_group(role: str, target=None) -> Group:
    """The group holding `role` for `target` (a Nation, a LogisticsCenter, or None for coordinators).

    Created with its one object permission on first use."""
    role = Role(role)
    if role in NATION_ROLES and not isinstance(target, Nation):
        raise ValueError(f"The {role.label} role is granted for a nation.")
    if role in CENTER_ROLES and not isinstance(target, center_model()):
        raise ValueError(f"The {role.label} role is granted for a logistics center.")
    if role in GLOBAL_ROLES and target is not None:
        raise ValueError(f"The {role.label} role is alliance-wide; give no nation or center.")

    app_label, codename = ROLE_PERMISSIONS[role]
    group, _ = Group.objects.get_or_create(name=role_group_name(role, getattr(target, "code", None)))
    if target is None:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    else:
        assign_perm(f"{app_label}.{codename}", group, target)
    return group


@transaction.atomic
def grant_role(user, role: str, target=None) -> Group:
    group = role_group(role, target)
    user.groups.add(group)
    forget_profile(user)
    return group


@transaction.atomic
def revoke_role(user, role: str, target=None) -> None:
    """Take `role` away; revoking a role nobody was ever granted creates nothing."""
    group = Group.objects.filter(name=role_group_name(Role(role), getattr(target, "code", None))).first()
    if group is not None:
        user.groups.remove(group)
    forget_profile(user)


def roles_of(user) -> list[tuple[str, str]]:
    """(role label, nation or center code) pairs the user holds, for display."""
    if isinstance(user, AnonymousUser) or not user.is_authenticated:
        return []
    result: list[tuple[str, str]] = []
    for role in NATION_ROLES:
        for code in Nation.objects.filter(id__in=nation_ids_for(user, [role])).values_list("code", flat=True):
            result.append((Role(role).label, code))
    centers = center_model().objects.filter(id__in=center_ids_operated_by(user))
    for code in centers.values_list("code", flat=True):
        result.append((Role.OPERATOR.label, code))
    if is_coordinator(user):
        result.append((Role.COORDINATOR.label, "alliance"))
    return result
