"""The one door to data: who may see and do what, from the per-nation guardian grants.

Every list, detail, export, job and API call asks this module (directly, or through the ``visible_to``
queryset methods built on it).  A user's grants are read once per request, in one query over the
direct-foreign-key guardian tables (``profile``); the ``visible_to`` conditions then name the handful of
nation and center ids the user acts for.  A nation's officers see hundreds of thousands of stocks through one
grant: the lists in the SQL are of nations and centers (tens), never of stocks.  Measured on 1,000,000 stocks,
this costs one 0.3 ms query per request and lets PostgreSQL use the (center, nation, shared) index, where the
earlier form (an OR of permission subqueries in every statement) cost 3-5 ms of planning and hashed sub-plans
per statement and ~8 ms of Python to build and compile (bench/RESULTS.md).

Rules (PRODUCT.md, "Who may do what"):
- stock: its nation's officers and systems; operators of its center; when shared, officers of nations
  participating in that center, and coordinators;
- request: officers of the requesting and the supplying nation, operators of its two centers, coordinators;
- create/submit/cancel: requesting nation's logistics officers; approve/reject: supplying nation's liaison
  officers (never the request's author); dispatch: supplier's logistics officers or the source center's
  operators; receive: requester's logistics officers or the destination center's operators.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db import transaction
from django.db.models import Exists, Q, QuerySet
from django.utils.translation import gettext_lazy as _
from guardian.shortcuts import assign_perm

from .models import Nation, NationGroupObjectPermission, NationUserObjectPermission
from .roles import CENTER_ROLES, GLOBAL_ROLES, NATION_ROLES, ROLE_PERMISSIONS, Role, role_group_name

OFFICER_ROLES = (Role.LOGISTICS, Role.LIAISON)


# --- subqueries: ids of the nations / centers a user acts for ------------------------------------------------


def _codenames(roles) -> list[str]:
    return [ROLE_PERMISSIONS[r][1] for r in roles]


def nation_ids_for(user, roles=OFFICER_ROLES) -> QuerySet:
    """Ids of the nations for which `user` holds one of `roles` (a subquery, not evaluated here)."""
    if not getattr(user, "is_authenticated", False):
        return Nation.objects.none().values("id")
    codenames = _codenames(roles)
    via_group = NationGroupObjectPermission.objects.filter(group__user=user, permission__codename__in=codenames).values(
        "content_object_id"
    )
    via_user = NationUserObjectPermission.objects.filter(user=user, permission__codename__in=codenames).values(
        "content_object_id"
    )
    return Nation.objects.filter(Q(id__in=via_group) | Q(id__in=via_user)).values("id")


def center_ids_operated_by(user) -> QuerySet:
    """Ids of the centers `user` operates (a subquery)."""
    from inventory.models import CenterGroupObjectPermission, CenterUserObjectPermission, LogisticsCenter

    if not getattr(user, "is_authenticated", False):
        return LogisticsCenter.objects.none().values("id")
    codename = ROLE_PERMISSIONS[Role.OPERATOR][1]
    via_group = CenterGroupObjectPermission.objects.filter(group__user=user, permission__codename=codename).values(
        "content_object_id"
    )
    via_user = CenterUserObjectPermission.objects.filter(user=user, permission__codename=codename).values(
        "content_object_id"
    )
    return LogisticsCenter.objects.filter(Q(id__in=via_group) | Q(id__in=via_user)).values("id")


def participating_center_ids(user) -> QuerySet:
    """Ids of the centers in which a nation the user is an officer of participates."""
    from inventory.models import LogisticsCenter

    through = LogisticsCenter.participants.through
    return through.objects.filter(nation_id__in=nation_ids_for(user)).values("logisticscenter_id")


def is_coordinator(user) -> bool:
    return profile(user).coordinator


def coordinator_grant_exists(user) -> Exists:
    """True in SQL when `user` holds the coordinator role (directly or through a group).

    The queryset form of ``is_coordinator`` (superusers aside): ``visible_to`` puts it inside its one query
    instead of loading the user's permissions first, which costs two queries per freshly loaded user."""
    app_label, codename = ROLE_PERMISSIONS[Role.COORDINATOR]
    grants = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Exists(grants.none())
    return Exists(grants.filter(Q(user=user) | Q(group__user=user)))


def sees_everything(user) -> bool:
    """Administrators (superusers) see all rows; they manage the portal through Django admin."""
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_superuser)


# --- a per-request snapshot for action checks ------------------------------------------------------------------


@dataclass(frozen=True)
class AccessProfile:
    """What one user acts for, read once per request (one query) and cached on the user object."""

    user_id: int | None
    logistics_nations: frozenset[int]
    liaison_nations: frozenset[int]
    operated_centers: frozenset[int]
    coordinator: bool
    superuser: bool
    # centers in which a nation the user is an officer of participates (they see its shared stock)
    participating_centers: frozenset[int] = frozenset()

    @property
    def officer_nations(self) -> frozenset[int]:
        return self.logistics_nations | self.liaison_nations

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS_PROFILE = AccessProfile(None, frozenset(), frozenset(), frozenset(), False, False)


