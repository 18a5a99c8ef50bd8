"""The access layer: the one place that says who sees what and who may do what.

- ``profile``: what a user acts for, read once per request from the per-nation guardian grants;
- ``rules``: ``can`` / ``require`` and the refusal texts, one rule per action;
- ``visibility``: every visibility condition (``restrict(queryset, user)`` is the door to data);
- ``nested``: how an object shown inside another is rendered to a viewer who may or may not see it;
- ``grants``: granting and revoking roles.

Callers import the package (``from nations import access``) and use the names below.
"""

from ..roles import Role
from .grants import grant_role, revoke_role, role_group, roles_of
from .profile import (
    ANONYMOUS_PROFILE,
    OFFICER_ROLES,
    AccessProfile,
    center_ids_operated_by,
    coordinator_grant_exists,
    forget_profile,
    is_coordinator,
    nation_ids_for,
    profile,
    sees_everything,
)
from .rules import (
    Party,
    Rule,
    can,
    holds_party,
    may_export_audit_log,
    may_read_audit_log,
    refusal,
    register,
    require,
)
from .visibility import restrict

__all__ = [
    "ANONYMOUS_PROFILE",
    "OFFICER_ROLES",
    "AccessProfile",
    "Party",
    "Role",
    "Rule",
    "can",
    "center_ids_operated_by",
    "coordinator_grant_exists",
    "forget_profile",
    "grant_role",
    "holds_party",
    "is_coordinator",
    "may_export_audit_log",
    "may_read_audit_log",
    "nation_ids_for",
    "profile",
    "refusal",
    "register",
    "require",
    "restrict",
    "revoke_role",
    "role_group",
    "roles_of",
    "sees_everything",
]
