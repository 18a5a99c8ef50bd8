"""How an object shown inside another is rendered to a viewer who may or may not see it.

A movement names its request, an audit entry its subject, a notification links to a request, a flag names its
stock or request.  The viewer sees the container; the object inside may be one they would get 404 for.  Rendered
for this viewer (PRODUCT.md, "Visibility follows every object, nested ones too"):

- visible: its reference (or id) and a link;
- invisible: a neutral text of its kind ("transfer to another nation"), with no reference, no id and no link; the
  texts written about it (a movement's reason, a request's comment) and the people of another nation who acted on
  it are neutral too.

Decided in bulk, never one query per row (``Disclosure``):

- an object loaded with its row (``select_related``) is decided in memory, by evaluating the model's visibility
  condition (``visibility.condition_for``, the very ``Q`` that ``restrict`` applies) against its fields;
- a container fetched through its own visibility may vouch for the object inside (``visibility.VOUCHED``: a stock's
  shortfall is visible exactly when its stock is);
- objects known only by id (an audit entry's subject, a notification's link) are decided with one query per model
  per page: the visible subset of the ids shown, ``restrict(Model.objects.filter(pk__in=ids), user)``.

This module names other apps' models only by label (``app_label.model``) and their routes only by the URL names
its callers pass in, so ``nations`` stays below ``inventory`` and ``coordination``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Model, Q
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .profile import is_active_user
from .visibility import VOUCHED, condition_for, is_restricted, restrict

# What a viewer reads instead of an object they may not see, by app_label.model.  Each says what kind of thing
# is there, never which one.
NEUTRAL: dict[str, Promise] = {
    "coordination.supplyrequest": _("transfer to another nation"),
    "inventory.stock": _("stock not shared with you"),
    "inventory.movement": _("movement of stock not shared with you"),
    "inventory.stockcount": _("count of stock not shared with you"),
    "inventory.stockreport": _("another nation's stock report"),
    "coordination.shortfall": _("flag not addressed to you"),
    "coordination.discrepancy": _("flag not addressed to you"),
    "coordination.notification": _("someone else's notification"),
    "coordination.webhookendpoint": _("another nation's webhook"),
}
NEUTRAL_OBJECT = _("an object you may not see")
# The people of another nation who acted on something the viewer may not see.
NEUTRAL_ACTOR = _("staff of another nation")


def neutral_text(model_or_label) -> Promise:
    label = model_or_label if isinstance(model_or_label, str) else model_or_label._meta.label_lower
    return NEUTRAL.get(label.lower(), NEUTRAL_OBJECT)


@dataclass(frozen=True)
class Shown:
    """One nested object as this viewer reads it.  ``str()`` gives its text, ``html`` a link when it has one.
    An absent object (a movement without a request) is neither hidden nor has text."""

    text: Any = ""  # the reference, or the neutral text
    url: str = ""  # only when visible
    pk: Any = None  # only when visible
    hidden: bool = False

    def __str__(self) -> str:
        return str(self.text)

    def __bool__(self) -> bool:
        return bool(self.text)

    @property
    def html(self) -> str:
        """A link when it has one, else its text, escaped (``{{ shown.html }}`` in a template)."""
        if self.url:
            return format_html('<a href="{}">{}</a>', self.url, self.text)
        return format_html("{}", self.text)

    @property
    def neutral_actor(self):
        """Who acted on it, as a viewer who may not see it reads it."""
        return NEUTRAL_ACTOR


ABSENT = Shown()


# --- deciding in memory --------------------------------------------------------------------------------------------


class Undecided(Exception):
    """The condition cannot be evaluated on the loaded row (a relation not loaded, a subquery): ask the database."""


_LOOKUPS = {"exact", "in", "isnull"}


def _value(obj: Model, parts: list[str]):
    for position, part in enumerate(parts):
        if obj is None:
            return None
        if part == "pk":
            value = obj.pk
        else:
            try:
                field = obj._meta.get_field(part)
            except FieldDoesNotExist:
                raise Undecided(part) from None
            if position == len(parts) - 1:
                if not field.concrete:
                    raise Undecided(part)
                return getattr(obj, field.attname)
            if not (field.many_to_one or field.one_to_one) or not field.is_cached(obj):
                raise Undecided(part)  # reading it would cost a query per row
            value = getattr(obj, part)
        obj = value
    return obj


def matches(obj: Model, condition: Q) -> bool:
    """Does the loaded row `obj` meet `condition`?  Raises ``Undecided`` for what it cannot evaluate in memory.

    Understands the conditions of ``visibility``: AND, OR, NOT over ``field``, ``field__in`` and
    ``field__isnull`` with plain values, through relations already loaded.  NULL matches no comparison, as in SQL
    (Django adds ``IS NOT NULL`` under NOT, so negation agrees too)."""
    results = []
    for child in condition.children:
        if isinstance(child, Q):
            results.append(matches(obj, child))
            continue
        lookup, expected = child
        parts = lookup.split("__")
        op = parts.pop() if len(parts) > 1 and parts[-1] in _LOOKUPS else "exact"
        value = _value(obj, parts)
        if op == "isnull":
            results.append((value is None) == bool(expected))
        elif op == "in":
            if not isinstance(expected, list | tuple | set | frozenset):
                raise Undecided(lookup)
            results.append(value is not None and value in expected)
        else:
            if hasattr(expected, "resolve_expression") or isinstance(expected, Model):
                raise Undecided(lookup)
            results.append(value is not None and value == expected)
    combined = all(results) if condition.connector == Q.AND else any(results)
    return not combined if condition.negated else combined


# --- deciding for a page -------------------------------------------------------------------------------------------


def _model(model_or_label):
    if isinstance(model_or_label, str):
        return apps.get_model(model_or_label)
    return model_or_label


def _pk(model, value):
    """The primary key `value` as the model stores it (an audit entry keeps ids as text), or None."""
    try:
        return model._meta.pk.to_python(value)
    except (ValidationError, TypeError, ValueError):
        return None


class Disclosure:
    """Which of the objects shown on one page (or in one API answer) `user` may see.

    Decisions are remembered for the life of the disclosure (one request: ``disclosure_for``), so that the rows of
    a page, decided together by ``prime``, then cost nothing each."""

    def __init__(self, user):
        self.user = user
        self._seen: dict[str, dict[Any, bool]] = {}
        self._conditions: dict[str, Q] = {}
        self._done: set = set()

    def first_time(self, key) -> bool:
        """True the first time `key` is asked (a page already primed is not primed again)."""
        if key in self._done:
            return False
        self._done.add(key)
        return True

    # the decisions

    def _known(self, model) -> dict[Any, bool]:
        return self._seen.setdefault(model._meta.label_lower, {})

    def _condition(self, model) -> Q:
        label = model._meta.label_lower
        if label not in self._conditions:
            self._conditions[label] = condition_for(model, self.user)
        return self._conditions[label]

    def prime(self, model_or_label, ids: Iterable) -> None:
        """Decide for the objects of a model known by id: one query for those not decided yet."""
        model = _model(model_or_label)
        if not is_restricted(model):
            return
        known = self._known(model)
        wanted = {pk for pk in (_pk(model, i) for i in ids) if pk is not None and pk not in known}
        if not wanted:
            return
        visible = set(restrict(model._base_manager.filter(pk__in=wanted), self.user).values_list("pk", flat=True))
        for pk in wanted:
            known[pk] = pk in visible

    def prime_objects(self, objects: Iterable[Model | None]) -> None:
        """Decide for loaded objects: in memory where the condition allows, else one query per model."""
        undecided: dict[Any, list] = {}
        for obj in objects:
            if obj is None or not is_restricted(type(obj)):
                continue
            known = self._known(type(obj))
            if obj.pk in known:
                continue
            try:
                known[obj.pk] = matches(obj, self._condition(type(obj)))
            except Undecided:
                undecided.setdefault(type(obj), []).append(obj.pk)
        for model, ids in undecided.items():
            self.prime(model, ids)

    def prime_related(self, rows: Iterable[Model], relation: str) -> None:
        """Decide for the objects that `rows` name through the foreign key `relation`, all at once."""
        rows = list(rows)
        if not rows:
            return
        field = rows[0]._meta.get_field(relation)
        loaded, ids = [], []
        for row in rows:
            if getattr(row, field.attname) is None or self._vouched(row, relation):
                continue
            if field.is_cached(row):
                loaded.append(getattr(row, relation))
            else:
                ids.append(getattr(row, field.attname))
        self.prime_objects(loaded)
        self.prime(field.related_model, ids)

    def sees(self, model_or_label, pk) -> bool:
        """May the viewer see the object of this model with this id?  Reference data (no visibility rule) is
        seen by every signed-in user."""
        model = _model(model_or_label)
        if not is_active_user(self.user):
            return False
        if not is_restricted(model):
            return True
        pk = _pk(model, pk)
        if pk is None:
            return False
        known = self._known(model)
        if pk not in known:
            self.prime(model, [pk])
        return known[pk]

    def sees_object(self, obj: Model) -> bool:
        self.prime_objects([obj])
        return self.sees(type(obj), obj.pk)

    def _vouched(self, row: Model, relation: str) -> bool:
        vouch = VOUCHED.get((row._meta.label_lower, relation))
        return bool(vouch and vouch(row))

    def sees_related(self, row: Model, relation: str) -> bool:
        """May the viewer see the object `row` names through `relation`?  (`row` was fetched through its own
        visibility: it may vouch for it.)"""
        field = row._meta.get_field(relation)
        pk = getattr(row, field.attname)
        if pk is None:
            return True
        if self._vouched(row, relation):
            return True
        if field.is_cached(row):
            return self.sees_object(getattr(row, relation))
        return self.sees(field.related_model, pk)

    # the renderings

    def show(
        self,
        obj: Model | None,
        *,
        url_name: str | None = None,
        text: Callable[[Model], Any] = str,
    ) -> Shown:
        """`obj` for this viewer: its text and link, or its kind's neutral text."""
        if obj is None:
            return ABSENT
        if not self.sees_object(obj):
            return Shown(text=neutral_text(obj), hidden=True)
        return Shown(text=text(obj), url=_url(url_name, obj.pk), pk=obj.pk)

    def show_related(
        self,
        row: Model,
        relation: str,
        *,
        url_name: str | None = None,
        text: Callable[[Model], Any] | None = None,
    ) -> Shown:
        """The object `row` names through `relation`, for this viewer.  Without `text` the object is shown by its
        id, and is not loaded when the row did not load it."""
        field = row._meta.get_field(relation)
        pk = getattr(row, field.attname)
        if pk is None:
            return ABSENT
        if not self.sees_related(row, relation):
            return Shown(text=neutral_text(field.related_model), hidden=True)
        return Shown(
            text=text(getattr(row, relation)) if text is not None else pk,
            url=_url(url_name, pk),
            pk=pk,
        )

    def show_ref(self, model_or_label, pk, *, text: Any = "", url_name: str | None = None) -> Shown:
        """An object known only by its model and id (an audit entry's subject), for this viewer."""
        if pk in (None, ""):
            return ABSENT
        try:
            model = _model(model_or_label)
        except (LookupError, ValueError):  # a model since removed: nothing to link to, nothing to hide
            return Shown(text=text or pk, pk=pk)
        if not self.sees(model, pk):
            return Shown(text=neutral_text(model), hidden=True)
        return Shown(text=text or pk, url=_url(url_name, pk), pk=pk)

    def link(self, url: str, links: Mapping[str, str]) -> str:
        """`url` when it leads nowhere the viewer may not go, else "".  `links` maps the URL names of object
        pages to their model's label ({"request-detail-page": "coordination.supplyrequest"}); a link to any other
        page (a list) is kept."""
        if not url:
            return ""
        try:
            match = resolve(url.split("?", 1)[0])
        except Resolver404:
            return url
        label = links.get(match.url_name or "")
        if label is None:
            return url
        pk = match.kwargs.get("pk", next(iter(match.args), None))
        return url if self.sees(label, pk) else ""

    def prime_links(self, urls: Iterable[str], links: Mapping[str, str]) -> None:
        by_label: dict[str, list] = {}
        for url in urls:
            try:
                match = resolve((url or "").split("?", 1)[0])
            except Resolver404:
                continue
            label = links.get(match.url_name or "")
            if label is not None:
                by_label.setdefault(label, []).append(match.kwargs.get("pk", next(iter(match.args), None)))
        for label, ids in by_label.items():
            self.prime(label, ids)


