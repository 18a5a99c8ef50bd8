"""Every visibility condition of the portal, built from a user's ``AccessProfile``.

No other module builds one: a model's ``visible_to(user)``, the API's base viewset, the base page views, the
dashboard queues, the jobs and the renderer of nested objects (``nested``) all ask here.  Each builder returns a
``Q`` on the model's own fields (``Q()`` when everything is visible, ``NOTHING`` when nothing is); the ids it names are
the few nations and centers of the user's grants, so PostgreSQL answers from the indexes.

Rules (PRODUCT.md, "Who may do what"):
- stock: its nation's officers and systems; operators of its center; when shared, officers of nations
  participating in that center, and coordinators; when released to a list (REL TO), officers of the listed nations
  wherever they take part (movements, counts and a stock's flags follow their stock);
- request: officers of the requesting and the supplying nation, operators of its two centers, coordinators;
- a center's pool flag: its operators, its participating nations' officers, coordinators;
- stock reports: the reporting nation's officers, the center's operators, coordinators;
- notifications: their addressee only; webhooks: the nation's logistics officers and system;
- audit log: an entry follows its subject's stock (``AuditEntry.stock``): administrators read every entry,
  coordinators every one but those about a stock they may not see, a nation's officers the entries of their nation
  about what they may see; reconciliation runs: every signed-in user (their counts of findings narrowed to the
  flags the viewer may see: coordination/run_findings.py).
"""

from __future__ import annotations

from collections.abc import Callable

from django.apps import apps
from django.db.models import Q

from ..roles import Role
from .profile import AccessProfile, is_active_user, nation_ids_for, profile
from .rules import Party

NOTHING = Q(pk__in=[])
EVERYTHING = Q()


def any_of(terms: list[Q]) -> Q:
    """OR of `terms`; no terms matches nothing."""
    if not terms:
        return NOTHING
    condition = terms[0]
    for term in terms[1:]:
        condition |= term
    return condition


def _in(field: str, ids) -> list[Q]:
    """[field IN ids] when there are ids, else nothing to add (sorted: the same SQL text for the same grants)."""
    return [Q(**{f"{field}__in": sorted(ids)})] if ids else []


# --- stocks and what follows a stock -----------------------------------------------------------------------------


def stock(p: AccessProfile, prefix: str = "") -> Q:
    """The condition a stock row (reached through `prefix`, e.g. 'stock__') must meet to be visible."""
    if p.superuser:
        return EVERYTHING
    terms = _in(f"{prefix}nation_id", p.officer_nations) + _in(f"{prefix}center_id", p.operated_centers)
    if p.coordinator:  # coordinators see all shared stock
        terms.append(Q(**{f"{prefix}shared": True}))
    elif p.participating_centers:
        terms.append(Q(**{f"{prefix}shared": True, f"{prefix}center_id__in": sorted(p.participating_centers)}))
    # released to a list naming one of the user's nations: an explicit release, wherever the nation takes part;
    # not to coordinators as such (a REL TO list names the nations it is releasable to)
    terms += _in(f"{prefix}release_list_id", p.release_lists)
    return any_of(terms)


def movement(p: AccessProfile) -> Q:
    return stock(p, "stock__")


def stock_count(p: AccessProfile) -> Q:
    return stock(p, "stock__")


def stock_report(p: AccessProfile) -> Q:
    if p.superuser or p.coordinator:
        return EVERYTHING
    return any_of(_in("nation_id", p.officer_nations) + _in("center_id", p.operated_centers))


# --- requests ----------------------------------------------------------------------------------------------------


def request(p: AccessProfile, prefix: str = "") -> Q:
    """The condition a supply request (reached through `prefix`) must meet to be visible."""
    if p.superuser or p.coordinator:
        return EVERYTHING
    return any_of(
        _in(f"{prefix}requesting_nation_id", p.officer_nations)
        + _in(f"{prefix}supplying_nation_id", p.officer_nations)
        + _in(f"{prefix}source_center_id", p.operated_centers)
        + _in(f"{prefix}destination_center_id", p.operated_centers)
    )


def _requests_of_supplier(p: AccessProfile):
    """Requests made to a nation the profile is an officer of, or leaving a center it operates (a supplier's side)."""
    side = any_of(_in("supplying_nation_id", p.officer_nations) + _in("source_center_id", p.operated_centers))
    return _supply_requests().filter(side)


