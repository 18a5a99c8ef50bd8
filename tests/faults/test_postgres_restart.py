"""PostgreSQL restarts and goes away while the portal runs: the portal answers 503 (problem+json, or a short page)
while the database is down, /readyz says so, and it serves again as soon as the database is back, without a
restart of its own.

The database is a throwaway PostgreSQL cluster the test creates with initdb and drives with pg_ctl (never the
machine's shared server), loaded with a copy of the test database (pg_dump).  The portal runs under gunicorn with
persistent connections (CONN_MAX_AGE), which a restart leaves dead: CONN_HEALTH_CHECKS makes each request test
its connection before using it and reconnect.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest
from django.test import Client

from nations.tokens import issue_token
from tests.api.conftest import PROBLEM_JSON, RATIONS_NSN, build_scenario

from .conftest import Postgres, _test_database_url, portal_server

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("faults"),
]

PORTAL_DB = "portal"
STOCKS = "/api/v1/stocks/?center=MLC-A"


def copy_test_database(server: Postgres) -> None:
    """The test database, schema and rows, into a new database of the throwaway cluster."""
    server.run("createdb", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", PORTAL_DB)
    dump = subprocess.run([str(server.bin_dir / "pg_dump"), "--no-owner", "--no-privileges", "-d", _test_database_url()],
                          capture_output=True, check=True, timeout=120)  # fmt: skip
    subprocess.run([str(server.bin_dir / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", server.url(PORTAL_DB)],
                   input=dump.stdout, capture_output=True, check=True, timeout=120)  # fmt: skip


def test_the_portal_survives_a_postgresql_restart_and_outage_without_restarting(throwaway_postgres, tmp_path):
    world = build_scenario()
    token = issue_token(user=world.users["fra_system"], name="faults", expires_in_days=1)[1]
    browser = Client()
    browser.force_login(world.users["fra_logistics"])  # a session row, copied with the rest
    session = browser.cookies["sessionid"].value
    copy_test_database(throwaway_postgres)

    def receipt(key: str):
        body = {"nation": "FRA", "center": "MLC-A", "nsn": RATIONS_NSN, "kind": "receipt", "quantity": 3,
                "reason": "Delivery note"}  # fmt: skip
        return portal.request("POST", "/api/v1/movements/", body, token, Idempotency_Key=key)

    with portal_server(throwaway_postgres.url(PORTAL_DB), tmp_path / "gunicorn.log", threads=2) as portal:
        # every thread holds a persistent connection
        assert [portal.request("GET", STOCKS, token=token).status for _ in range(6)] == [200] * 6
        workers = portal.workers()

        # 1. a restart under idle persistent connections: no request after it fails
        throwaway_postgres.restart("fast")
        assert [portal.request("GET", STOCKS, token=token).status for _ in range(6)] == [200] * 6
        assert receipt(str(uuid.uuid4())).status == 201

        # 2. the database down: clean 503s, liveness fine, readiness not
        throwaway_postgres.stop("fast")
        answer = portal.request("GET", STOCKS, token=token)
        assert (answer.status, answer.content_type) == (503, PROBLEM_JSON), answer.body[:300]
        assert answer.json()["code"] == "database_unavailable"
        assert int(answer.headers["retry-after"]) > 0
        key = str(uuid.uuid4())
        assert receipt(key).status == 503
        ready = portal.request("GET", "/readyz")
        assert ready.status == 503
        assert ready.json()["status"] == "unavailable"
        assert "OperationalError" in ready.json()["checks"]["database"]
        assert portal.request("GET", "/healthz").status == 200
        page = portal.request("GET", "/", Accept="text/html", Cookie=f"sessionid={session}")
        assert page.status == 503 and page.content_type.startswith("text/html")
        assert b"Service unavailable" in page.body and b"Traceback" not in page.body

        # 3. the database back: served again by the same processes; the refused write is done once on retry
        throwaway_postgres.start()
        assert [portal.request("GET", STOCKS, token=token).status for _ in range(6)] == [200] * 6
        assert portal.request("GET", "/readyz").json()["status"] == "ready"
        # the browser's session (read from the database on each request) works again too; the API rather than a
        # page, which under production settings would need collected static files
        assert portal.request("GET", "/api/v1/notifications/", Cookie=f"sessionid={session}").status == 200
        assert receipt(key).status == 201
        assert receipt(key).headers.get("idempotent-replayed") == "true"
        assert portal.process.poll() is None and portal.workers() == workers
