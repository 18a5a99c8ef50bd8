"""Secure by default, checked at run time: every API viewset and every page either narrows its rows through the
access layer or declares itself public.

The check cannot be satisfied by naming: it counts the calls of ``nations.access.visibility.restrict`` (the door
every ``visible_to`` goes through) while it requests each route as a signed-in user with no grants -- GET on lists
and details (a dummy key: the lookup must still go through the door to answer 404), POST on actions.  A route
that refuses that user before reading anything (403) is requested again by a coordinator, who passes every rule
that guards a read.  A route that reaches no ``restrict`` either way fails, unless its view declares ``public``
(``public = True`` on the viewset or page view, ``core.web.public_page`` on a function view).

``test_the_check_catches_*`` prove it fails: a throwaway viewset and a throwaway page that forget the rule.
"""

from __future__ import annotations

import re
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, include, path
from rest_framework import mixins
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from config.api_urls import api_v1, router
from core.api.base import PortalGenericViewSet
from core.tables import TableListView
from inventory.api.views import ItemViewSet, StockViewSet
from inventory.models import Item, Stock
from inventory.tables import StockTable
from nations import access
from nations.access import visibility
from portal.context_processors import portal_context
from tests.factories import CenterFactory, ItemFactory, UserFactory

pytestmark = pytest.mark.django_db

DUMMY_PK = "987654321"  # no row has it: the lookup must still go through the door to answer 404
NOT_PAGES = ("admin/", "api/", "i18n/", "login/", "logout/", "healthz", "readyz")


# --- the check -----------------------------------------------------------------------------------------------


def _from_navigation() -> bool:
    """Whether the caller is the navigation's context processor (the bell counts the user's unread notifications
    through visibility on every page): not the page's own read, so not counted."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code is portal_context.__code__:
            return True
        frame = frame.f_back
    return False


@contextmanager
def restrict_calls():
    """The models ``visibility.restrict`` was called for while the block ran (``visible_to`` looks it up at
    call time, so the wrapper sees every call)."""
    calls: list = []
    original = visibility.restrict

    def counted(queryset, user):
        if not _from_navigation():
            calls.append(queryset.model)
        return original(queryset, user)

    with mock.patch.object(visibility, "restrict", counted):
        yield calls


@dataclass
class World:
    no_grants: object
    coordinator: object
    center_code: str
    nsn: str


@pytest.fixture
def world() -> World:
    _clients.clear()
    center, item = CenterFactory(), ItemFactory()
    coordinator = UserFactory()
    access.grant_role(coordinator, access.Role.COORDINATOR)
    return World(no_grants=UserFactory(), coordinator=coordinator, center_code=center.code, nsn=item.nsn)


_clients: dict[int, APIClient] = {}


def _client(user) -> APIClient:
    """A signed-in client for `user`, made once per test (the `world` fixture empties the cache)."""
    if user.pk not in _clients:
        _clients[user.pk] = APIClient()
        _clients[user.pk].force_login(user)
    return _clients[user.pk]


# POST bodies for the views that read only once given a real question (a bulk decision names its requests)
BODIES = {"/api/v1/requests/bulk-decide/": {"decision": "approve", "requests": [987654321]}}


def _send(client, method: str, url: str):
    if method == "post":  # a fresh Idempotency-Key: each POST is a new one, never a replay
        return client.post(url, BODIES.get(url, {}), format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    return client.get(url)


def reaches_restrict(world: World, method: str, url: str) -> tuple[bool, list[int]]:
    """Whether requesting `url` goes through ``restrict``: as the user with no grants, and, when that user is
    refused before any read, as a coordinator.  Also returns the statuses answered (for the failure message)."""
    statuses = []
    for user in (world.no_grants, world.coordinator):
        with restrict_calls() as calls:
            response = _send(_client(user), method, url)
        statuses.append(response.status_code)
        if calls:
            return True, statuses
        if response.status_code != 403:
            break
    return False, statuses


# --- what to request -------------------------------------------------------------------------------------------


def _sample_kwargs(world: World) -> dict[str, str]:
    return {"pk": DUMMY_PK, "code": world.center_code, "nsn": world.nsn, "kind": "shortfalls", "action": "submit"}


def _query(world: World, name: str | None) -> str:
    """Query strings for the routes that read only once given a real question."""
    return {
        "sourcing": f"?nsn={world.nsn}&quantity=1&destination={world.center_code}",
        "request-sourcing": f"?nsn={world.nsn}&quantity=1&destination_center={world.center_code}",
    }.get(name, "")


def _fill(route: str, kwargs: dict[str, str]) -> str:
    """'stocks/<int:pk>/' or '^stocks/(?P<pk>[^/.]+)/$' -> 'stocks/987654321/'."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: kwargs[m.group(1)], route)  # a router's regex
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: kwargs[m.group(1)], route)  # a path() route
    return route.removeprefix("^").removesuffix("$").replace("\\.", ".")


