"""The OpenAPI 3 schema validates, describes every URL the API router exposes, and its browsable docs work with
no internet access (every asset is a local static file, none from a CDN).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import URLPattern, URLResolver
from django.urls.resolvers import RegexPattern, RoutePattern

from config.api_urls import api_v1
from tests.factories import UserFactory

from .conftest import session_client

API_PREFIX = "/api/v1/"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    """The schema written by ``manage.py spectacular --validate --fail-on-warn`` (raises on any problem)."""
    path = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_the_schema_validates_as_openapi_3(schema):
    assert str(schema["openapi"]).startswith("3.")
    assert schema["info"]["title"] and schema["info"]["version"]
    assert schema["paths"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]


# --- every URL of the router is in the schema ----------------------------------------------------------------


def _regex_to_openapi(regex: str) -> str:
    """'^requests/(?P<pk>[^/.]+)/approve/$' -> 'requests/{pk}/approve/'; named groups may nest parentheses."""
    regex = regex.removeprefix("^").removesuffix("$")
    out, i = [], 0
    while i < len(regex):
        if regex.startswith("(?P<", i):
            name_end = regex.index(">", i)
            out.append("{" + regex[i + 4 : name_end] + "}")
            depth, j, in_class = 1, name_end + 1, False
            while depth:
                char = regex[j]
                if char == "\\":
                    j += 1
                elif char == "[":
                    in_class = True
                elif char == "]":
                    in_class = False
                elif not in_class and char == "(":
                    depth += 1
                elif not in_class and char == ")":
                    depth -= 1
                j += 1
            i = j
        elif regex[i] == "\\":
            out.append(regex[i + 1])
            i += 2
        else:
            out.append(regex[i])
            i += 1
    path = "".join(out)
    assert not re.search(r"[\^$*+?()\[\]|]", path), f"cannot turn {regex!r} into a path"
    return path


def _route_to_openapi(route: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def _exposed_operations(patterns, prefix=API_PREFIX):
    """(OpenAPI path, HTTP methods) of every view the API's URLconf exposes."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _exposed_operations(entry.url_patterns, prefix + _route_to_openapi(str(entry.pattern)))
            continue
        assert isinstance(entry, URLPattern)
        view_class = getattr(entry.callback, "cls", None)
        if view_class is None or view_class.schema is None:  # DRF's API root opts out of schemas by design
            continue
        if isinstance(entry.pattern, RegexPattern):
            if "(?P<format>" in str(entry.pattern):  # the router's '.json' twins of every route
                continue
            path = _regex_to_openapi(str(entry.pattern))
        else:
            assert isinstance(entry.pattern, RoutePattern)
            if "<drf_format_suffix:format>" in str(entry.pattern):
                continue
            path = _route_to_openapi(str(entry.pattern))
        allowed = set(view_class.http_method_names) & HTTP_METHODS
        # a viewset route serves the methods its router mapped; a plain view those it defines
        actions = getattr(entry.callback, "actions", None) or {m: m for m in allowed if hasattr(view_class, m)}
        methods = set(actions) & allowed
        yield prefix + path, methods


def _placeholders_blanked(path: str) -> str:
    # the schema names a primary key 'id' where the URLconf says 'pk': compare shapes, not names
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_the_path_converter_understands_the_routers_patterns():
    assert _regex_to_openapi(r"^requests/(?P<pk>[^/.]+)/approve/$") == "requests/{pk}/approve/"
    assert _regex_to_openapi(r"^items/(?P<nsn>[0-9]{4}-[0-9]{2}-[0-9]{3}-[0-9]{4})/$") == "items/{nsn}/"
    assert _regex_to_openapi(r"^a/(?P<x>(b|c)\))/$") == "a/{x}/"
    assert _route_to_openapi("sourcing/<int:pk>/<slug>/") == "sourcing/{pk}/{slug}/"


def test_every_url_the_router_exposes_is_in_the_schema(schema):
    operations = list(_exposed_operations(api_v1))
    documented = {_placeholders_blanked(path): item for path, item in schema["paths"].items()}
    # sanity: the walk found the resources and actions PRODUCT.md names
    paths = {path for path, _ in operations}
    for expected in (
        "/api/v1/requests/{pk}/approve/",
        "/api/v1/stock-reports/",
        "/api/v1/sourcing/",
        "/api/v1/items/{nsn}/",
        "/api/v1/reconciliations/{pk}/",
    ):
        assert expected in paths

    missing = []
    for path, methods in operations:
        item = documented.get(_placeholders_blanked(path))
        if item is None:
            missing.append(path)
            continue
        missing.extend(f"{method.upper()} {path}" for method in sorted(methods) if method not in item)
    assert missing == []


def test_the_schema_documents_no_operation_the_api_does_not_serve(schema):
    served = {}
    for path, methods in _exposed_operations(api_v1):
        served.setdefault(_placeholders_blanked(path), set()).update(methods)
    for path, item in schema["paths"].items():
        assert path.startswith(API_PREFIX)
        assert {m for m in item if m in HTTP_METHODS} <= served.get(_placeholders_blanked(path), set()), path


def test_every_operation_describes_its_problem_responses(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                errors = {code for code in operation["responses"] if code.startswith("4")}
                assert {"401", "403", "429"} <= errors, f"{method.upper()} {path}"
                if "{" in path:
                    assert "404" in errors, f"{method.upper()} {path}"
                if method == "post":
                    assert {"409", "422"} <= errors, f"{method.upper()} {path}"
                for code in errors:
                    assert list(operation["responses"][code]["content"]) == ["application/problem+json"]


# --- served schema and offline docs -------------------------------------------------------------------------


@pytest.fixture
def signed_in(db):
    return session_client(UserFactory(username="docs-reader"))


def test_the_schema_is_served_to_a_signed_in_user(signed_in):
    response = signed_in.get("/api/schema/")
    assert response.status_code == 200
    served = yaml.safe_load(response.content)
    assert str(served["openapi"]).startswith("3.")
    assert "/api/v1/requests/{id}/approve/" in served["paths"]


class _AssetCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.assets: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.assets.append(attrs["src"])
            else:
                self.inline_scripts += 1
        elif tag in ("link", "img", "iframe") and (attrs.get("href") or attrs.get("src")):
            self.assets.append(attrs.get("href") or attrs.get("src"))


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_docs_load_only_local_static_assets(signed_in, url):
    response = signed_in.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    collector = _AssetCollector()
    collector.feed(page)

    scripts = [a for a in collector.assets if a.endswith(".js")]
    assert scripts, "the docs page loads no script"
    for asset in collector.assets:
        parts = urlsplit(asset)
        assert not parts.scheme and not parts.netloc, f"{asset} is not served by the portal"
        if parts.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
            relative = parts.path.removeprefix("/" + settings.STATIC_URL.lstrip("/"))
            assert finders.find(relative), f"{asset} is not among the portal's static files"
        else:
            assert signed_in.get(asset).status_code == 200, asset
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    # no inline script (the Content-Security-Policy forbids it): every <script> loads a file
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline <script> on the docs page"
    startup = "".join(signed_in.get(a).content.decode() for a in collector.assets if "?script" in a)
    assert "/api/schema/" in page + startup
