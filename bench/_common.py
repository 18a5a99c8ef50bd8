"""Plumbing shared by the benchmarks: throwaway PostgreSQL databases, Django in a child process, a gunicorn server,
concurrent HTTP clients on persistent connections, and the figures they print.

Everything talks to 127.0.0.1 only; every loop is bounded in count and time; every server started here is stopped
(its whole process group) when the ``with`` block ends, however it ends.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
GUNICORN = str(VENV_BIN / "gunicorn") if (VENV_BIN / "gunicorn").exists() else "gunicorn"
HOST = "127.0.0.1"  # the only address any benchmark sends traffic to
PG_SERVER = os.environ.get("BENCH_PG_SERVER", f"postgres://postgres@{HOST}:5432")
# A Redis database of its own for the throttling cache, so counters never mix with a test run's.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", f"redis://{HOST}:6379/13")
CPUS = os.cpu_count() or 2


def database_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


def recreate_database(name: str) -> None:
    """Drop (if present) and create the benchmark's own database."""
    if not name.startswith("alliance_bench"):
        raise ValueError(f"refusing to drop {name!r}: benchmark databases are named alliance_bench*")
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_exists(name: str) -> bool:
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


# The shape of the scale databases (generate_scale's options besides stocks and movements): the issue's, and the small
# one of the smoke runs of the benchmarks that need several centers' worth of everything.
SCALE_SHAPE = {"nations": 30, "centers": 40, "items": 2000, "seed": 2026}
SMOKE_SHAPE = {"nations": 5, "centers": 8, "items": 150, "seed": 2026}
ISSUE_SIZE = {"stocks": 1_000_000, "movements": 3_000_000}
SMOKE_SIZE = {"stocks": 6000, "movements": 18_000}


def stock_count(db: str) -> int:
    """Stocks in `db`; -1 if it has no stock table (yet)."""
    with psycopg.connect(database_url(db)) as conn:
        try:
            return conn.execute("SELECT count(*) FROM inventory_stock").fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return -1


def scale_database(
    db: str, *, stocks: int, movements: int, shape: dict = SCALE_SHAPE, regenerate: bool = False
) -> float | None:
    """Make `db` a ``generate_scale`` database of `stocks` stocks and `movements` movements (of `shape`), or reuse
    it if it already holds that many stocks (then only newer migrations are applied).  Returns generate_scale's
    seconds, or None when reused."""
    if not regenerate and database_exists(db) and stock_count(db) == stocks:
        manage(db, "migrate", "--noinput", timeout=1800)
        return None
    recreate_database(db)
    manage(db, "migrate", "--noinput")
    began = time.monotonic()
    options = {**shape, "stocks": stocks, "movements": movements}
    manage(
        db, "generate_scale", *[a for k, v in options.items() for a in (f"--{k}", str(v))], timeout=3600, quiet=False
    )
    return time.monotonic() - began


def portal_env(db: str, **extra: str) -> dict[str, str]:
    """The environment of a production-like portal process on database `db`."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "CI"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url(db),
        REDIS_URL=REDIS_URL,
        DEBUG="false",
        SECRET_KEY="benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        ALLOWED_HOSTS=HOST,
        CONN_MAX_AGE="300",
        # plain HTTP on loopback: no redirect to HTTPS, no secure-only cookies
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        SECURE_HSTS_SECONDS="0",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # the simulated people sign in with a password only: a session verified by a second factor costs each
        # request what an unverified one does (a flag in the session the middleware already reads)
        TWO_FACTOR_REQUIRED_ROLES="",
    )
    env.update(extra)
    return env


def manage(
    db: str,
    *args: str,
    timeout: float = 900,
    quiet: bool = True,
    ok_status: tuple[int, ...] = (0,),
    env: dict[str, str] | None = None,
) -> str:
    """Run ``manage.py`` on database `db`; returns its standard output.  An exit status outside `ok_status` raises
    (a command that reports findings by its status, as verify_ledger does with 1, names it there).  `env` replaces
    the default ``portal_env(db)`` for a benchmark that runs the portal otherwise."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env or portal_env(db),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode not in ok_status:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    if not quiet:
        print(textwrap.indent(result.stdout.rstrip(), "    "))
    return result.stdout


