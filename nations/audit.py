"""The audit log: security-relevant events, written append-only in the same transaction as the event itself.

Recorded (README, "Security"): sign-ins, failed sign-ins and django-axes lockouts; role grants and revocations
(every change of a user's role groups or direct role permissions, whether made by ``access.grant_role``, the
admin or a shell); API tokens issued and revoked; every supply-request transition; every stock adjustment and
every decision on a count discrepancy.  Services call the functions below inline, one call where the event
happens.  Sign-ins and group membership change inside Django and django-axes code, which the portal does not
call itself, so those are recorded from their signals (``connect_signals``): that is the only place they can
be caught, whatever path made the change.

Entries name the actor, the nation the event concerns, the object, the time, and for events made over HTTP the
client address and path (from :class:`AuditRequestMiddleware`).  Summaries are stored in English, the portal's
default language, like the other texts written for later readers.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any

from axes.helpers import get_client_ip_address
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .access.profile import center_model
from .models import (
    AuditEntry,
    AuditKind,
    Nation,
    NationGroupObjectPermission,
    NationUserObjectPermission,
    ServiceAccount,
)
from .roles import ROLE_PERMISSIONS, Role

_current_request: ContextVar = ContextVar("audit_current_request", default=None)

# codename -> role, for the permissions that carry a role
_ROLE_BY_CODENAME = {codename: Role(role) for role, (_app, codename) in ROLE_PERMISSIONS.items()}
_OFFICER_CODENAMES = [ROLE_PERMISSIONS[Role.LOGISTICS][1], ROLE_PERMISSIONS[Role.LIAISON][1]]


class AuditRequestMiddleware:
    """Remembers the request being served, so that an entry written deep inside a service says from which
    address and path it came and, when the service was not told, who acted."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


def client_ip(request) -> str | None:
    """The client's address as django-axes computes it (so ``AXES_IPWARE_PROXY_COUNT`` applies to both)."""
    if request is None:
        return None
    address = getattr(request, "axes_ip_address", None)
    if not address:
        address = get_client_ip_address(request)
    return address or None


def _nation_id(nation) -> int | None:
    if nation is None or isinstance(nation, int):
        return nation
    return nation.pk


# Subjects that belong to one stock, by app_label.model: the entry follows that stock's visibility.  A discrepancy
# about a request follows the request (seen by coordinators and both nations' officers), not a stock.
_STOCK_OF: dict[str, Any] = {
    "inventory.stock": lambda stock: stock.pk,
    "inventory.movement": lambda movement: movement.stock_id,
    "inventory.stockcount": lambda count: count.stock_id,
    "coordination.discrepancy": lambda flag: flag.stock_id if flag.request_id is None else None,
    "coordination.shortfall": lambda flag: flag.stock_id,
}


def subject_stock_id(obj) -> int | None:
    """The stock an entry about `obj` concerns (``AuditEntry.stock``), or None."""
    if obj is None:
        return None
    stock_of = _STOCK_OF.get(obj._meta.label_lower)
    return stock_of(obj) if stock_of is not None else None


def record(
    kind: str,
    *,
    summary: str,
    actor=None,
    nation: Nation | int | None = None,
    obj=None,
    details: dict[str, Any] | None = None,
    username: str | None = None,
    request=None,
    stock_id: int | None = None,
) -> AuditEntry:
    """Write one entry.  Call it inside the transaction of the event, so both commit or neither does.

    `actor` defaults to the signed-in user of the request being served (None for jobs and commands);
    `username` defaults to the actor's.  The entry names the stock its subject belongs to (`stock_id`, by default
    from `obj`), and is visible to whoever may see that stock (``visibility.audit_entry``)."""
    entry = _entry(
        kind,
        summary=summary,
        actor=actor,
        nation=nation,
        obj=obj,
        details=details,
        username=username,
        request=request,
        stock_id=stock_id,
    )
    entry.save(force_insert=True)
    return entry


