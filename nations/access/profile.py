"""What one user acts for, read once per request from the per-nation guardian grants.

A user's grants are read in one query over the direct-foreign-key guardian tables and cached on the user object
(``profile``).  Every visibility condition and every rule then names the handful of nation and center ids the
user acts for: tens at most, never one id per stock.  Measured on 1,000,000 stocks, this costs one 0.3 ms query per
request and lets PostgreSQL use the (center, nation, shared) index, where the earlier form (an OR of permission
subqueries in every statement) cost 3-5 ms of planning per statement.

Centers, and so their grant tables, belong to ``inventory``, which builds on this app: they are looked up through
the app registry (``apps.get_model``) at call time rather than imported, so ``nations`` stays below ``inventory``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Exists, Q, QuerySet

from core.prepared import prepared_statements

from ..models import Nation, NationGroupObjectPermission, NationUserObjectPermission
from ..roles import ROLE_PERMISSIONS, Role

OFFICER_ROLES = (Role.LOGISTICS, Role.LIAISON)


def center_model(name: str = "LogisticsCenter"):
    """A model of the centers' side (``inventory``), from the app registry."""
    return apps.get_model("inventory", name)


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
    # release lists that name a nation the user is an officer of (they see the stocks released to them)
    release_lists: frozenset[int] = frozenset()

    @property
    def officer_nations(self) -> frozenset[int]:
        return self.logistics_nations | self.liaison_nations

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS_PROFILE = AccessProfile(None, frozenset(), frozenset(), frozenset(), False, False)


def is_active_user(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active)


def sees_everything(user) -> bool:
    """Administrators (superusers) see all rows; they manage the portal through Django admin."""
    return is_active_user(user) and user.is_superuser


def _grants_sql() -> str:
    """The one query behind ``profile``: (codename, nation or center id) for every role the user holds, directly or
    through a group, ('participates', center id) for the centers their officer nations take part in, and
    ('released', release list id) for the release lists that name one of their officer nations.

    Hand-written because it runs on every request: the ORM's union of six querysets cost more Python to build and
    compile than the database takes to answer it."""

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

    center_group, center_user = center_model("CenterGroupObjectPermission"), center_model("CenterUserObjectPermission")
    participants = center_model().participants.through._meta.db_table
    listed = center_model("ReleaseList").nations.through._meta.db_table
    # Wrapped in SELECT ... FROM (WITH ...): a statement that starts with SELECT is one django-pghistory leaves
    # alone (it prefixes its context to anything else), so it can be prepared (core.prepared).
    return f"""
        SELECT kind, object_id FROM (
        WITH grants (kind, object_id) AS (
            {object_grants(NationGroupObjectPermission, NationUserObjectPermission)}
            UNION ALL
            {object_grants(center_group, center_user)}
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
        SELECT 'participates', lp.logisticscenter_id FROM {participants} lp
         WHERE lp.nation_id IN (SELECT object_id FROM grants WHERE kind IN (%(logistics)s, %(liaison)s))
        UNION ALL
        SELECT 'released', rn.releaselist_id FROM {listed} rn
         WHERE rn.nation_id IN (SELECT object_id FROM grants WHERE kind IN (%(logistics)s, %(liaison)s))
        ) AS held"""


_GRANTS_SQL: str | None = None


def _grant_rows(user) -> list[tuple[str, int]]:
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
    with prepared_statements(), connection.cursor() as cursor:  # every request asks it: planned once
        cursor.execute(_GRANTS_SQL, params)
        return cursor.fetchall()


def profile(user) -> AccessProfile:
    """The user's grants, read once per request (one query) and cached on the user object."""
    if not is_active_user(user):
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
        release_lists=frozenset(held.get("released", ())),
    )
    user._access_profile = result
    return result


def forget_profile(user) -> None:
    """Drop the cached profile (after a grant or revocation in the same request)."""
    user.__dict__.pop("_access_profile", None)
    for attr in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(attr, None)


def is_coordinator(user) -> bool:
    return profile(user).coordinator


# --- subqueries, for the few places that need the grants inside one SQL statement --------------------------------


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
    center = center_model()
    if not getattr(user, "is_authenticated", False):
        return center.objects.none().values("id")
    codename = ROLE_PERMISSIONS[Role.OPERATOR][1]
    via_group = (
        center_model("CenterGroupObjectPermission")
        .objects.filter(group__user=user, permission__codename=codename)
        .values("content_object_id")
    )
    via_user = (
        center_model("CenterUserObjectPermission")
        .objects.filter(user=user, permission__codename=codename)
        .values("content_object_id")
    )
    return center.objects.filter(Q(id__in=via_group) | Q(id__in=via_user)).values("id")


def coordinator_grant_exists(user) -> Exists:
    """True in SQL when `user` holds the coordinator role (directly or through a group).

    The queryset form of ``is_coordinator`` (superusers aside), for a condition that must stay inside one query."""
    app_label, codename = ROLE_PERMISSIONS[Role.COORDINATOR]
    grants = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    if not is_active_user(user):
        return Exists(grants.none())
    return Exists(grants.filter(Q(user=user) | Q(group__user=user)))
