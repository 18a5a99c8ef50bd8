"""The demo is plausible from its first page: a minority of stocks short, and their flags already raised by the
reconciliation seeding ends with (a fresh portal showed 0 shortfalls while hundreds of stocks were below safety)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from coordination.models import CenterPass, ReconciliationRun, RunStatus, Shortfall, ShortfallKind
from inventory.models import LogisticsCenter, Stock

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    from django.db import transaction

    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS), transaction.atomic():
        out = StringIO()
        call_command("seed_demo", "--password", "seed-test-password-42", stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_minority_of_stocks_is_below_safety(seeded):
    total = Stock.objects.count()
    below = Stock.objects.below_safety().count()
    assert 0.05 <= below / total <= 0.15, f"{below} of {total} stocks below safety"
    flagged = Shortfall.objects.filter(resolved_at__isnull=True).values("stock").distinct().count()
    assert flagged / total <= 0.25, f"{flagged} of {total} stocks flagged"


@pytest.mark.django_db
def test_seeding_ends_with_a_reconciliation_that_flagged_every_stock_below_safety(seeded):
    run = ReconciliationRun.objects.get(trigger="seed_demo")
    assert run.status == RunStatus.SUCCEEDED and run.centers_done == LogisticsCenter.objects.count()
    assert CenterPass.objects.count() == LogisticsCenter.objects.count()
    below = set(Stock.objects.below_safety().values_list("pk", flat=True))
    flagged = set(
        Shortfall.objects.filter(kind=ShortfallKind.BELOW_SAFETY, resolved_at__isnull=True).values_list(
            "stock", flat=True
        )
    )
    assert below and flagged == below
    assert "shortfalls flagged" in seeded and len(seeded.splitlines()) < 80  # a short summary, not a flood


@pytest.mark.django_db
def test_a_second_seeding_runs_no_second_reconciliation(seeded):
    call_command("seed_demo", "--password", "seed-test-password-42", stdout=StringIO())
    assert ReconciliationRun.objects.filter(trigger="seed_demo").count() == 1