def _grants_sql() -> str:
    """The one query behind ``profile``: (codename, nation or center id) for every role the user holds, directly or
    through a group, and ('participates', center id) for the centers their officer nations take part in.

    Hand-written because it runs on every request: the ORM's union of six querysets cost more Python to build and
    compile than the database takes to answer it."""
    from inventory.models import CenterGroupObjectPermission, CenterUserObjectPermission, LogisticsCenter

    def object_grants(group_model, user_model) -> str:
        return f"""
            SELECT p.codename, g.content_object_id FROM {group_model._meta.db_table} g
              JOIN auth_permission p ON p.id = g.permission_id
              JOIN auth_user_groups ug ON ug.group_id = g.group_id
             WHERE ug.user_id = %(user)s AND p.codename IN (%(logistics)s, %(liaison)s, %(operator)s)
            UNION ALL
            SELECT p.codename, u.content_object_id FROM {user_model._meta.db_table} u
              JOIN auth_permission p ON p.id = u.permission_id
             WHERE u.user_id = %(user)s AND p.codename IN (%(logistics)s, %(liaison)s, %(operator)s)"""

    return f"""
        WITH grants (kind, object_id) AS (
            {object_grants(NationGroupObjectPermission, NationUserObjectPermission)}
            UNION ALL
            {object_grants(CenterGroupObjectPermission, CenterUserObjectPermission)}
            UNION ALL
            SELECT p.codename, 0 FROM auth_permission p
              JOIN django_content_type ct ON ct.id = p.content_type_id
             WHERE ct.app_label = %(coordinator_app)s AND p.codename = %(coordinator)s
               AND (EXISTS (SELECT 1 FROM auth_group_permissions gp
                              JOIN auth_user_groups ug ON ug.group_id = gp.group_id
                             WHERE gp.permission_id = p.id AND ug.user_id = %(user)s)
                    OR EXISTS (SELECT 1 FROM auth_user_user_permissions up
                                WHERE up.permission_id = p.id AND up.user_id = %(user)s))
        )
        SELECT kind, object_id FROM grants
        UNION ALL
        SELECT 'participates', lp.logisticscenter_id FROM {LogisticsCenter.participants.through._meta.db_table} lp
         WHERE lp.nation_id IN (SELECT object_id FROM grants WHERE kind IN (%(logistics)s, %(liaison)s))"""


def _grant_rows(user) -> list[tuple[str, int]]:
    from django.db import connection

    global _GRANTS_SQL
    if _GRANTS_SQL is None:
        _GRANTS_SQL = _grants_sql()
    app_label, coordinator = ROLE_PERMISSIONS[Role.COORDINATOR]
    params = {
        "user": user.pk,
        "logistics": ROLE_PERMISSIONS[Role.LOGISTICS][1],
        "liaison": ROLE_PERMISSIONS[Role.LIAISON][1],
        "operator": ROLE_PERMISSIONS[Role.OPERATOR][1],
        "coordinator_app": app_label,
        "coordinator": coordinator,
    }
    with connection.cursor() as cursor:
        cursor.execute(_GRANTS_SQL, params)
        return cursor.fetchall()


_GRANTS_SQL: str | None = None


def profile(user) -> AccessProfile:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return ANONYMOUS_PROFILE
    cached = getattr(user, "_access_profile", None)
    if cached is not None:
        return cached
    held: dict[str, set[int]] = {}
    for kind, object_id in _grant_rows(user):
        held.setdefault(kind, set()).add(object_id)
    codename = {role: ROLE_PERMISSIONS[role][1] for role in Role}
    result = AccessProfile(
        user_id=user.pk,
        logistics_nations=frozenset(held.get(codename[Role.LOGISTICS], ())),
        liaison_nations=frozenset(held.get(codename[Role.LIAISON], ())),
        operated_centers=frozenset(held.get(codename[Role.OPERATOR], ())),
        coordinator=user.is_superuser or codename[Role.COORDINATOR] in held,
        superuser=user.is_superuser,
        participating_centers=frozenset(held.get("participates", ())),
    )
    user._access_profile = result
    return result


def forget_profile(user) -> None:
    """Drop the cached profile (after a grant or revocation in the same request)."""
    user.__dict__.pop("_access_profile", None)
    for attr in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(attr, None)


# --- actions ----------------------------------------------------------------------------------------------------


