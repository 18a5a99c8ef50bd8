"""/healthz and /readyz: what an orchestrator sees."""

import pytest
from django.test import override_settings

from config import health


@pytest.fixture(autouse=True)
def _fresh_migration_check():
    # a process checks the migrations until they are applied, then no more: each test starts unchecked
    health.forget_migration_check()
    yield
    health.forget_migration_check()


def test_healthz_answers_without_touching_services(client):
    # no django_db mark: any database access here would raise and fail the test
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ready_with_database_and_migrations(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["status"] in {"ready", "degraded"}


@pytest.mark.django_db
@override_settings(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
def test_readyz_says_degraded_when_the_broker_is_unreachable(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["database"] == "ok"
    assert "Error" in response.json()["checks"]["broker"]


@pytest.mark.django_db
def test_readyz_is_unavailable_when_migrations_are_pending(client, monkeypatch):
    from django.db.migrations import executor

    monkeypatch.setattr(executor.MigrationExecutor, "migration_plan", lambda self, targets: [("app", "0099")])
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "not applied" in response.json()["checks"]["database"]


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_checks_the_real_broker(client, settings):
    from tests.conftest import redis_url

    settings.REDIS_URL = redis_url()
    response = client.get("/readyz")
    assert response.json()["checks"]["broker"] == "ok"
    assert response.json()["status"] == "ready"
