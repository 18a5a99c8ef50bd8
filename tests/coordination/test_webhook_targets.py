"""Webhooks cannot be turned against the portal's own network (SSRF): where a webhook may be sent, checked when
an endpoint is registered or changed and again at every delivery; deliveries go to the address that was checked,
never follow a redirect, and record a generic error class rather than the socket's message.

Traffic goes to 127.0.0.1 only.  Refusals are asserted with the socket layer patched to fail the test on any
connection, and host names "resolve" through a patched ``socket.getaddrinfo``: no real DNS.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from coordination.models import DeliveryStatus, EventType, WebhookDelivery, WebhookEndpoint
from coordination.webhooks import attempt_delivery
from tests.jobs.conftest import build_world, token_client

pytestmark = pytest.mark.django_db

HOOKS = "/api/v1/webhooks/"
SECRET = "s3cret-shared-with-fra-system"
PROBLEM_JSON = "application/problem+json"
REAL_CONNECT = socket.socket.connect


@pytest.fixture
def world(settings):
    # no Redis cache: the only sockets a test opens are the ones it is about
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return build_world()


@pytest.fixture
def dns(monkeypatch):
    """``dns["hooks.fra.test"] = ["127.0.0.1"]``: what a name resolves to, one answer per lookup (the last one
    repeats); literal addresses resolve to themselves; anything else does not resolve.  ``dns.lookups`` lists the
    names asked for."""

    class FakeDns(dict):
        lookups: list[str]

    answers = FakeDns()
    answers.lookups = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        host = host.decode() if isinstance(host, bytes) else host
        answers.lookups.append(host)
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            if host not in answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            queue = answers[host]
            addresses = [queue.pop(0) if len(queue) > 1 else queue[0]]
        port = int(port or 0)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def connections(monkeypatch):
    """Every outgoing connection the code under test makes, by address (they still happen)."""
    made: list[tuple] = []

    def connect(sock, address):
        made.append(address)
        return REAL_CONNECT(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return made


@pytest.fixture
def no_connections(monkeypatch):
    """Fails the test at any attempt to open a connection (and records it, in case the failure is swallowed)."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        pytest.fail(f"a connection was attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", lambda sock, address: refuse(address))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda sock, address: refuse(address))
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


class LocalServer:
    """An HTTP server on 127.0.0.1 (random port) in a thread that does `behaviour` with each POST:
    ``answer`` (200), ``redirect`` (302 to `location`), ``hang_up`` (closes without answering), ``hold`` (answers
    after `hold_seconds`).  Every request, whatever its method, is recorded."""

    def __init__(self, behaviour="answer", *, location="", hold_seconds=0.0, host="127.0.0.1"):
        self.received: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(length) if length else b""
                server.received.append({"method": self.command, "headers": dict(self.headers.items()), "body": body})
                if behaviour == "hang_up" and self.command == "POST":
                    self.close_connection = True
                    return
                if behaviour == "hold":
                    time.sleep(hold_seconds)
                if behaviour == "redirect":
                    self.send_response(302)
                    self.send_header("Location", location)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_GET = _any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}/alliance/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def local_server():
    servers: list[LocalServer] = []

    def start(*args, **kwargs) -> LocalServer:
        servers.append(LocalServer(*args, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


def endpoint_for(world, url: str, nation=None) -> WebhookEndpoint:
    nation = nation or world.fra
    return WebhookEndpoint.objects.create(
        nation=nation, owner=world.users["fra_system"], url=url, events=[], secret=SECRET
    )


def pending_delivery(endpoint: WebhookEndpoint) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=EventType.REQUEST_APPROVED,
        payload={"event": "request.approved", "data": {"reference": "REQ-TEST"}},
        next_attempt_at=timezone.now(),
    )


def assert_url_refused(response):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    [message] = [e["message"] for e in response.json()["errors"] if e["field"] == "url"]
    assert "WEBHOOK_ALLOWED_NETWORKS" in message or "user name or password" in message
    return message


# --- registration ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://[::1]:8080/hook",
        "https://192.168.1.1/hook",
        "http://127.0.0.1:5432/",
        "http://localhost:6379/",  # a name for a loopback address, not in the allow-list here
        "https://intranet.fra.test/hook",  # a name that resolves to a private address
        "http://[::ffff:10.0.0.5]/hook",  # IPv4-mapped IPv6
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://240.0.0.1/hook",  # reserved
        "http://100.64.0.1/hook",  # carrier-grade NAT: not global
    ],
)
def test_a_url_on_a_refused_network_is_refused_at_registration_without_a_connection(world, dns, no_connections, url):
    dns["localhost"] = ["127.0.0.1"]
    dns["intranet.fra.test"] = ["10.1.2.3"]

    response = token_client(world.users["fra_system"]).post(HOOKS, {"url": url, "secret": SECRET}, format="json")

    assert_url_refused(response)
    assert not WebhookEndpoint.objects.exists()
    assert no_connections == []


