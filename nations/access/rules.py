"""Who may do what: one predicate per action, and the text a refused caller reads.

Visibility is a separate question (``visibility``): callers fetch an object through ``visible_to(user)`` first, so
that what the user may not see answers 404 and what they see but may not do answers 403 (``require``).

Rules are registered by action name ('stock.count', 'request.approve', ...).  The stock, flag and reconciliation
rules are declared here; the supply-request actions are registered by the request lifecycle table
(``coordination.lifecycle``) with the parties below, so that adding a transition adds a table row, not a rule here.

Parties of a supply request (PRODUCT.md, "Who may do what"):
- requester: the requesting nation's logistics officers (create, submit, cancel);
- supplier liaison: the supplying nation's liaison officers, never the request's author nor anyone holding a role in
  the requesting nation (approve, reject);
- dispatcher: the supplier's logistics officers or the source center's operators;
- receiver: the requester's logistics officers or the destination center's operators.
``visibility.party_condition`` states the same parties as conditions on requests (for queues); a test holds the
two forms to each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .profile import AccessProfile, profile, sees_everything

Predicate = Callable[[AccessProfile, Any], bool]


class Party(StrEnum):
    REQUESTER = "requester"
    SUPPLIER_LIAISON = "supplier_liaison"
    DISPATCHER = "dispatcher"
    RECEIVER = "receiver"


def holds_party(p: AccessProfile, party: Party, r) -> bool:
    """Does the profile act as `party` on request `r` (anything with the request's nation, center and author ids)?"""
    if party is Party.REQUESTER:
        return r.requesting_nation_id in p.logistics_nations
    if party is Party.SUPPLIER_LIAISON:
        return r.supplying_nation_id in p.liaison_nations and not is_author(p, r) and not is_dual_hatted(p, r)
    if party is Party.DISPATCHER:
        return r.supplying_nation_id in p.logistics_nations or r.source_center_id in p.operated_centers
    if party is Party.RECEIVER:
        return r.requesting_nation_id in p.logistics_nations or r.destination_center_id in p.operated_centers
    raise ValueError(f"unknown party {party!r}")


def is_author(p: AccessProfile, r) -> bool:
    """Separation of duties: whoever raised a request never decides on it."""
    return r.created_by_id is not None and r.created_by_id == p.user_id


def is_dual_hatted(p: AccessProfile, r) -> bool:
    """Separation of duties across nations: whoever holds any role in the requesting nation never decides on its
    requests, even as another nation's liaison officer (one person would be asking and granting)."""
    return r.requesting_nation_id in p.officer_nations


SEPARATION_OF_DUTIES = _("Whoever raised a request cannot approve it.")
DUAL_HATTED = _("You hold a role in the requesting nation: you cannot decide on its request.")


def separation_of_duties_refusal(p: AccessProfile, r) -> str | Promise | None:
    """Why a supplier's liaison officer is refused a decision on `r`, when separation of duties is the reason."""
    if is_author(p, r):
        return SEPARATION_OF_DUTIES
    if is_dual_hatted(p, r) and r.supplying_nation_id in p.liaison_nations:
        return DUAL_HATTED
    return None


@dataclass(frozen=True)
class Rule:
    """One action's rule: who may, and what a refused caller is told."""

    allows: Predicate
    refusal: str | Promise
    # a text more precise than `refusal` for this caller and object, when there is one (None: `refusal`)
    explain: Callable[[AccessProfile, Any], str | Promise | None] | None = None


_RULES: dict[str, Rule] = {}


def register(action: str, rule: Rule) -> None:
    """Declare `action`'s rule (a second declaration replaces the first)."""
    _RULES[action] = rule


def rule_for(action: str) -> Rule:
    try:
        return _RULES[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}") from None


def actions() -> list[str]:
    return sorted(_RULES)


def can(user, action: str, obj) -> bool:
    """May `user` perform `action` ('request.approve', 'stock.count', ...) on `obj`?"""
    rule = rule_for(action)
    p = profile(user)
    if p.is_anonymous:
        return False
    return bool(rule.allows(p, obj))


def require(user, action: str, obj) -> None:
    """Raise PermissionDenied, saying what was refused, unless `user` may perform `action` on `obj`."""
    if can(user, action, obj):
        return
    rule = rule_for(action)
    precise = rule.explain(profile(user), obj) if rule.explain is not None else None
    raise PermissionDenied(str(precise or rule.refusal))


def refusal(action: str) -> str:
    return str(rule_for(action).refusal)


# --- stocks ------------------------------------------------------------------------------------------------------


def _own_officer(p: AccessProfile, stock) -> bool:
    return stock.nation_id in p.logistics_nations


register("stock.receipt", Rule(_own_officer, _("You may not book receipts on this stock.")))
register("stock.issue", Rule(_own_officer, _("You may not issue from this stock.")))
register("stock.adjust", Rule(_own_officer, _("You may not adjust this stock.")))
# safety level, consumption rate, shared flag
register("stock.edit", Rule(_own_officer, _("You may not edit this stock.")))
register(
    "stock.count",
    Rule(
        lambda p, s: _own_officer(p, s) or s.center_id in p.operated_centers,
        _("You may not count this stock."),
    ),
)


# --- the catalog ---------------------------------------------------------------------------------------------------

# Items are alliance reference data (PRODUCT.md: coordinators keep reference data): alliance coordinators and
# administrators add and correct them; every signed-in user reads them.
register(
    "catalog.manage",
    Rule(lambda p, item: p.coordinator or p.superuser, _("Only alliance coordinators manage the catalog.")),
)


# --- flags and runs ----------------------------------------------------------------------------------------------


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


register("flag.acknowledge", Rule(_may_acknowledge, _("You may not acknowledge this flag.")))
# coordinators start alliance-wide runs; an operator may run their own center (obj is a center or None)
register(
    "reconciliation.start",
    Rule(
        lambda p, center: p.coordinator or (center is not None and center.pk in p.operated_centers),
        _("You may not start this reconciliation."),
    ),
)


def may_read_audit_log(user) -> bool:
    """Administrators (superusers), alliance coordinators and a nation's officers read the audit log (each the
    entries ``visibility.audit_entry`` lets them see); nobody else does."""
    if sees_everything(user):
        return True
    p = profile(user)
    return p.coordinator or bool(p.officer_nations)


def may_export_audit_log(user) -> bool:
    """Only administrators export the whole audit log (the SIEM feed): it names every nation's private stock."""
    return sees_everything(user)