def _entry(
    kind: str,
    *,
    summary: str,
    actor=None,
    nation: Nation | int | None = None,
    obj=None,
    details: dict[str, Any] | None = None,
    username: str | None = None,
    request=None,
    stock_id: int | None = None,
) -> AuditEntry:
    """The entry :func:`record` writes, unsaved (several are written at once by ``bulk_create``)."""
    if kind not in AuditKind.values:
        raise ValueError(f"unknown audit kind {kind!r}")
    request = request if request is not None else _current_request.get()
    # a failed sign-in has no actor, even when tried from a browser already signed in as someone else
    if actor is None and request is not None and kind not in (AuditKind.LOGIN_FAILED, AuditKind.LOCKED_OUT):
        user = getattr(request, "user", None)
        if getattr(user, "is_authenticated", False):
            actor = user
    details = dict(details or {})
    token = getattr(request, "auth", None) if request is not None else None
    if getattr(token, "prefix", None):  # the call came with an API token: say which one
        details.setdefault("api_token", token.prefix)
    return AuditEntry(
        at=timezone.now(),
        kind=kind,
        actor=actor,
        username=(username if username is not None else getattr(actor, "username", "")) or "",
        nation_id=_nation_id(nation),
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        summary=summary[:500],
        details=details,
        ip_address=client_ip(request),
        path=(request.path[:300] if request is not None else ""),
        stock_id=stock_id if stock_id is not None else subject_stock_id(obj),
    )


def home_nation_id(user) -> int | None:
    """The nation a user acts for, when there is exactly one: a national system's nation, or the one nation the
    user is an officer of.  Read afresh (the access profile cached on the user object is left alone)."""
    system_nation = ServiceAccount.objects.filter(user=user).values_list("nation_id", flat=True).first()
    if system_nation is not None:
        return system_nation
    nations = set(
        NationGroupObjectPermission.objects.filter(
            group__user=user, permission__codename__in=_OFFICER_CODENAMES
        ).values_list("content_object_id", flat=True)
    )
    nations |= set(
        NationUserObjectPermission.objects.filter(user=user, permission__codename__in=_OFFICER_CODENAMES).values_list(
            "content_object_id", flat=True
        )
    )
    return nations.pop() if len(nations) == 1 else None


# --- events the services report ----------------------------------------------------------------------------------


def token_issued(token) -> AuditEntry:
    expires = token.expires_at.isoformat() if token.expires_at else None
    return record(
        AuditKind.TOKEN_ISSUED,
        obj=token,
        nation=home_nation_id(token.user),
        summary=f"API token {token.prefix}… issued to {token.user.username}"
        + (f", expires {token.expires_at:%Y-%m-%d}" if token.expires_at else ", no expiry"),
        details={"user": token.user.username, "name": token.name, "expires_at": expires},
    )


def token_revoked(token) -> AuditEntry:
    return record(
        AuditKind.TOKEN_REVOKED,
        obj=token,
        nation=home_nation_id(token.user),
        summary=f"API token {token.prefix}… of {token.user.username} revoked",
        details={"user": token.user.username, "name": token.name},
    )


def request_transition(event, *, acting_nation_id: int) -> AuditEntry:
    """A supply request moved (``event`` is its new timeline row, ``event.request`` the request), on behalf of
    `acting_nation_id`: the side that makes the move, which the lifecycle table of ``coordination`` names."""
    entry = _request_transition_entry(event, acting_nation_id=acting_nation_id)
    entry.save(force_insert=True)
    return entry


def request_transition_entry(event, *, acting_nation_id: int) -> AuditEntry:
    """The entry :func:`request_transition` writes, unsaved (the lifecycle writes it with the move, in one
    statement; ``details["event"]`` is then the timeline row's id, filled in by that statement)."""
    return _request_transition_entry(event, acting_nation_id=acting_nation_id)


def request_transitions(events: list, *, acting_nation_id: int) -> list[AuditEntry]:
    """:func:`request_transition` for many timeline rows at once (a requisition raising its requests)."""
    return AuditEntry.objects.bulk_create(
        [_request_transition_entry(event, acting_nation_id=acting_nation_id) for event in events]
    )


