"""/readyz tells the public its status only; the checks' detail (database and broker errors, which name the
database and the Redis address) goes to staff users and to addresses in HEALTH_DETAIL_NETWORKS.  The migration
check, the expensive part, is not redone on every call."""

from __future__ import annotations

import pytest
from django.db.migrations import executor
from django.test import Client, override_settings

from config import health
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OUTSIDE = "203.0.113.5"  # TEST-NET-3: not in the default detail networks


@pytest.fixture(autouse=True)
def _fresh_migration_check():
    health.forget_migration_check()
    yield
    health.forget_migration_check()


def _readyz(client=None, address=OUTSIDE):
    return (client or Client()).get("/readyz", REMOTE_ADDR=address)


def test_an_outside_caller_sees_the_status_only():
    response = _readyz()
    assert response.status_code == 200
    assert response.json() == {"status": response.json()["status"]}
    assert response.json()["status"] in {"ready", "degraded"}


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
def test_an_outside_caller_is_not_told_the_broker_address_or_error():
    response = _readyz()
    assert response.status_code == 200
    assert response.json() == {"status": "degraded"}
    assert b"127.0.0.1" not in response.content and b"Error" not in response.content


def test_an_outside_caller_is_not_told_the_database_error(monkeypatch):
    def refuse(self, targets):
        raise RuntimeError('connection to server at "db.internal", port 5432 failed: database "alliance" missing')

    monkeypatch.setattr(executor.MigrationExecutor, "migration_plan", refuse)
    response = _readyz()
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def test_a_caller_from_a_detail_network_sees_the_checks():
    for address in ("127.0.0.1", "::1"):
        body = _readyz(address=address).json()
        assert body["checks"]["database"] == "ok", address
        assert "broker" in body["checks"] and "duration_ms" in body


@override_settings(HEALTH_DETAIL_NETWORKS=["10.20.0.0/16"])
def test_the_detail_networks_are_configurable():
    assert "checks" in _readyz(address="10.20.3.4").json()
    assert "checks" not in _readyz(address="127.0.0.1").json()
    assert "checks" not in _readyz(address="10.21.0.1").json()


def test_a_forged_forwarded_for_header_does_not_open_the_detail():
    response = Client().get("/readyz", REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert "checks" not in response.json()


def test_a_staff_user_sees_the_checks_from_anywhere_others_do_not():
    staff, plain = Client(), Client()
    staff.force_login(UserFactory(username="ops-staff", is_staff=True))
    plain.force_login(UserFactory(username="plain-officer"))
    assert _readyz(staff).json()["checks"]["database"] == "ok"
    assert "checks" not in _readyz(plain).json()


def test_the_migration_check_runs_once_not_on_every_call(monkeypatch):
    calls = []
    original = executor.MigrationExecutor.migration_plan

    def counting(self, targets, *args, **kwargs):
        calls.append(1)
        return original(self, targets, *args, **kwargs)

    monkeypatch.setattr(executor.MigrationExecutor, "migration_plan", counting)
    for _ in range(5):
        assert _readyz().status_code == 200
    assert len(calls) == 1


def test_pending_migrations_are_checked_again_until_they_are_applied(monkeypatch):
    monkeypatch.setattr(executor.MigrationExecutor, "migration_plan", lambda self, targets: [("app", "0099")])
    assert _readyz().status_code == 503
    monkeypatch.undo()  # migrate ran: the next call sees it at once
    assert _readyz().status_code == 200
