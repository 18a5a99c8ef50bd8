"""Plumbing for the fault-injection tests: the portal under gunicorn, a Redis server and a PostgreSQL server that
the tests start, stop and kill themselves, a slow webhook receiver, and the real-worker fixtures of
tests/jobs/test_celery_worker.py.

Every process started here is in its own process group, is killed when the process that started it dies
(PR_SET_PDEATHSIG), and is stopped when its ``with`` block ends, however it ends.  Every wait is bounded.  Nothing
here touches the machine's shared Redis or PostgreSQL servers beyond the test database and the Redis database
the real-worker tests already use.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench._common import GUNICORN, HOST, free_port, portal_env
from tests.conftest import _missing_service
from tests.jobs.test_celery_worker import (  # noqa: F401  (fixtures, used by name)
    _die_with_parent,
    _test_database_url,
    broker,
    coordinator_api,
    scale_data,
)

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60  # seconds a server may take to answer


def wait_until(condition: Callable[[], object], seconds: float, what: str, poll: float = 0.05):
    """Poll `condition` until it returns something truthy (returned), failing the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} within {seconds} s")
        time.sleep(poll)


def _start(command: list[str], log_path: Path, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=_die_with_parent, **popen)  # fmt: skip


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def children_of(pid: int) -> list[int]:
    """The direct children of a process (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


# --- HTTP ------------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def call(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None,
         timeout: float = 30) -> Answer:  # fmt: skip
    """One request on a fresh connection to 127.0.0.1:`port` (a dropped connection raises)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        sent = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


# --- the portal under gunicorn ------------------------------------------------------------------------------------


@dataclass
class Portal:
    port: int
    process: subprocess.Popen
    log_path: Path

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = None,
                **headers: str) -> Answer:  # fmt: skip
        sent = {name.replace("_", "-"): value for name, value in headers.items()}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        return call(self.port, method, path, body, sent)

    def workers(self) -> list[int]:
        return children_of(self.process.pid)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def portal_server(database_url: str, log_path: Path, *, threads: int = 4, **environment: str) -> Iterator[Portal]:
    """The portal under gunicorn (one gthread worker, production settings, persistent connections) on
    `database_url`; yields once ``/healthz`` answers."""
    port = free_port()
    from django.conf import settings as test_settings

    # the test's SECRET_KEY, so that sessions the test creates are valid in the portal
    settings = {"REDIS_URL": "", "CONN_MAX_AGE": "300", "LOG_LEVEL": "WARNING",
                "SECRET_KEY": test_settings.SECRET_KEY, **environment}  # fmt: skip
    env = portal_env("unused", DATABASE_URL=database_url, NO_PROXY=HOST, no_proxy=HOST, **settings)
    command = [GUNICORN, "config.wsgi:application", "--bind", f"{HOST}:{port}", "--worker-class", "gthread",
               "--workers", "1", "--threads", str(threads), "--timeout", "120", "--graceful-timeout", "3",
               "--log-level", "warning"]  # fmt: skip
    process = _start(command, log_path, env, cwd=ROOT)
    portal = Portal(port, process, log_path)
    try:

        def answers():
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.returncode}:\n{portal.tail()}")
            with suppress(OSError, http.client.HTTPException):
                return call(port, "GET", "/healthz", timeout=5).status == 200
            return False

        wait_until(answers, START_TIMEOUT, "serving /healthz", poll=0.2)
        yield portal
    finally:
        _stop(process)


# --- a Redis server of the test's own ------------------------------------------------------------------------------