def _request_transition_entry(event, *, acting_nation_id: int) -> AuditEntry:
    request = event.request
    moved = f"{event.from_status} → {event.to_status}" if event.from_status else f"created as {event.to_status}"
    return _entry(
        AuditKind.REQUEST_TRANSITION,
        actor=event.actor,
        nation=acting_nation_id,
        obj=request,
        summary=f"{request} {moved}" + (f" ({event.quantity})" if event.quantity is not None else ""),
        details={
            "from_status": event.from_status,
            "to_status": event.to_status,
            "quantity": event.quantity,
            "comment": event.comment,
            "event": event.pk,
            "requesting_nation": request.requesting_nation_id,
            "supplying_nation": request.supplying_nation_id,
        },
    )


def stock_adjusted(movement) -> AuditEntry:
    stock = movement.stock
    return record(
        AuditKind.STOCK_ADJUSTED,
        actor=movement.actor,
        nation=stock.nation_id,
        obj=stock,
        summary=f"Stock {stock.pk} adjusted by {movement.quantity:+d} to {movement.balance_after}: {movement.reason}",
        details={
            "quantity": movement.quantity,
            "balance_after": movement.balance_after,
            "reason": movement.reason,
            "movement": movement.pk,
        },
    )


# Query parameters of a read of the log that are not filters.
_NOT_FILTERS = ("page", "format")


def log_read(*, channel: str, query, entry: AuditEntry | None = None) -> AuditEntry:
    """One read of the audit log (a page of the browser's list, an API list page, one API entry): one entry per
    read, never per row, with the filters used.  The read follows what it read: one entry's stock, or, filtered by
    one object, that object's stock (one query), so a coordinator is never told that someone looked into a stock
    they may not see."""
    filters = {key: values[0] if len(values) == 1 else values for key, values in query.lists() if values}
    page = filters.pop("page", None)
    for key in _NOT_FILTERS:
        filters.pop(key, None)
    details: dict[str, Any] = {"channel": channel, "filters": filters}
    if page is not None:
        details["page"] = page
    stock_id = None
    if entry is not None:
        details["entry"] = entry.pk
        stock_id = entry.stock_id
        summary = f"Audit entry #{entry.pk} read ({channel})"
    else:
        if filters.get("object_id"):
            named = AuditEntry.objects.filter(object_id=str(filters["object_id"]), stock__isnull=False)
            if filters.get("object_type"):
                named = named.filter(object_type__iexact=str(filters["object_type"]))
            stock_id = named.values_list("stock_id", flat=True).first()
        shown = ", ".join(f"{key}={value}" for key, value in sorted(filters.items()))
        summary = f"Audit log read ({channel})" + (f": {shown}" if shown else "")
    return record(AuditKind.AUDIT_READ, summary=summary, details=details, stock_id=stock_id)


def count_decided(*, discrepancy, user, accepted: bool, movement=None, comment: str = "") -> AuditEntry:
    stock = discrepancy.stock
    if accepted:
        change = f"books moved by {movement.quantity:+d}" if movement is not None else "books already agreed"
        summary = f"Count #{discrepancy.count_id} of stock {stock.pk} accepted: {change}"
    else:
        summary = f"Count #{discrepancy.count_id} of stock {stock.pk} rejected: books kept at {discrepancy.expected}"
    return record(
        AuditKind.COUNT_ACCEPTED if accepted else AuditKind.COUNT_REJECTED,
        actor=user,
        nation=stock.nation_id,
        obj=stock,
        summary=summary,
        details={
            "discrepancy": discrepancy.pk,
            "count": discrepancy.count_id,
            "counted": discrepancy.actual,
            "book": discrepancy.expected,
            "movement": movement.pk if movement is not None else None,
            "quantity": movement.quantity if movement is not None else 0,
            "comment": comment,
        },
    )


# --- events recorded from signals ---------------------------------------------------------------------------------


def _on_login(sender, request, user, **kwargs):
    record(
        AuditKind.LOGIN,
        actor=user,
        nation=home_nation_id(user),
        obj=user,
        request=request,
        summary=f"{user.username} signed in",
    )


