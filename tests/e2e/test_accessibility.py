"""Accessibility: axe-core, run in Chromium on every main page for every role, reports no serious or critical
violation (WCAG 2.1 A and AA rules).

axe-core comes from npm (package.json's development dependencies; ``make test`` installs it into node_modules/) and
is injected from that file into each page by Playwright: nothing is fetched from the network and the portal never
serves it.  One test walks the roles in turn on one seeded database (seeding is the slow part).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from coordination.models import SupplyRequest
from inventory.models import Stock
from tests.e2e.conftest import ROOT, _missing

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}

# (username, the nation or center whose objects the detail pages show)
ROLES = [
    ("fra-logistics", "FRA"),
    ("deu-liaison", "DEU"),
    ("mlc-central-operator", "MLC-CENTRAL"),
    ("coordinator", None),
]


def main_pages(username: str, scope: str | None) -> list[str]:
    """The pages a user of this role opens in a day, with one stock, center and request they may see."""
    stocks = Stock.objects.order_by("pk")
    requests = SupplyRequest.objects.order_by("pk")
    if scope and scope.startswith("MLC"):
        stock, supply_request = (
            stocks.filter(center__code=scope).first(),
            requests.filter(source_center__code=scope).first(),
        )
    elif scope:
        stock = stocks.filter(nation__code=scope).first()
        supply_request = (
            requests.filter(supplying_nation__code=scope).first()
            or requests.filter(requesting_nation__code=scope).first()
        )
    else:
        stock, supply_request = stocks.filter(shared=True).first(), requests.first()
    pages = [
        reverse("home"),
        reverse("stock-list"),
        reverse("stock-detail", args=[stock.pk]),
        reverse("center-list"),
        reverse("center-detail", args=[stock.center.code]),
        reverse("request-list"),
        reverse("request-detail-page", args=[supply_request.pk]),
        reverse("shortfall-list"),
        reverse("discrepancy-list"),
        reverse("reconciliation-list"),
        reverse("notification-list"),
        reverse("search") + "?q=water",
    ]
    if not username.endswith("-operator"):  # officers and coordinators read the audit log; operators do not
        pages.append(reverse("audit-log"))
    if username.endswith("-logistics"):
        pages.append(reverse("request-new"))
    if username.endswith("-liaison"):
        pages.append(reverse("approval-queue"))
    return pages


def axe_violations(page) -> list[dict]:
    # Evaluated through the DevTools protocol, not as a <script> tag: the portal's Content-Security-Policy
    # (script-src 'self') rightly refuses inline scripts, and the test must not weaken it.
    page.evaluate(AXE.read_text() + "\n;0")
    result = page.evaluate(
        "(rules) => axe.run(document, {runOnly: {type: 'tag', values: rules}, resultTypes: ['violations']})",
        RULES,
    )
    assert result["passes"], "axe-core checked nothing: the page is empty or the rules did not load"
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


def describe(url: str, violation: dict) -> str:
    targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:3])
    return f"{url}: {violation['impact']} {violation['id']} ({violation['help']}) at {targets}"


def test_no_serious_or_critical_accessibility_violation_on_any_main_page_for_any_role(portal):
    if not AXE.exists():
        _missing(f"{AXE} is missing (npm ci; `make test` does it)")
    found = []
    for username, scope in ROLES:
        page = portal.login(username)
        for url in main_pages(username, scope):
            response = page.goto(url)
            assert response.status == 200, f"{username} {url}: {response.status}"
            found += [f"[{username}] {describe(url, v)}" for v in axe_violations(page)]
        if username == "fra-logistics":
            # The check can fail: a button without a name (what an icon-only button would be) is reported.
            page.evaluate("document.querySelector('main').append(document.createElement('button'))")
            assert any(v["id"] == "button-name" for v in axe_violations(page))
    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(found)
    portal.assert_no_browser_errors()
