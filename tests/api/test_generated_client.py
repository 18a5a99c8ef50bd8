"""The API as an integrator meets it: the schema served validates as OpenAPI 3.1, openapi-python-client (pinned in
the test extras) generates a typed client from it with no warning, every module of that client imports with warnings
as errors, and the national-system story runs through it against a live server -- a stock report, sourcing, a
request with an Idempotency-Key (replayed), a partial approval, dispatch, a short receipt, the discrepancy found by
a cursor sync, a stale If-Match refused with 412, and a webhook ping whose signature a local receiver checks."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from coordination.webhooks import SIGNATURE_HEADER, verify
from nations.tokens import issue_token

from .conftest import FUEL_NSN

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("generated_client")]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PACKAGE = "alliance_client"


def _schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    path.write_text(yaml.safe_dump(_schema(), sort_keys=False))
    return path


@pytest.fixture(scope="module")
def generated(schema_file, tmp_path_factory) -> Path:
    """The client package, generated once per module; the directory that holds it."""
    where = tmp_path_factory.mktemp("client")
    result = subprocess.run(
        [str(BIN / "openapi-python-client"), "generate", "--path", str(schema_file), "--meta", "none",
         "--output-path", str(where / PACKAGE)],
        capture_output=True, text=True, timeout=300, cwd=where,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output  # e.g. a body or parameter it could not type
    return where


def test_the_schema_validates_as_openapi_3_1(schema_file):
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename

    document, _ = read_from_filename(str(schema_file))
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert set(document["webhooks"]) >= {"request.approved", "shortfall.critical", "ping"}


def test_every_module_of_the_generated_client_imports_without_warning(generated):
    script = (
        "import importlib, pkgutil, sys\n"
        f"import {PACKAGE}\n"
        f"names = [m.name for m in pkgutil.walk_packages({PACKAGE}.__path__, '{PACKAGE}.')]\n"
        "for name in names: importlib.import_module(name)\n"
        "print(len(names))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, cwd=generated, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 100  # every operation and model, not an empty package


class Receiver:
    """A webhook receiver on 127.0.0.1 that checks the signature of what it gets, as a national system does."""

    def __init__(self, secret: str):
        self.secret, self.received = secret, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signed = verify(receiver.secret, self.headers[SIGNATURE_HEADER], body)
                receiver.received.append((self.headers["X-Alliance-Event"], signed, json.loads(body)))
                self.send_response(204 if signed else 401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def client_package(generated, monkeypatch):
    monkeypatch.syspath_prepend(str(generated))
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    return importlib.import_module(PACKAGE)


def test_the_national_system_story_runs_through_the_generated_client(
    client_package, live_server, transactional_db, world, settings
):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    api = importlib.import_module(f"{PACKAGE}.api.v1")
    models = importlib.import_module(f"{PACKAGE}.models")

    def call(operation: str, **kwargs):
        return importlib.import_module(f"{api.__name__}.{operation}").sync_detailed(**kwargs)

    def as_(user: str):
        _, raw = issue_token(user=world.users[user], name="generated client", expires_in_days=1)
        return client_package.AuthenticatedClient(base_url=live_server.url, token=raw, raise_on_unexpected_status=True)

    fra, deu_liaison, deu = as_("fra_system"), as_("deu_liaison"), as_("deu_logistics")

    # 1. FRA's physical count at MLC-A (all or nothing)
    report = call(
        "v1_stock_reports_create",
        client=fra,
        body=models.StockReportRequest.from_dict(
            {"nation": "FRA", "center": "MLC-A", "lines": [{"nsn": FUEL_NSN, "quantity": 5}]}
        ),
    )
    assert report.status_code == 201, report.content

    # 2. where can 40 litres of fuel come from, for NAT-F?
    options = call("v1_sourcing_list", client=fra, nsn=FUEL_NSN, quantity=40, destination="NAT-F").parsed
    assert options and options[0].nation == "DEU"

    # 3. the request, sent twice with one Idempotency-Key: created once, replayed byte for byte
    body = models.SupplyRequestCreateRequest.from_dict(
        {
            "supplying_nation": options[0].nation, "nsn": FUEL_NSN, "source_center": options[0].center,
            "destination_center": "NAT-F", "quantity": 40, "justification": "Exercise resupply",
            "required_by": (dt.date.today() + dt.timedelta(days=10)).isoformat(), "submit": True,
        }
    )  # fmt: skip
    first = call("v1_requests_create", client=fra, body=body, idempotency_key="story-1")
    again = call("v1_requests_create", client=fra, body=body, idempotency_key="story-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    request = first.parsed
    assert first.headers["Location"].endswith(f"/api/v1/requests/{request.id}/")

    # 4. DEU's liaison officer approves 30 of the 40; DEU dispatches; FRA receives 28
    approved = call("v1_requests_approve_create", id=request.id, client=deu_liaison,
                    body=models.ApproveRequest.from_dict({"quantity": 30, "comment": "30 now"})).parsed  # fmt: skip
    assert (str(approved.status), approved.quantity_approved) == ("approved", 30)
    assert str(call("v1_requests_dispatch_create", id=request.id, client=deu).parsed.status) == "dispatched"
    received = call("v1_requests_receive_create", id=request.id, client=fra,
                    body=models.ReceiveRequest.from_dict({"quantity": 28})).parsed  # fmt: skip
    assert (str(received.status), received.quantity_received) == ("received", 28)

    # 5. the short receipt is a discrepancy, found by walking the list with a cursor
    settings.API_SYNC_MARGIN_SECONDS = 0
    page = call("v1_discrepancies_list", client=fra, cursor="start").parsed
    assert page.count is None and page.next_cursor
    found = [d.to_dict() for d in page.results]
    assert any(d["kind"] == "short_receipt" and request.reference in json.dumps(d["request"]) for d in found), found

    # 6. a change made with an outdated ETag is refused
    stock_id = next(
        s.id for s in call("v1_stocks_list", client=fra, center="MLC-A").parsed.results if s.nation == "FRA"
    )
    etag = call("v1_stocks_retrieve", id=stock_id, client=fra).headers["ETag"]
    patch = models.PatchedStockRequest.from_dict({"safety_level": 3})
    assert call("v1_stocks_partial_update", id=stock_id, client=fra, body=patch, if_match=etag).status_code == 200
    stale = call("v1_stocks_partial_update", id=stock_id, client=fra, body=patch, if_match=etag)
    assert stale.status_code == 412 and stale.parsed.code == "precondition_failed"

    # 7. a webhook endpoint, pinged: the receiver checks the signature
    receiver = Receiver(secret="s" * 32)
    try:
        endpoint = call(
            "v1_webhooks_create", client=fra,
            body=models.WebhookEndpointRequest.from_dict({"url": receiver.url, "secret": "s" * 32}),
        ).parsed  # fmt: skip
        ping = call("v1_webhooks_ping_create", id=endpoint.id, client=fra).parsed
    finally:
        receiver.close()
    assert (str(ping.status), ping.last_status_code) == ("delivered", 204)
    [(event, signed, payload)] = receiver.received
    assert (event, signed, payload["data"]["nation"]) == ("ping", True, "FRA")