def is_public(view) -> bool:
    """The declaration, read from the view: ``public`` on a function view, its class, or a viewset class."""
    return bool(
        getattr(view, "public", False)
        or getattr(getattr(view, "view_class", None), "public", False)
        or getattr(getattr(view, "cls", None), "public", False)
    )


def api_routes(world: World) -> list[tuple[str, str, object]]:
    """(method, url, view) for every viewset of the router (GET, and POST but for create) and every plain API
    view of ``api_v1``; format-suffix duplicates left out."""
    kwargs = _sample_kwargs(world)
    registered = {viewset for _prefix, viewset, _basename in router.registry}
    routes = []
    for pattern in router.urls:
        view = pattern.callback
        if getattr(view, "cls", None) not in registered or "format" in pattern.pattern.regex.groupindex:
            continue
        for method, action in view.actions.items():
            if method == "get" or (method == "post" and action != "create"):
                routes.append((method, "/api/v1/" + _fill(str(pattern.pattern), kwargs), view))
    from_router = {id(pattern) for pattern in router.urls}
    for pattern in (p for p in api_v1 if id(p) not in from_router):  # the plain views, before or after the router
        url = "/api/v1/" + _fill(str(pattern.pattern), kwargs) + _query(world, pattern.name)
        # a POST-only view (the bulk decision) is tried with a POST, as the page walk does
        actions = getattr(pattern.callback, "actions", None) or {}
        routes.append(("post" if actions and "get" not in actions else "get", url, pattern.callback))
    return routes


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def page_routes(world: World) -> list[tuple[str, str, object]]:
    """(method, url, view) for every page of the URLconf: GET, or POST where the page answers GET with 405."""
    kwargs = _sample_kwargs(world)
    routes = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith(NOT_PAGES):
            continue
        url = "/" + _fill(route, kwargs) + _query(world, pattern.name)
        method = "post" if _client(world.no_grants).get(url).status_code == 405 else "get"
        routes.append((method, url, pattern.callback))
    return routes


def is_for_administrators_only(view) -> bool:
    """An API action declared for administrators only (``administrators_only=True``: the audit export).  Like the
    admin site it reads every row, so it must refuse everyone else before reading any."""
    return bool(getattr(view, "initkwargs", {}).get("administrators_only"))


def unrestricted(world: World, routes) -> list[str]:
    failures = []
    for method, url, view in routes:
        if is_public(view):
            continue
        if is_for_administrators_only(view):
            statuses = [_send(_client(user), method, url).status_code for user in (world.no_grants, world.coordinator)]
            if statuses != [403, 403]:
                failures.append(f"{method.upper()} {url} (for administrators only, answered {statuses})")
            continue
        restricted, statuses = reaches_restrict(world, method, url)
        if not restricted:
            failures.append(f"{method.upper()} {url} (answered {statuses})")
    return failures


# --- the structure ----------------------------------------------------------------------------------------------


def test_every_api_viewset_restricts_or_declares_itself_public(world):
    routes = api_routes(world)
    assert len(routes) > 20  # the walk found the router's routes
    assert unrestricted(world, routes) == [], "these API routes read rows without visibility and are not public"