UNKNOWN_USER = "unknown user "
_RECORDED_UNKNOWN = re.compile(r"unknown user [0-9a-f]{12}")


def recorded_username(typed: str) -> str:
    """The name a failed sign-in is recorded under: the username when an account has it, else "unknown user"
    and the first 12 hex digits of an HMAC of the typed text keyed with SECRET_KEY.  People type their password
    into the username box: the typed text is never stored, yet repeated attempts with the same text share one
    name (so django-axes still counts and locks them), and a guess cannot be checked without the key.  Real
    usernames hold no spaces, so a recorded name is recognised and kept as it is."""
    typed = str(typed or "")
    if not typed or _RECORDED_UNKNOWN.fullmatch(typed):
        return typed
    if get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: typed}).exists():
        return typed
    return UNKNOWN_USER + salted_hmac("nations.audit.unknown-user", typed, algorithm="sha256").hexdigest()[:12]


def axes_username(request, credentials=None) -> str | None:
    """``AXES_USERNAME_CALLABLE``: django-axes keys its counts and stores its rows under the recorded name too.
    Axes asks several times per sign-in: the answer is kept on the request (one query)."""
    typed = credentials.get("username") if credentials else None
    if typed is None and request is not None:
        typed = request.POST.get("username")
    if typed is None:
        return None
    known = request.__dict__.setdefault("_recorded_usernames", {}) if request is not None else {}
    if typed not in known:
        known[typed] = recorded_username(typed)
    return known[typed]


def _on_login_failed(sender, credentials, request=None, **kwargs):
    # django-axes handled the failure first (its receiver was connected earlier) and marked a lockout on the request
    username = axes_username(request, credentials) or ""
    unknown = username.startswith(UNKNOWN_USER)
    locked = bool(getattr(request, "axes_locked_out", False))
    record(
        AuditKind.LOGIN_FAILED,
        actor=None,
        username=username[:150],
        request=request,
        summary=f"Sign-in failed for {username or 'no username'}" + (" (locked out)" if locked else ""),
        details={"locked_out": locked, **({"unknown_user": True} if unknown else {})},
    )