def test_a_name_that_resolves_to_any_refused_address_is_refused(world, dns, no_connections, monkeypatch):
    literal = socket.getaddrinfo  # the fake of `dns`: literal addresses only

    def two_answers(host, *args, **kwargs):
        if host == "hooks.fra.test":  # one public address and one private: the private one could be used
            return [*literal("8.8.8.8", 443), *literal("10.1.2.3", 443)]
        return literal(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two_answers)
    response = token_client(world.users["fra_system"]).post(
        HOOKS, {"url": "https://hooks.fra.test/hook", "secret": SECRET}, format="json"
    )
    assert_url_refused(response)
    assert not WebhookEndpoint.objects.exists()


def test_a_private_address_is_accepted_only_inside_webhook_allowed_networks(world, dns, no_connections, settings):
    client = token_client(world.users["fra_system"])
    payload = {"url": "http://10.20.30.40:8443/alliance", "secret": SECRET}

    assert_url_refused(client.post(HOOKS, payload, format="json"))
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.20.30.0/24"]
    assert client.post(HOOKS, payload, format="json").status_code == 201
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.20.31.0/24"]  # a neighbouring network does not cover it
    assert_url_refused(client.post(HOOKS, payload, format="json"))
    assert WebhookEndpoint.objects.count() == 1


def test_a_url_with_credentials_is_refused(world, dns, no_connections, loopback_allowed):
    response = token_client(world.users["fra_system"]).post(
        HOOKS, {"url": "http://admin:hunter2@127.0.0.1:8080/hook", "secret": SECRET}, format="json"
    )
    assert "user name or password" in assert_url_refused(response)
    assert not WebhookEndpoint.objects.exists()


def test_changing_an_endpoint_to_a_refused_url_is_refused(world, dns, no_connections, loopback_allowed):
    endpoint = endpoint_for(world, "http://127.0.0.1:8080/hook")
    client = token_client(world.users["fra_system"])

    response = client.patch(
        f"{HOOKS}{endpoint.pk}/", {"url": "http://169.254.169.254/latest/"}, format="json", HTTP_IF_MATCH="*"
    )

    assert_url_refused(response)
    endpoint.refresh_from_db()
    assert endpoint.url == "http://127.0.0.1:8080/hook"
    # the check is the same one: an allowed URL is still accepted
    changed = client.patch(f"{HOOKS}{endpoint.pk}/", {"url": "http://127.0.0.2:9/x"}, format="json", HTTP_IF_MATCH="*")
    assert changed.status_code == 200