def _binary(name: str, *candidates: str) -> str:
    for candidate in (*candidates, shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    _missing_service(f"{name} is not installed")
    raise AssertionError("unreachable")


@dataclass
class RedisServer:
    """``redis-server`` on a free port, no persistence; `kill` and `start` it at will (the port stays the same)."""

    binary: str
    port: int
    log_path: Path
    process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no",
                   "--daemonize", "no"]  # fmt: skip
        self.process = _start(command, self.log_path)
        wait_until(self.answers, 20, f"Redis answering on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: the server vanishes as in a crash; connections are refused until `start`."""
        assert self.process is not None
        _stop(self.process, signal.SIGKILL)
        assert not self.answers()

    def answers(self) -> bool:
        import redis

        try:
            return redis.Redis(host=HOST, port=self.port, socket_connect_timeout=0.5).ping()
        except redis.RedisError:
            return False


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(_binary("redis-server"), free_port(), tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            _stop(server.process, signal.SIGKILL)


# --- a PostgreSQL server of the test's own ----------------------------------------------------------------------------


def _postgres_bin() -> Path:
    """PG_BIN, else the newest /usr/lib/postgresql/<version>/bin, else the directory of pg_ctl on the PATH.  Missing
    binaries fail the test (with what to install), wherever it runs: a fault test cannot pass without them."""
    candidates = [os.environ.get("PG_BIN", "")]
    candidates += sorted(
        (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    for candidate in filter(None, candidates):
        if all(os.access(Path(candidate) / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    pytest.fail("initdb/pg_ctl/postgres not found (looked in $PG_BIN, /usr/lib/postgresql/*/bin and the PATH): "
                "install the PostgreSQL server package or set PG_BIN", pytrace=False)  # fmt: skip
    raise AssertionError("unreachable")


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster in a temporary directory, on a free port of 127.0.0.1."""

    bin_dir: Path
    base: Path
    port: int
    as_owner: list[str] = field(default_factory=list)  # run as the `postgres` user when we are root

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    def url(self, db: str) -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{db}"

    def run(self, tool: str, *args: str, timeout: float = 120) -> str:
        completed = subprocess.run([*self.as_owner, str(self.bin_dir / tool), *args], capture_output=True,
                                   text=True, timeout=timeout, cwd=self.base)  # fmt: skip
        if completed.returncode != 0:
            pytest.fail(f"{tool} {' '.join(args)} failed ({completed.returncode}):\n{completed.stdout}\n"
                        f"{completed.stderr}\n{self.log()}", pytrace=False)  # fmt: skip
        return completed.stdout

    def ctl(self, action: str, *args: str) -> None:
        self.run("pg_ctl", action, "-D", str(self.data_dir), "-w", "-t", "60", *args)

    def _server_options(self) -> list[str]:
        # the log file always: a server started without one writes to pg_ctl's output, which then never closes
        options = (
            f"-p {self.port} -c listen_addresses={HOST} -k {self.base} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )  # a throwaway: speed over durability
        return ["-l", str(self.base / "server.log"), "-o", options]

    def start(self) -> None:
        self.ctl("start", *self._server_options())

    def restart(self, mode: str = "fast") -> None:
        self.ctl("restart", "-m", mode, *self._server_options())

    def stop(self, mode: str = "fast") -> None:
        self.ctl("stop", "-m", mode)

    def log(self) -> str:
        with suppress(OSError):
            return (self.base / "server.log").read_text(errors="replace")[-3000:]
        return ""


@pytest.fixture
def throwaway_postgres() -> Iterator[Postgres]:
    """initdb + pg_ctl start of a cluster of the test's own (as the `postgres` user when run as root); stopped
    (immediate) and deleted afterwards."""
    bin_dir = _postgres_bin()
    base = Path(tempfile.mkdtemp(prefix="alliance-faults-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    server = Postgres(bin_dir, base, free_port(), as_owner)
    try:
        server.run("initdb", "-D", str(server.data_dir), "-U", "postgres", "-A", "trust", "--no-sync",
                   "--no-instructions", "-E", "UTF8", "--locale", "C")  # fmt: skip
        server.start()
        yield server
    finally:
        with suppress(Exception):
            subprocess.run([*as_owner, str(bin_dir / "pg_ctl"), "stop", "-D", str(server.data_dir), "-m", "immediate",
                            "-w", "-t", "30"], capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


# --- a webhook receiver that holds the first delivery long enough to kill its sender -------------------------------


class SlowReceiver:
    """An HTTP server on 127.0.0.1 in a thread that counts the POSTs it receives by ``X-Alliance-Delivery``.

    The first POST of each delivery is held `hold_seconds` before it is answered (so a test can kill the sender
    in the middle of it); later ones are answered at once.  `arrived` is set at each POST's arrival."""

    def __init__(self, hold_seconds: float = 0.0):
        self.hold_seconds = hold_seconds
        self.arrivals: Counter = Counter()
        self.answered: Counter = Counter()
        self.arrived = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                delivery = self.headers.get("X-Alliance-Delivery", "")
                with receiver.lock:
                    receiver.arrivals[delivery] += 1
                    first = receiver.arrivals[delivery] == 1
                receiver.arrived.set()
                if first and receiver.hold_seconds:
                    time.sleep(receiver.hold_seconds)
                with suppress(OSError):  # the sender may be dead by now
                    self.send_response(204)
                    self.end_headers()
                    with receiver.lock:
                        receiver.answered[delivery] += 1

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{HOST}:{self.server.server_address[1]}/alliance/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def slow_receiver(monkeypatch, settings) -> Iterator[SlowReceiver]:
    monkeypatch.setenv("NO_PROXY", HOST)  # inherited by the workers: a proxy in the environment must not intercept
    monkeypatch.setenv("no_proxy", HOST)
    # webhooks refuse loopback unless listed: here, for deliveries sent in-process and by the workers started
    settings.WEBHOOK_ALLOWED_NETWORKS = [f"{HOST}/32"]
    monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", f"{HOST}/32")
    receiver = SlowReceiver(hold_seconds=4.0)
    try:
        yield receiver
    finally:
        receiver.close()