def test_every_page_restricts_or_declares_itself_public(world):
    routes = page_routes(world)
    assert len(routes) > 15  # the walk found the pages
    assert unrestricted(world, routes) == [], "these pages read rows without visibility and are not public"


def test_public_is_declared_only_for_reference_data():
    public_viewsets = {viewset.__name__ for _p, viewset, _b in router.registry if viewset.public}
    assert public_viewsets == {"NationViewSet", "CenterViewSet", "ItemViewSet"}


# --- the check catches what forgets ------------------------------------------------------------------------------


class LeakyStockViewSet(StockViewSet):
    """A throwaway viewset that forgets the rule: its own get_queryset, without super()."""

    def get_queryset(self):
        return Stock.objects.select_related("nation", "center", "item")


class LeakyStockListView(TableListView):
    """A throwaway page that forgets the rule in the same way."""

    template_name = "inventory/stock_list.html"
    table_class = StockTable

    def get_queryset(self):
        return Stock.objects.select_related("nation", "center", "item")


@login_required
def leaky_stock_page(request):
    return HttpResponse(", ".join(str(stock.pk) for stock in Stock.objects.all()))


urlpatterns = [
    path("leaky/api/stocks/", LeakyStockViewSet.as_view({"get": "list"})),
    path("leaky/api/stocks/<int:pk>/", LeakyStockViewSet.as_view({"get": "retrieve"})),
    path("leaky/stocks/", LeakyStockListView.as_view()),
    path("leaky/function/", leaky_stock_page),
    path("sound/api/stocks/", StockViewSet.as_view({"get": "list"})),
    path("", include("config.urls")),  # the pages' templates link to the portal's routes
]


@pytest.mark.urls(__name__)
def test_the_check_catches_a_viewset_that_forgets_to_restrict(world):
    routes = [
        ("get", "/leaky/api/stocks/", urlpatterns[0].callback),
        ("get", f"/leaky/api/stocks/{DUMMY_PK}/", urlpatterns[1].callback),
    ]
    assert unrestricted(world, routes) == [f"GET {url} (answered [200])" for _m, url, _v in routes[:1]] + [
        f"GET {routes[1][1]} (answered [404])"
    ]
    # the same check passes the sound viewset at the same kind of address: it is not failing everything
    assert unrestricted(world, [("get", "/sound/api/stocks/", urlpatterns[4].callback)]) == []


@pytest.mark.urls(__name__)
def test_the_check_catches_a_page_that_forgets_to_restrict(world):
    routes = [("get", "/leaky/stocks/", urlpatterns[2].callback), ("get", "/leaky/function/", leaky_stock_page)]
    assert unrestricted(world, routes) == [
        "GET /leaky/stocks/ (answered [200])",
        "GET /leaky/function/ (answered [200])",
    ]


def test_a_viewset_over_a_model_without_visibility_must_declare_itself_public(world):
    class Catalog(mixins.ListModelMixin, PortalGenericViewSet):
        queryset = Item.objects.all()
        serializer_class = ItemViewSet.serializer_class

    request = APIRequestFactory().get("/catalog/")
    force_authenticate(request, user=world.no_grants)
    with pytest.raises(ImproperlyConfigured, match="has no visible_to"):
        Catalog.as_view({"get": "list"})(request)
    Catalog.public = True
    assert Catalog.as_view({"get": "list"})(request).status_code == 200


def test_ids_in_template_query_strings_are_not_localized():
    # USE_THOUSAND_SEPARATOR writes id 2157 as "2,157": a link such as ?stock={{ row.stock_id }} broke for every
    # id above 999 (the dashboard's "Request supplies").  An id in a query string is written |stringformat:"d".
    root = Path(settings.BASE_DIR) / "templates"
    bare_id = re.compile(r"[?&][a-z_]+=\{\{\s*[\w.]*(?:pk|id)\s*\}\}")
    found = [
        f"{path.relative_to(root)}: {match.group(0)}"
        for path in root.rglob("*.html")
        for match in bare_id.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found