def _supply_requests():
    # by name: the rules live here, below the coordination app that defines the model (pyproject's layers)
    return apps.get_model("coordination", "SupplyRequest").objects


def requisition(p: AccessProfile) -> Q:
    """A requisition: its nation's officers, its destination's operators, coordinators; and a supplier (the
    officers of a nation, the operators of a center, it was sourced from) for the lines addressed to it."""
    if p.superuser or p.coordinator:
        return EVERYTHING
    own = _in("requesting_nation_id", p.officer_nations) + _in("destination_center_id", p.operated_centers)
    if p.officer_nations or p.operated_centers:
        supplied = _requests_of_supplier(p).filter(requisition__isnull=False).values("requisition_id")
        own.append(Q(pk__in=supplied))
    return any_of(own)


def requisition_line(p: AccessProfile) -> Q:
    """Every line of a requisition its nation and destination see; a supplier only the lines addressed to it."""
    if p.superuser or p.coordinator:
        return EVERYTHING
    own = _in("requisition__requesting_nation_id", p.officer_nations) + _in(
        "requisition__destination_center_id", p.operated_centers
    )
    if p.officer_nations or p.operated_centers:
        supplied = _requests_of_supplier(p).filter(requisition_line__isnull=False).values("requisition_line_id")
        own.append(Q(pk__in=supplied))
    return any_of(own)


def shipment(p: AccessProfile) -> Q:
    """A shipment: the shipping nation's officers, its two centers' operators, coordinators, and the officers of
    a nation one of its requests is for (a destination sees what is inbound)."""
    if p.superuser or p.coordinator:
        return EVERYTHING
    own = (
        _in("shipping_nation_id", p.officer_nations)
        + _in("source_center_id", p.operated_centers)
        + _in("destination_center_id", p.operated_centers)
    )
    if p.officer_nations:
        inbound = (
            _supply_requests()
            .filter(requesting_nation_id__in=sorted(p.officer_nations), shipment__isnull=False)
            .values("shipment_id")
        )
        own.append(Q(pk__in=inbound))
    return any_of(own)


def party_condition(p: AccessProfile, party: Party) -> Q:
    """The requests on which the profile acts as `party`: ``rules.holds_party`` as a condition (queues).
    ``NOTHING`` when the profile's grants never make it that party."""
    if party is Party.REQUESTER:
        return any_of(_in("requesting_nation_id", p.logistics_nations))
    if party is Party.SUPPLIER_LIAISON:
        if not p.liaison_nations:  # NOTHING as such: a caller can tell the profile never acts as this party
            return NOTHING
        condition = any_of(_in("supplying_nation_id", p.liaison_nations)) & ~Q(created_by_id=p.user_id)
        if p.officer_nations:  # never a request of a nation the user also holds a role in (rules.is_dual_hatted)
            condition &= ~Q(requesting_nation_id__in=sorted(p.officer_nations))
        return condition
    if party is Party.DISPATCHER:
        return any_of(_in("supplying_nation_id", p.logistics_nations) + _in("source_center_id", p.operated_centers))
    if party is Party.RECEIVER:
        return any_of(
            _in("requesting_nation_id", p.logistics_nations) + _in("destination_center_id", p.operated_centers)
        )
    raise ValueError(f"unknown party {party!r}")


# --- flags -------------------------------------------------------------------------------------------------------


def shortfall(p: AccessProfile) -> Q:
    """A stock's shortfall carries the stock's nation, center, shared flag and release list: the stock's rule,
    with no join.  A pool's shortfall (unmet demand at a center) is seen by the center's operators, its participating nations'
    officers and coordinators."""
    if p.superuser:
        return EVERYTHING
    pool = EVERYTHING if p.coordinator else any_of(_in("center_id", p.operated_centers | p.participating_centers))
    return (Q(stock__isnull=False) & stock(p)) | (Q(stock__isnull=True) & pool)


def discrepancy(p: AccessProfile) -> Q:
    """A request's discrepancy is seen with the request; a stock's with the stock."""
    if p.superuser:
        return EVERYTHING
    on_stock = Q(request__isnull=True, stock__isnull=False) & stock(p, "stock__")
    return on_stock | (Q(request__isnull=False) & request(p, "request__"))


# --- what belongs to one user or one nation ------------------------------------------------------------------------