def _on_locked_out(sender, request, username, ip_address, **kwargs):
    """A lockout is recorded once, when it starts; attempts refused during it are failed sign-ins."""
    username = recorded_username(username)[:150]  # axes names it through axes_username already; kept as it is
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    if AuditEntry.objects.filter(
        kind=AuditKind.LOCKED_OUT, username=username, ip_address=ip_address, at__gte=since
    ).exists():
        return
    record(
        AuditKind.LOCKED_OUT,
        actor=None,
        username=username,
        request=request,
        summary=f"{username or 'no username'} from {ip_address} locked out after repeated failed sign-ins",
        details={"cool_off_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)},
    )


def _roles_held_by_groups(group_ids) -> dict[int, list[tuple[Role, Any]]]:
    """group id -> the (role, target) pairs its permissions carry; target a Nation, a center, or None."""
    CenterGroupObjectPermission = center_model("CenterGroupObjectPermission")
    roles: dict[int, list[tuple[Role, Any]]] = {gid: [] for gid in group_ids}
    for grant in NationGroupObjectPermission.objects.filter(group_id__in=group_ids).select_related(
        "permission", "content_object"
    ):
        if grant.permission.codename in _ROLE_BY_CODENAME:
            roles[grant.group_id].append((_ROLE_BY_CODENAME[grant.permission.codename], grant.content_object))
    for grant in CenterGroupObjectPermission.objects.filter(group_id__in=group_ids).select_related(
        "permission", "content_object"
    ):
        if grant.permission.codename in _ROLE_BY_CODENAME:
            roles[grant.group_id].append((_ROLE_BY_CODENAME[grant.permission.codename], grant.content_object))
    coordinator = ROLE_PERMISSIONS[Role.COORDINATOR]
    for gid in Group.objects.filter(
        id__in=group_ids, permissions__content_type__app_label=coordinator[0], permissions__codename=coordinator[1]
    ).values_list("id", flat=True):
        roles[gid].append((Role.COORDINATOR, None))
    return roles


def _role_entry(granted: bool, user, role: Role | None, target, *, via: str, group=None) -> None:
    what = f"{role.label}" if role else f"membership of group {group.name}"
    scope = f" of {target.code}" if target is not None else (" (alliance-wide)" if role else "")
    verb = "granted to" if granted else "revoked from"
    record(
        AuditKind.ROLE_GRANTED if granted else AuditKind.ROLE_REVOKED,
        obj=user,
        nation=target if isinstance(target, Nation) else None,  # a center's operators act for no nation
        summary=f"{what}{scope} {verb} {user.username}",
        details={
            "user": user.username,
            "role": role.value if role else "",
            "target": getattr(target, "code", ""),
            "target_type": target._meta.model_name if target else "",
            "group": group.name if group is not None else "",
            "via": via,
        },
    )


def _on_groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    """A user joined or left groups (``user.groups.add(...)`` or ``group.user_set.add(...)``, any caller)."""
    if action in ("pre_clear", "pre_remove"):
        # Note the links that exist now: they are gone afterwards, and remove() signals every id it was given,
        # linked or not (add() signals only the new ones).
        linked = sender.objects.filter(**{"group_id" if reverse else "user_id": instance.pk})
        if action == "pre_remove":
            linked = linked.filter(**{"user_id__in" if reverse else "group_id__in": pk_set})
        instance._audit_unlinking = set(linked.values_list("user_id" if reverse else "group_id", flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if action != "post_add":
        pk_set = instance.__dict__.pop("_audit_unlinking", set())
    if not pk_set:
        return
    granted = action == "post_add"
    User = get_user_model()
    pairs = (
        [(u, instance) for u in User.objects.filter(pk__in=pk_set)]
        if reverse
        else [(instance, g) for g in Group.objects.filter(pk__in=pk_set)]
    )
    held = _roles_held_by_groups({group.pk for _, group in pairs})
    for user, group in pairs:
        roles = held.get(group.pk) or [(None, None)]
        for role, target in roles:
            _role_entry(granted, user, role, target, via="group", group=group)


def _on_user_permissions_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    """The coordinator role given to (or taken from) one user directly, not through a group."""
    if action not in ("post_add", "post_remove") or not pk_set or reverse:
        return
    app_label, codename = ROLE_PERMISSIONS[Role.COORDINATOR]
    if Permission.objects.filter(pk__in=pk_set, content_type__app_label=app_label, codename=codename).exists():
        _role_entry(action == "post_add", instance, Role.COORDINATOR, None, via="user permission")


def _on_user_object_permission(granted: bool):
    """A nation or center role given to one user directly (a guardian user object permission)."""

    def receiver(sender, instance, **kwargs):
        if granted and not kwargs.get("created", True):
            return
        role = _ROLE_BY_CODENAME.get(instance.permission.codename)
        if role is not None:
            _role_entry(granted, instance.user, role, instance.content_object, via="user object permission")

    return receiver


_grant_receiver = _on_user_object_permission(True)
_revoke_receiver = _on_user_object_permission(False)


def connect_signals() -> None:
    CenterUserObjectPermission = center_model("CenterUserObjectPermission")

    user_logged_in.connect(_on_login, dispatch_uid="audit_login")
    user_login_failed.connect(_on_login_failed, dispatch_uid="audit_login_failed")
    user_locked_out.connect(_on_locked_out, dispatch_uid="audit_locked_out")
    user_model = get_user_model()
    m2m_changed.connect(_on_groups_changed, sender=user_model.groups.through, dispatch_uid="audit_groups")
    m2m_changed.connect(
        _on_user_permissions_changed, sender=user_model.user_permissions.through, dispatch_uid="audit_user_permissions"
    )
    for model in (NationUserObjectPermission, CenterUserObjectPermission):
        post_save.connect(_grant_receiver, sender=model, dispatch_uid=f"audit_grant_{model._meta.label_lower}")
        post_delete.connect(_revoke_receiver, sender=model, dispatch_uid=f"audit_revoke_{model._meta.label_lower}")
