"""The container files: docker-compose.yml describes the full stack, the Dockerfile builds the portal image.

No Docker engine runs where the suite runs, so these tests read the files: the compose file must parse,
name its services, and hand the portal only variables that config/settings.py actually reads.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PORTAL_SERVICES = ("web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for parts in (line.strip().split(None, 1) for line in joined.splitlines() if line.strip())
    ]


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "NAME=value" list form
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return env


def _command(service: dict) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else list(command)


def test_compose_names_the_full_stack(services):
    assert {"db", "redis", "web", "worker", "beat"} <= set(services)


def test_database_is_postgres_16_and_broker_redis_7(services):
    assert services["db"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"


def test_db_and_redis_have_healthchecks(services):
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]


def test_database_volume_is_persistent(compose, services):
    data = "/var/lib/postgresql/data"
    volume = next(v.split(":")[0] for v in services["db"]["volumes"] if v.endswith(data))
    assert volume in compose["volumes"]


@pytest.mark.parametrize("name", PORTAL_SERVICES)
def test_portal_services_share_one_image_definition(services, name):
    # worker and beat reuse the web definition (a YAML anchor): the same build, image and environment.
    assert services[name]["build"] == services["web"]["build"]
    assert services[name]["image"] == services["web"]["image"]
    # the same environment, but for parallel query, which the jobs' large aggregates may use
    jobs_only = {"DB_MAX_PARALLEL_WORKERS_PER_GATHER"}
    env, web_env = _environment(services[name]), _environment(services["web"])
    assert {k: v for k, v in env.items() if k not in jobs_only} == {
        k: v for k, v in web_env.items() if k not in jobs_only
    }


def test_the_web_server_keeps_connections_and_runs_no_parallel_query_the_jobs_may(services):
    web = _environment(services["web"])
    assert web["CONN_MAX_AGE"] == "${CONN_MAX_AGE:-300}" and web["DB_MAX_PARALLEL_WORKERS_PER_GATHER"] == "0"
    for name in ("worker", "beat"):
        assert _environment(services[name])["DB_MAX_PARALLEL_WORKERS_PER_GATHER"] == "server"


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_run_celery_on_the_config_app(services, name):
    command = _command(services[name])
    assert command[0] == "celery"
    assert command[command.index("-A") + 1] == "config"
    assert name in command


def test_web_depends_on_db_and_redis(services):
    depends_on = services["web"]["depends_on"]
    assert {"db", "redis"} <= set(depends_on)
    # Waiting for health, not mere start, so migrate on start finds PostgreSQL accepting connections.
    assert depends_on["db"]["condition"] == "service_healthy"


def test_web_publishes_port_8000(services):
    assert any(str(port).endswith(":8000") for port in services["web"]["ports"])


def test_portal_configuration_points_at_the_stack_services(services):
    env = _environment(services["web"])
    assert env["DEBUG"] == "false"
    assert env["DATABASE_URL"] == "postgres://postgres:postgres@db:5432/alliance"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"} <= set(env)
    db_env = services["db"]["environment"]
    assert (db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"], db_env["POSTGRES_DB"]) == (
        "postgres",
        "postgres",
        "alliance",
    )


@pytest.mark.parametrize("name", PORTAL_SERVICES)
def test_every_variable_given_to_the_portal_is_read_by_settings(services, name):
    settings_text = (ROOT / "config" / "settings.py").read_text()
    unread = [var for var in _environment(services[name]) if f'"{var}"' not in settings_text]
    assert not unread, f"{name} sets variables config/settings.py never reads: {unread}"


def test_dockerfile_builds_on_python_311(dockerfile):
    froms = [args for instruction, args in _instructions(dockerfile) if instruction == "FROM"]
    # the image that runs is the last stage; a Node stage before it only installs the npm libraries
    assert froms and re.match(r"python:3\.11(-slim)?(\s|$)", froms[-1])
    assert all(re.match(r"node:\d+(-slim)? AS assets$", image) for image in froms[:-1]), froms


def test_dockerfile_installs_the_npm_libraries_from_the_lockfile_and_ships_what_pages_load(dockerfile):
    assert "COPY package.json package-lock.json ./" in dockerfile
    assert "npm ci --omit=dev" in dockerfile  # the lockfile's versions, without the test-only axe-core
    assert "COPY --from=assets /assets/vendor/ /app/static/vendor/" in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    vendored = re.search(r"^VENDOR_FILES := (.+)$", makefile, re.M).group(1).split()
    for path in vendored:  # the image copies the same files as `make assets`
        assert path in dockerfile, path


def test_dockerfile_collects_static_files_with_debug_off(dockerfile):
    instructions = _instructions(dockerfile)
    collect = next(i for i, (instr, args) in enumerate(instructions) if instr == "RUN" and "collectstatic" in args)
    assert "--noinput" in instructions[collect][1]
    # DEBUG=false selects the manifest storage, so the collected files are the ones production serves.
    env_before = " ".join(args for instr, args in instructions[:collect] if instr == "ENV")
    assert re.search(r"\bDEBUG=false\b", env_before + " " + instructions[collect][1])


def test_dockerfile_runs_as_non_root(dockerfile):
    users = [args for instruction, args in _instructions(dockerfile) if instruction == "USER"]
    assert users and users[-1] not in {"root", "0"}


def test_image_migrates_then_serves_config_wsgi_with_gunicorn(dockerfile):
    entrypoint = next(args for instruction, args in _instructions(dockerfile) if instruction == "ENTRYPOINT")
    script_path = ROOT / re.match(r'\["/app/([^"]+)"', entrypoint).group(1)
    script = script_path.read_text()
    assert script.index("manage.py migrate") < script.index("gunicorn config.wsgi")
    assert "0.0.0.0:8000" in script
    assert script_path.stat().st_mode & 0o111, "the entrypoint must be executable"


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "var", ".env"} <= ignored