# These three need who the user is, not the grants the profile reads (one query): they take the (signed-in) user.


def notification(user) -> Q:
    """A notification: its addressee only."""
    return Q(user_id=user.pk)


def webhook(user) -> Q:
    """A nation's webhook endpoints: its logistics officers and national system (administrators manage them in
    the admin, not through the API).  One subquery on the grants."""
    return Q(nation_id__in=nation_ids_for(user, [Role.LOGISTICS]))


def audit_entry(p: AccessProfile) -> Q:
    """An audit entry follows the visibility of its subject: an entry about a stock (or a movement, a count, a
    stock's flag: ``AuditEntry.stock``) is seen by whoever sees that stock -- the stock's own rule, reached through
    the entry.  Administrators read every entry; coordinators every entry but those about a stock they may not see
    (a nation's private stock); a nation's officers the entries of their nation whose subject they may see.  An
    entry about a request names the side that acted (its nation), one of the request's two nations: the officers of
    that nation see the request, so the nation term is the request's rule too.  Nobody else reads the log."""
    if p.superuser:
        return EVERYTHING
    subject = Q(stock__isnull=True) | stock(p, "stock__")
    if p.coordinator:
        return subject
    if p.officer_nations:
        return Q(nation_id__in=sorted(p.officer_nations)) & subject
    return NOTHING


def reconciliation_run(user) -> Q:
    """Reconciliation runs: every signed-in user (a nation's officers see counts of their own findings only, set
    per page by coordination/run_findings.py)."""
    return EVERYTHING


def reconcilable_center(p: AccessProfile) -> Q:
    """The centers whose reconciliation the profile may start: every one for coordinators, else those they operate."""
    if p.coordinator:
        return EVERYTHING
    return any_of(_in("id", p.operated_centers))


# --- one door: model -> condition ----------------------------------------------------------------------------------

# app_label.model -> its condition.  Reference data (nations, centers, items) is public to every signed-in user
# and is deliberately absent: views serving it declare themselves public.
CONDITIONS: dict[str, Callable[[AccessProfile], Q]] = {
    "inventory.stock": stock,
    "inventory.movement": movement,
    "inventory.stockcount": stock_count,
    "inventory.stockreport": stock_report,
    "coordination.supplyrequest": request,
    "coordination.requisition": requisition,
    "coordination.requisitionline": requisition_line,
    "coordination.shipment": shipment,
    "coordination.shortfall": shortfall,
    "coordination.discrepancy": discrepancy,
    "nations.auditentry": audit_entry,
}
# app_label.model -> its condition, from the user alone (no grants read: a list of these costs no extra query).
USER_CONDITIONS: dict[str, Callable[[object], Q]] = {
    "coordination.notification": notification,
    "coordination.webhookendpoint": webhook,
    "coordination.reconciliationrun": reconciliation_run,
}


def condition_for(model, user) -> Q:
    """The condition rows of `model` must meet to be visible to `user`."""
    label = model._meta.label_lower
    if label in USER_CONDITIONS:
        return USER_CONDITIONS[label](user) if is_active_user(user) else NOTHING
    try:
        build = CONDITIONS[label]
    except KeyError:
        raise LookupError(
            f"{model._meta.label} has no visibility rule; declare one in nations.access.visibility"
        ) from None
    if not is_active_user(user):
        return NOTHING
    return build(profile(user))


def restrict(queryset, user):
    """`queryset` narrowed to the rows `user` may see (the door every list, page, export and job goes through)."""
    condition = condition_for(queryset.model, user)
    if condition == EVERYTHING:
        return queryset
    return queryset.filter(condition)


def is_restricted(model) -> bool:
    return model._meta.label_lower in CONDITIONS or model._meta.label_lower in USER_CONDITIONS


# (container's app_label.model, relation) -> does a container row that met its own condition vouch for the object
# it names?  A stock's shortfall is the stock's rule on columns copied from the stock (``shortfall``), and a
# discrepancy without a request is the stock's rule (``discrepancy``): the renderer of nested objects (``nested``)
# then needs no query to know the stock is visible.
VOUCHED: dict[tuple[str, str], Callable[[object], bool]] = {
    ("coordination.shortfall", "stock"): lambda flag: True,
    ("coordination.discrepancy", "stock"): lambda flag: flag.request_id is None,
}