def _url(url_name: str | None, pk) -> str:
    if not url_name:
        return ""
    try:
        return reverse(url_name, args=[pk])
    except NoReverseMatch:
        return ""


def disclosure_for(request_or_user) -> Disclosure:
    """The disclosure of the request being served (one per request, shared by the serializers and templates that
    render it), or a fresh one for a bare user."""
    request = getattr(request_or_user, "_request", request_or_user)  # DRF's Request wraps Django's
    user = getattr(request, "user", None)
    if user is None or not hasattr(request, "META"):
        return Disclosure(request_or_user)
    cached = getattr(request, "_nested_disclosure", None)
    if cached is None or cached.user is not user:
        cached = Disclosure(user)
        request._nested_disclosure = cached
    return cached


# --- an audit entry's subject --------------------------------------------------------------------------------------

# Keys of an entry's details that say nothing of its subject (the API token that made the call).
_AUDIT_DETAILS_KEPT = ("api_token",)


@dataclass(frozen=True)
class AuditSubject:
    """An audit entry as this viewer reads it: its subject's id, text and link, or neutral text and no id."""

    object_id: str
    object_repr: Any
    summary: Any
    details: dict
    url: str = ""
    hidden: bool = False


def audit_subject(disclosure: Disclosure, entry, *, links: Mapping[str, str] | None = None) -> AuditSubject:
    """`entry` for this viewer: when they may not see its subject, no id, no reference, no summary or details
    that name it.  `links` maps a subject's label to the URL name of its page.  The log itself leaves out entries
    about a stock the reader may not see (``visibility.audit_entry``); this is the second line of defence, for a
    subject the entry's stock does not cover."""
    links = links or {}
    shown = disclosure.show_ref(
        entry.object_type, entry.object_id, text=entry.object_repr, url_name=links.get(entry.object_type)
    )
    if not shown.hidden:
        return AuditSubject(entry.object_id, entry.object_repr, entry.summary, entry.details or {}, url=shown.url)
    kept = {k: v for k, v in (entry.details or {}).items() if k in _AUDIT_DETAILS_KEPT}
    summary = _("%(event)s: %(subject)s") % {"event": entry.get_kind_display(), "subject": shown.text}
    return AuditSubject("", shown.text, summary, kept, hidden=True)


def prime_audit_subjects(disclosure: Disclosure, entries: Iterable) -> None:
    """Decide for the subjects of a page of entries: one query per model."""
    by_label: dict[str, list] = {}
    for entry in entries:
        if entry.object_type and entry.object_id:
            by_label.setdefault(entry.object_type, []).append(entry.object_id)
    for label, ids in by_label.items():
        try:
            disclosure.prime(label, ids)
        except (LookupError, ValueError):
            continue