def django_json(db: str, code: str, timeout: float = 300, env: dict[str, str] | None = None) -> object:
    """Run `code` with Django set up on database `db` in a child process; it sets ``result``, returned as JSON.
    `env` replaces the default ``portal_env(db)``."""
    program = (
        "import json, django\ndjango.setup()\nresult = None\n"
        + textwrap.dedent(code)
        + "\nprint('@@RESULT@@' + json.dumps(result, default=str))\n"
    )
    completed = subprocess.run(
        [PYTHON, "-c", program],
        cwd=ROOT,
        env=env or portal_env(db),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"Django snippet failed on {db}:\n{completed.stderr[-6000:]}")
    marker = completed.stdout.rindex("@@RESULT@@")
    return json.loads(completed.stdout[marker + len("@@RESULT@@") :])


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    description: str
    access_log: Path | None = None  # lines "<X-Request-Id> <status> <microseconds in the app>"


@contextmanager
def gunicorn(db: str, *, workers: int, threads: int, timeout: float = 60, access_log: bool = False) -> Iterator[Server]:
    """The portal under gunicorn (gthread workers, keep-alive) on 127.0.0.1:<free port>, stopped on exit.

    Its log goes to var/bench-gunicorn-<port>.log (var/ is git-ignored).  With `access_log`, every request's
    time inside the app (from a worker thread taking it up to the response, so without the wait for a free
    thread) goes to var/bench-gunicorn-<port>-access.log under the X-Request-Id the client sent."""
    port = free_port()
    (ROOT / "var").mkdir(exist_ok=True)
    command = [
        GUNICORN, "config.wsgi:application", "--bind", f"{HOST}:{port}", "--worker-class", "gthread",
        "--workers", str(workers), "--threads", str(threads), "--keep-alive", "75", "--timeout", "120",
        "--log-level", "warning",
    ]  # fmt: skip
    access = ROOT / "var" / f"bench-gunicorn-{port}-access.log" if access_log else None
    if access:
        command += ["--access-logfile", str(access), "--access-logformat", "%({x-request-id}i)s %(s)s %(D)s"]
    with open(ROOT / "var" / f"bench-gunicorn-{port}.log", "w") as log:
        process = subprocess.Popen(
            # a web server as the README recommends: no parallel query for many small concurrent queries
            command,
            cwd=ROOT,
            env=portal_env(db, DB_MAX_PARALLEL_WORKERS_PER_GATHER="0"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited with {process.returncode} before listening; see {log.name}")
                try:
                    with socket.create_connection((HOST, port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"gunicorn did not listen on {HOST}:{port} within {timeout:.0f} s") from None
                    time.sleep(0.2)
            yield Server(port, process, f"gunicorn gthread, {workers} workers x {threads} threads", access)
        finally:
            _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# --- HTTP load ------------------------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection to 127.0.0.1; reconnects (a bounded number of times) if it is dropped.

    An API client by default (JSON, a bearer token if given); with ``browser=True`` it asks for HTML and keeps the
    cookies it is sent, so that after ``log_in`` it is a signed-in browser session."""

    def __init__(self, port: int, token: str | None = None, *, browser: bool = False):
        self.port = port
        self.headers = {"Accept": "text/html"} if browser else {"Accept": "application/json",
                                                                 "Content-Type": "application/json"}  # fmt: skip
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection(HOST, port, timeout=60)
        self.reconnects = 0

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
        sent = {**self.headers, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=sent)
                response = self.connection.getresponse()
                for cookie in response.headers.get_all("Set-Cookie") or []:
                    name, _, rest = cookie.partition("=")
                    value = rest.split(";", 1)[0]
                    if value and value != '""':
                        self.cookies[name.strip()] = value
                    else:  # deleted
                        self.cookies.pop(name.strip(), None)
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                self.reconnects += 1
                if attempt or self.reconnects > 100:
                    raise
        raise AssertionError("unreachable")

    @property
    def csrf_token(self) -> str:
        return self.cookies.get("csrftoken", "")

    def log_in(self, username: str, password: str) -> None:
        """Sign in through the login form, as a browser does (the CSRF cookie's value is an accepted form token)."""
        self.request("GET", "/login/")
        form = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": self.csrf_token})
        status, body = self.request(
            "POST",
            "/login/",
            form.encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "Referer": f"http://{HOST}:{self.port}/login/"},
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"logging in as {username} answered {status}: {body[:300]!r}")

    def close(self) -> None:
        self.connection.close()


@dataclass
class LoadResult:
    clients: int
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    slices: list[float] = field(default_factory=list)  # rate of each slice, when measured in slices
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds used during the run: client, app, database

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def rate_of(self, status: int) -> float:
        return self.statuses[status] / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def add(self, other: LoadResult) -> LoadResult:
        """Fold in another slice of the same measurement (see ``interleaved``)."""
        self.seconds += other.seconds
        self.statuses.update(other.statuses)
        self.latencies_ms.extend(other.latencies_ms)
        self.errors.extend(other.errors)
        self.slices.append(other.rate)
        for part, seconds in other.cpu.items():
            self.cpu[part] = self.cpu.get(part, 0.0) + seconds
        return self

    def cpu_per_request_ms(self) -> dict[str, float]:
        return {part: 1000 * seconds / self.requests for part, seconds in self.cpu.items()} if self.requests else {}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 < p <= 100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def run_load(
    port: int,
    tokens: list[str],
    next_request: Callable[[int], tuple | None],
    *,
    duration: float,
    max_requests: int,
    clients: list[Client] | None = None,
    on_response: Callable[[int, tuple, int, bytes, float], None] | None = None,
) -> LoadResult:
    """One thread per token, each on its own keep-alive connection, sending what ``next_request(client_index)``
    returns (method, path, body[, headers, ...]) until it returns None, `max_requests` were sent, or `duration`
    seconds passed.  `clients` (set up beforehand, e.g. signed in) stand in for the tokens' clients;
    ``on_response(client_index, job, status, body, ms)`` sees every answer (status 0: no answer), in the client's
    thread, e.g. to chain work or to keep figures per endpoint."""
    clients = clients or [Client(port, token) for token in tokens]
    result = LoadResult(clients=len(clients))
    lock = threading.Lock()
    sent = 0
    start_gate = threading.Barrier(len(clients) + 1)
    deadline = [0.0]

    def client_loop(index: int, client: Client) -> None:
        nonlocal sent
        statuses: Counter = Counter()
        latencies: list[float] = []
        try:
            start_gate.wait(timeout=30)
            while time.monotonic() < deadline[0]:
                with lock:
                    if sent >= max_requests:
                        break
                    sent += 1
                job = next_request(index)
                if job is None:
                    break
                method, path, body, *rest = job
                began = time.perf_counter()
                try:
                    status, answer = client.request(method, path, body, rest[0] if rest else None)
                except (OSError, http.client.HTTPException) as exc:
                    status, answer = 0, b""
                    with lock:
                        result.errors.append(f"{type(exc).__name__}: {exc}")
                latencies.append((time.perf_counter() - began) * 1000)
                statuses[status] += 1
                if on_response:
                    on_response(index, job, status, answer, latencies[-1])
        finally:
            client.close()
            with lock:
                result.statuses.update(statuses)
                result.latencies_ms.extend(latencies)

    threads = [threading.Thread(target=client_loop, args=(i, c), daemon=True) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    deadline[0] = began + duration
    start_gate.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=duration + 120)
    result.seconds = time.monotonic() - began
    return result


def interleaved(
    measurements: dict[str, Callable[[float], LoadResult]],
    *,
    duration: float,
    rounds: int,
    meters: dict[str, CpuMeter] | None = None,
):
    """Run each measurement for `duration` seconds in all, as `rounds` alternating slices (A B C A B C ...), so that a
    change in the machine's background load falls on all of them alike and their ratio stays fair.  With a meter,
    the CPU time its processes used during each slice is added to the result."""
    totals = {name: LoadResult(clients=0) for name in measurements}
    for _ in range(rounds):
        for name, measure in measurements.items():
            meter = (meters or {}).get(name)
            before = meter.read() if meter else None
            piece = measure(duration / rounds)
            if meter:
                piece.cpu = {part: used - before[part] for part, used in meter.read().items()}
            totals[name].clients = piece.clients
            totals[name].add(piece)
    return totals


# --- CPU accounting: what a request costs, whatever else the machine is doing ----------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _cpu_of(pids) -> float:
    total = 0
    for pid in pids:
        fields = _proc_stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / _TICK


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat(int(entry))
            if fields and int(fields[2]) == pgid:
                members.append(int(entry))
    return members


class CpuMeter:
    """CPU seconds used so far by this process (the clients), by an app server's process group, and by the
    PostgreSQL backends connected to a database (other databases' backends are not counted).

    Read on Linux from /proc.  CPU time depends much less than wall time on what else the machine runs, so the cost
    per request it gives is a fair estimate of what an idle machine of this kind would pay; heavy contention still
    inflates it somewhat (shared caches), so it errs on the expensive side."""

    def __init__(self, db: str, app_pgid: int | None = None):
        self.db = db
        self.app_pgid = app_pgid
        self.monitor = psycopg.connect(database_url("postgres"), autocommit=True)
        self.backend_cpu: dict[int, float] = {}  # last reading of each backend, kept after it exits

    def close(self) -> None:
        self.monitor.close()

    def read(self) -> dict[str, float]:
        usage = os.times()
        reading = {"client": usage.user + usage.system}
        if self.app_pgid is not None:
            reading["app"] = _cpu_of(_group_members(self.app_pgid))
        pids = [row[0] for row in self.monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'", [self.db]
        ).fetchall()]  # fmt: skip
        for pid in pids:
            self.backend_cpu[pid] = _cpu_of([pid])
        reading["database"] = sum(self.backend_cpu.values())
        return reading


def cpu_line(result: LoadResult) -> str:
    per = result.cpu_per_request_ms()
    if not per:
        return "CPU per request: not measured"
    total = sum(per.values())
    parts = ", ".join(f"{part} {ms:.1f} ms" for part, ms in per.items())
    return (f"CPU per request: {parts}; total {total:.1f} ms, so {CPUS} idle cores could serve at most "
            f"{CPUS * 1000 / total:.0f} per second")  # fmt: skip


def slices_line(result: LoadResult) -> str:
    return "per slice: " + ", ".join(f"{rate:.0f}" for rate in result.slices) + " per second"


def warm_up(port: int, tokens: list[str], path: str, rounds: int = 3) -> None:
    """Open every client's first connection and let every worker thread load its code and database connection."""
    for token in tokens:
        client = Client(port, token)
        try:
            for _ in range(rounds):
                client.request("GET", path)
        finally:
            client.close()


def latency_line(result: LoadResult) -> str:
    return (
        f"latency ms: p50 {result.percentile(50):.1f}  p95 {result.percentile(95):.1f}  "
        f"p99 {result.percentile(99):.1f}  max {max(result.latencies_ms, default=0):.1f}"
    )


def machine_line() -> str:
    one, five, _ = os.getloadavg()
    return f"machine: {CPUS} CPUs, load average {one:.2f} (1 min) {five:.2f} (5 min) before the run"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_result_json(name: str, figures: dict) -> None:
    """One machine-readable line, for RESULTS.md and the smoke test."""
    print(f"RESULT {name} " + json.dumps(figures, sort_keys=True))