def _request_rules(p: AccessProfile, r) -> dict[str, bool]:
    requester_officer = r.requesting_nation_id in p.logistics_nations
    return {
        "request.create": requester_officer,
        "request.submit": requester_officer,
        "request.cancel": requester_officer,
        "request.approve": r.supplying_nation_id in p.liaison_nations and r.created_by_id != p.user_id,
        "request.reject": r.supplying_nation_id in p.liaison_nations and r.created_by_id != p.user_id,
        "request.dispatch": r.supplying_nation_id in p.logistics_nations or r.source_center_id in p.operated_centers,
        "request.receive": requester_officer or r.destination_center_id in p.operated_centers,
    }


def _stock_rules(p: AccessProfile, s) -> dict[str, bool]:
    own_officer = s.nation_id in p.logistics_nations
    return {
        "stock.receipt": own_officer,
        "stock.issue": own_officer,
        "stock.adjust": own_officer,
        "stock.edit": own_officer,  # safety level, consumption rate, shared flag
        "stock.count": own_officer or s.center_id in p.operated_centers,
    }


def can(user, action: str, obj) -> bool:
    """May `user` perform `action` ('request.approve', 'stock.count', ...) on `obj`?

    Visibility is a separate question: callers fetch `obj` through ``visible_to(user)`` first, so that what
    the user may not see answers 404 and what they see but may not do answers 403."""
    p = profile(user)
    if p.is_anonymous:
        return False
    family = action.split(".", 1)[0]
    if family == "request":
        rules = _request_rules(p, obj)
    elif family == "stock":
        rules = _stock_rules(p, obj)
    elif action == "flag.acknowledge":
        return _may_acknowledge(p, obj)
    elif action == "reconciliation.start":
        # coordinators start alliance-wide runs; an operator may run their own center (obj is a center or None)
        return p.coordinator or (obj is not None and obj.pk in p.operated_centers)
    else:
        raise ValueError(f"unknown action {action!r}")
    if action not in rules:
        raise ValueError(f"unknown action {action!r}")
    return rules[action]


# What a refused caller is told, in their language (pages and API alike).
REFUSALS = {
    "request.create": _("You may not create this request."),
    "request.submit": _("You may not submit this request."),
    "request.cancel": _("You may not cancel this request."),
    "request.approve": _("You may not approve this request."),
    "request.reject": _("You may not reject this request."),
    "request.dispatch": _("You may not dispatch this request."),
    "request.receive": _("You may not receive this request."),
    "stock.receipt": _("You may not book receipts on this stock."),
    "stock.issue": _("You may not issue from this stock."),
    "stock.adjust": _("You may not adjust this stock."),
    "stock.edit": _("You may not edit this stock."),
    "stock.count": _("You may not count this stock."),
    "reconciliation.start": _("You may not start this reconciliation."),
}


def _may_acknowledge(p: AccessProfile, flag) -> bool:
    """A flag is acknowledged by those it is addressed to: the owning nation's officers and the center's
    operators for a stock's flag; both nations' officers and both centers' operators for a request's; the
    center's operators for a pool's; and coordinators for any.  Seeing a shared stock is not enough: another
    nation's officer acknowledging it would hide the flag from its owners."""
    if p.coordinator:
        return True
    stock = getattr(flag, "stock", None)
    if stock is not None and getattr(flag, "request_id", None) is None:
        return stock.nation_id in p.officer_nations or stock.center_id in p.operated_centers
    request = getattr(flag, "request", None)
    if request is not None:
        return (
            request.requesting_nation_id in p.officer_nations
            or request.supplying_nation_id in p.officer_nations
            or request.source_center_id in p.operated_centers
            or request.destination_center_id in p.operated_centers
        )
    return getattr(flag, "center_id", None) in p.operated_centers


def require(user, action: str, obj) -> None:
    """Raise PermissionDenied unless `user` may perform `action` on `obj`."""
    from django.core.exceptions import PermissionDenied

    if not can(user, action, obj):
        raise PermissionDenied(str(REFUSALS.get(action, _("You may not do that."))))


# --- granting roles ---------------------------------------------------------------------------------------------


def role_group(role: str, target=None) -> Group:
    """The group holding `role` for `target` (a Nation, a LogisticsCenter, or None for coordinators).

    Created with its one object permission on first use."""
    role = Role(role)
    if role in NATION_ROLES and not isinstance(target, Nation):
        raise ValueError(f"The {role.label} role is granted for a nation.")
    if role in CENTER_ROLES:
        from inventory.models import LogisticsCenter

        if not isinstance(target, LogisticsCenter):
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
    from inventory.models import LogisticsCenter

    result: list[tuple[str, str]] = []
    for role in NATION_ROLES:
        for code in Nation.objects.filter(id__in=nation_ids_for(user, [role])).values_list("code", flat=True):
            result.append((Role(role).label, code))
    for code in LogisticsCenter.objects.filter(id__in=center_ids_operated_by(user)).values_list("code", flat=True):
        result.append((Role.OPERATOR.label, code))
    if is_coordinator(user):
        result.append((Role.COORDINATOR.label, "alliance"))
    return result
