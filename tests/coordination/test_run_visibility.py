"""Reconciliation runs shown to a nation (audit finding 12): the counts of findings are counts of the flags the
viewer may see; coordinators, center operators and administrators see the whole run.

Scenario: tests/api/conftest.py.  Four stocks are made short (below their safety level) and one run reconciles
every center: DEU's shared fuel and FRA's rations at MLC-A, DEU's private rations at MLC-A, ITA's private rations
at NAT-B.  FRA's officers see their own stock and DEU's shared one (FRA takes part in MLC-A): 2 of 4."""

import pytest
from django.test import Client
from django.urls import reverse

from coordination import runs
from coordination.models import ReconciliationRun, ShortfallKind
from inventory.models import Stock
from tests.api.conftest import build_scenario, session_client, token_client

RUNS = "/api/v1/reconciliations/"
BELOW = ShortfallKind.BELOW_SAFETY


@pytest.fixture
def world(db, django_capture_on_commit_callbacks):
    world = build_scenario()
    short = ["deu_shared", "fra_private", "deu_private", "ita_private"]
    Stock.objects.filter(pk__in=[world.stocks[name].pk for name in short]).update(safety_level=1000)
    with django_capture_on_commit_callbacks(execute=True):
        world.run = runs.start_reconciliation(user=world.users["coordinator"], trigger="test")
    world.run.refresh_from_db()
    assert world.run.status == "succeeded" and world.run.findings[BELOW] == 4
    return world


@pytest.mark.parametrize(
    ("caller", "below_safety"),
    [
        ("coordinator", 4),
        ("mlc_a_operator", 4),
        ("fra_logistics", 2),  # its rations and DEU's shared fuel, not DEU's private rations nor ITA's
        ("fra_system", 2),
        ("deu_liaison", 2),  # DEU's shared fuel and private rations; FRA's rations are private
        ("ita_logistics", 1),
        ("no_role", 0),
    ],
)
def test_the_api_counts_only_the_findings_the_caller_may_see(world, caller, below_safety):
    client = token_client(world.users[caller]) if caller == "fra_system" else session_client(world.users[caller])
    [listed] = client.get(RUNS).json()["results"]
    detail = client.get(f"{RUNS}{world.run.pk}/").json()
    for body in (listed, detail):
        assert body["findings"].get(BELOW, 0) == below_safety, body["findings"]


def test_a_nation_sees_no_pool_totals_of_other_nations_stock(world):
    whole = session_client(world.users["coordinator"]).get(f"{RUNS}{world.run.pk}/").json()["findings"]
    assert whole["pool_items"] == 4  # fuel and rations at MLC-A and at NAT-B
    mine = session_client(world.users["fra_logistics"]).get(f"{RUNS}{world.run.pk}/").json()["findings"]
    assert "pool_items" not in mine


def test_the_runs_page_and_its_progress_fragment_show_a_nation_its_own_counts(world):
    browser = Client()
    browser.force_login(world.users["fra_logistics"])
    for url in (reverse("reconciliation-list"), reverse("reconciliation-progress", args=[world.run.pk])):
        html = browser.get(url).content.decode()
        assert "Below safety level: 2" in html and "Below safety level: 4" not in html, url
    browser.force_login(world.users["coordinator"])
    assert "Below safety level: 4" in browser.get(reverse("reconciliation-list")).content.decode()


def test_an_unfinished_run_shows_no_counts_to_a_nation(world):
    ReconciliationRun.objects.filter(pk=world.run.pk).update(status="running")
    body = session_client(world.users["fra_logistics"]).get(f"{RUNS}{world.run.pk}/").json()
    assert body["findings"] == {}