def test_a_nation_registers_at_most_webhook_max_endpoints_per_nation(world, dns, no_connections, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.20.30.0/24"]
    assert settings.WEBHOOK_MAX_ENDPOINTS_PER_NATION == 10  # the default
    for n in range(9):
        endpoint_for(world, f"http://10.20.30.{n + 1}/hook")
    fra = token_client(world.users["fra_system"])
    payload = {"url": "http://10.20.30.40/hook", "secret": SECRET}

    assert fra.post(HOOKS, payload, format="json").status_code == 201  # the tenth
    response = fra.post(HOOKS, payload, format="json")  # the eleventh

    assert response.status_code == 409, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    assert "10" in response.json()["detail"] and "webhook" in response.json()["detail"].lower()
    assert WebhookEndpoint.objects.filter(nation=world.fra).count() == 10
    # the cap is per nation
    assert token_client(world.users["ita_system"]).post(HOOKS, payload, format="json").status_code == 201


# --- delivery ----------------------------------------------------------------------------------------------------


def test_a_redirect_is_not_followed_and_is_a_failed_attempt(world, local_server, loopback_allowed):
    elsewhere = local_server()
    redirector = local_server("redirect", location=elsewhere.url)
    delivery = pending_delivery(endpoint_for(world, redirector.url))

    delivery = attempt_delivery(delivery.pk)

    assert [r["method"] for r in redirector.received] == ["POST"]
    assert elsewhere.received == []  # not followed
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        DeliveryStatus.PENDING,
        1,
        302,
        "redirect refused",
    )
    assert delivery.next_attempt_at > timezone.now()


def test_a_delivery_to_a_name_that_now_resolves_to_a_refused_address_is_refused_without_connecting(
    world, dns, loopback_allowed, monkeypatch
):
    """DNS rebinding: the name resolved to an allowed address when it was registered, not any more."""
    dns["hooks.fra.test"] = ["127.0.0.1", "169.254.169.254"]
    response = token_client(world.users["fra_system"]).post(
        HOOKS, {"url": "http://hooks.fra.test:8080/hook", "secret": SECRET}, format="json"
    )
    assert response.status_code == 201, response.content
    delivery = pending_delivery(WebhookEndpoint.objects.get())
    attempts: list = []
    monkeypatch.setattr(socket.socket, "connect", lambda sock, address: attempts.append(address))
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: attempts.append(args))

    delivery = attempt_delivery(delivery.pk)

    assert attempts == []
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        DeliveryStatus.PENDING,
        1,
        None,
        "destination refused",
    )
    assert delivery.next_attempt_at > timezone.now()


def test_a_delivery_connects_to_the_address_it_checked(world, dns, connections, local_server, loopback_allowed):
    """One lookup per check (registration, then each delivery) and the connection goes to the address that the
    delivery's lookup returned: a second lookup (here it would answer 127.0.0.2) is never made."""
    receiver = local_server()
    decoy = local_server(host="127.0.0.2")
    dns["hooks.fra.test"] = ["127.0.0.1", "127.0.0.1", "127.0.0.2"]
    url = f"http://hooks.fra.test:{receiver.port}/alliance/events"

    response = token_client(world.users["fra_system"]).post(HOOKS, {"url": url, "secret": SECRET}, format="json")
    assert response.status_code == 201, response.content
    assert dns.lookups.count("hooks.fra.test") == 1
    delivery = pending_delivery(WebhookEndpoint.objects.get())

    delivery = attempt_delivery(delivery.pk)

    assert dns.lookups.count("hooks.fra.test") == 2  # one more, for this delivery
    assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 200)
    [received] = receiver.received
    assert received["headers"]["Host"] == f"hooks.fra.test:{receiver.port}"
    assert ("127.0.0.1", receiver.port) in connections
    assert decoy.received == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("closed_port", "connection failed"),
        ("hang_up", "connection failed"),  # the same class as a closed port: no port scanner
        ("hold", "timeout"),
        ("tls_to_plain_http", "TLS error"),
    ],
)
def test_a_failed_delivery_records_a_generic_error_class(world, local_server, settings, loopback_allowed, setup, error):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    if setup == "closed_port":
        url = f"http://127.0.0.1:{_closed_port()}/hook"
    elif setup == "hang_up":
        url = local_server("hang_up").url
    elif setup == "hold":
        url = local_server("hold", hold_seconds=3).url
    else:
        url = local_server().url.replace("http://", "https://")
    delivery = pending_delivery(endpoint_for(world, url))

    delivery = attempt_delivery(delivery.pk)

    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        DeliveryStatus.PENDING,
        1,
        None,
        error,
    )
