"""Settings for the Alliance Logistics Portal, all read from the environment (django-environ).

With no environment at all the portal runs on SQLite in ``var/`` with Celery tasks executed in-process,
so a newcomer's ``make run`` works without any service.  Production sets ``DEBUG=false``, ``SECRET_KEY``,
``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL``.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY")  # required: no default outside DEBUG

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "django_tables2",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_htmx",
    "csp",
    "axes",
    "django_otp",  # two-factor sign-in: authenticator apps (TOTP) and backup codes (nations/two_factor.py)
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "pgtrigger",
    "pghistory",
    "core",
    "nations",
    "inventory",
    "coordination",
    "history",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.RefuseNulCharacters",  # PostgreSQL text holds no NUL: 400 before any lookup fails on one
    "core.api.throttling.RateLimitHeadersMiddleware",  # RateLimit / RateLimit-Policy on every counted API answer
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): a code was given in this session
    "core.middleware.IdleSessionTimeout",  # a browser left idle is signed out (SESSION_IDLE_TIMEOUT_MINUTES)
    "nations.audit.AuditRequestMiddleware",  # audit entries say from which address and path
    "core.change_context.HistoryContextMiddleware",  # change history says who, through which path (PostgreSQL)
    "django.contrib.messages.middleware.MessageMiddleware",
    # a signed-in user who owes a second factor reaches only the code and enrolment pages (API: 403; tokens pass)
    "nations.two_factor.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # under DEBUG too, a 404 is the portal's page with its navigation (?debug: Django's technical page)
    "core.error_pages.StyledNotFoundUnderDebug",
    "core.middleware.DatabaseUnavailableMiddleware",  # a lost database answers 503, not 500
    "axes.middleware.AxesMiddleware",  # last: it answers the lockout for the login view
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "portal.context_processors.portal_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
# DATABASE_URL=postgres://postgres@127.0.0.1:5432/alliance ; default: SQLite file under var/.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Persistent connections outside DEBUG: a new PostgreSQL connection per request cost an approval about 10 ms of the
# server's CPU (bench/RESULTS.md).  DEBUG (the dev server, the tests) opens one per request, as Django does.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if DEBUG else 300)
# A persistent connection is tested before each request reuses it, so after a database restart the next request
# reconnects instead of failing on a dead connection.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)  # a fresh clone has no var/ and SQLite does not create folders
    # Several threads (dev server, in-process jobs) write to one file: wait for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # Covering indexes (INCLUDE) are PostgreSQL speed-ups of reconciliation and the lists; SQLite builds them without
    # their extra columns, and does without stock_center_id_key, whose invariant its triggers keep (inventory/0013).
    SILENCED_SYSTEM_CHECKS = ["models.W039", "models.W040"]
# PostgreSQL's parallel query helps one big query on an idle server and hurts many small ones at once: with 16
# clients on 2 cores the 1M-stock API list served 103.5 requests/s with it off against 71.0 with it on
# (bench/RESULTS.md).  Off (0) by default outside DEBUG; "server" leaves the server's own setting, which the
# compose file's worker and beat choose for the reconciliation's large aggregates.
_parallel = env.str("DB_MAX_PARALLEL_WORKERS_PER_GATHER", default="server" if DEBUG else "0").strip().lower()
if _parallel not in ("", "server") and not _parallel.isdigit():
    raise ImproperlyConfigured(
        f"DB_MAX_PARALLEL_WORKERS_PER_GATHER must be a whole number or 'server', not {_parallel!r}"
    )
DB_MAX_PARALLEL_WORKERS_PER_GATHER = int(_parallel) if _parallel.isdigit() else None
if DB_MAX_PARALLEL_WORKERS_PER_GATHER is not None and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c max_parallel_workers_per_gather={DB_MAX_PARALLEL_WORKERS_PER_GATHER}"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out credentials before checking them
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Brute-force protection on the login form (django-axes) ------------------------------------------------
# Five failures for one username from one address lock that pair out for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0)  # proxies in front (for X-Forwarded-For)
# A username no account has is kept (by axes and the audit log) as "unknown user" and a keyed hash: people type
# their password into the username box.
AXES_USERNAME_CALLABLE = "nations.audit.axes_username"

# --- Two-factor sign-in (django-otp; nations/two_factor.py) -------------------------------------------------
# Who must give a code after the password: any of "admin" (superusers and staff), "coordinator", "liaison",
# "logistics", "operator"; empty requires it of nobody.  Anyone may enrol, and whoever has a device is always asked.
TWO_FACTOR_ROLE_NAMES = ("admin", "coordinator", "liaison", "logistics", "operator")
TWO_FACTOR_REQUIRED_ROLES = env.list("TWO_FACTOR_REQUIRED_ROLES", default=["liaison", "coordinator", "admin"])
for _role in TWO_FACTOR_REQUIRED_ROLES:
    if _role not in TWO_FACTOR_ROLE_NAMES:  # a typo must not quietly drop the requirement
        raise ImproperlyConfigured(
            f"TWO_FACTOR_REQUIRED_ROLES: {_role!r} is not one of {', '.join(TWO_FACTOR_ROLE_NAMES)}."
        )
OTP_TOTP_ISSUER = "Alliance Logistics Portal"  # the name authenticator apps show beside the code
# Each wrong code doubles the wait before the next try on that device (1, 2, 4, ... seconds; django-otp's default).
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# The admin shows neither a device's secret nor its backup codes: an administrator resets, never reads them.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Change history (django-pghistory, PostgreSQL triggers; history/models.py) ------------------------------
# Write requests only: a GET changes no tracked table, and reads should not pay for the context.
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# --- Content-Security-Policy (django-csp): no inline script anywhere --------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "core.error_pages.csrf_failure"  # the portal's 403 page, saying what to do
SESSION_COOKIE_HTTPONLY = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation: the alliance works in English and French, always in UTC ------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True  # 12,500 in English, 12 500 in French
# Dates ISO (2026-12-14) and times 24-hour (09:30 UTC) in every language: config/formats/
FORMAT_MODULE_PATH = ["config.formats"]

# --- Static files: served by WhiteNoise, collected by the container image ---------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# In development (and tests) files are found where they are; production serves the collected, hashed set.
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email (console by default; SMTP with EMAIL_URL=smtp://user:pass@host:587?tls=true) ----------------------
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="portal@alliance-logistics.invalid")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # seconds; emails go out in-process while the broker is down

# --- Celery -----------------------------------------------------------------------------------------------
# With REDIS_URL the jobs go to Redis; without it they run in-process (eager), so no broker is needed.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
# The queue the tasks are sent to and the workers consume: two deployments, or test runs, that share one Redis
# database keep apart by naming different queues.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
# Delivered at least once: a task is acknowledged when it has finished, and requeued when its worker process
# dies (acks_late alone loses a task whose pool process is killed).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # above the longest task (CELERY_TASK_TIME_LIMIT), so a slow task is never handed out twice ...
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=360),
    # ... and swept for every 2 s, so the task of a dead worker comes back once that time is up, not after an hour
    "unacked_restore_interval": 2,
    "unacked_restore_throttle": 1,
    # The sweep runs under a lock in Redis; a worker killed while holding it blocks every other worker's sweep until
    # the lock expires, by default after 5 minutes (the fault tests ran into it).  A sweep takes milliseconds.
    "unacked_mutex_expire": 10,
}
RECONCILE_EVERY_MINUTES = env.int("RECONCILE_EVERY_MINUTES", default=15)
# An unfinished run without progress for this long is taken as dead and marked failed by the next run.
RECONCILE_STALE_SECONDS = env.int("RECONCILE_STALE_SECONDS", default=CELERY_TASK_TIME_LIMIT + 60)
# Each run re-hashes the new movements, the flagged chains and one in LEDGER_VERIFY_SLICES of the other chains in
# turn (inventory/ledger.py): an edit to an old movement is found within that many runs (1: every chain every run).
LEDGER_VERIFY_SLICES = env.int("LEDGER_VERIFY_SLICES", default=24)
if LEDGER_VERIFY_SLICES < 1:
    raise ImproperlyConfigured("LEDGER_VERIFY_SLICES must be 1 or more.")
# Work recorded in the database but never picked up (its message could not reach the broker, or was lost with it):
# the sweeps below, every JOBS_SWEEP_SECONDS, queue again what has waited JOBS_REQUEUE_AFTER_SECONDS.
JOBS_SWEEP_SECONDS = env.int("JOBS_SWEEP_SECONDS", default=60)
JOBS_REQUEUE_AFTER_SECONDS = env.int("JOBS_REQUEUE_AFTER_SECONDS", default=120)
CELERY_BEAT_SCHEDULE = {
    "reconcile-shared-stock": {
        "task": "coordination.tasks.scheduled_reconciliation",
        "schedule": RECONCILE_EVERY_MINUTES * 60,
    },
    "retry-due-webhook-deliveries": {"task": "coordination.tasks.retry_due_deliveries", "schedule": JOBS_SWEEP_SECONDS},
    "requeue-waiting-reconciliations": {
        "task": "coordination.tasks.requeue_waiting_runs",
        "schedule": JOBS_SWEEP_SECONDS,
    },
    # the audit log's hash chain: entries are sealed after they commit, not while (nations/audit_chain.py)
    "seal-audit-log": {"task": "nations.tasks.seal_audit_log", "schedule": 60},
}
# The sealer looks for unsealed entries written up to this long before the newest sealed one (an entry's
# transaction commits far sooner); verify_audit_chain reports older unsealed entries as left out of the chain.
AUDIT_SEAL_LOOKBACK_MINUTES = env.int("AUDIT_SEAL_LOOKBACK_MINUTES", default=60)
# Webhooks: first retry after WEBHOOK_BACKOFF_SECONDS, doubling each time, up to WEBHOOK_MAX_ATTEMPTS attempts.
WEBHOOK_BACKOFF_SECONDS = env.int("WEBHOOK_BACKOFF_SECONDS", default=10)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=10)
# Webhooks go to public addresses only (coordination/webhook_targets.py); national systems on private networks
# are reached by listing their networks here, e.g. "10.20.0.0/16,fd00:1::/64".
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
WEBHOOK_MAX_ENDPOINTS_PER_NATION = env.int("WEBHOOK_MAX_ENDPOINTS_PER_NATION", default=10)

# --- Django REST framework --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "nations.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        # last: charges a call nothing above authenticated to its address's budget (429 before its 401/403)
        "core.api.throttling.AddressBudget",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["core.api.throttling.CallerRateThrottle"],
    # JSON only (a form or multipart body is 415): the schema then offers generated clients one body type, and
    # JSON is hardened: a body nested too deep is a 400 problem, not a 500 (core/api/parsers.py)
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "core.api.problems.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "core.api.ordering.ContractOrdering",  # ?ordering= by payload field names; an unknown one is 400
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PortalPagination",
    "PAGE_SIZE": 50,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.PortalAutoSchema",
}
# A change to a versioned resource (PATCH, PUT, DELETE) without If-Match answers 428; false lets old clients
# change without saying which version they read (lost updates become possible again).
API_REQUIRE_IF_MATCH = env.bool("API_REQUIRE_IF_MATCH", default=True)
# Sync cursors (?cursor=, core/api/pagination.py) stop this many seconds short of the oldest running transaction:
# the clock skew allowed between the processes that stamp rows.
API_SYNC_MARGIN_SECONDS = env.float("API_SYNC_MARGIN_SECONDS", default=2.0)
# Per-caller API budgets ("N/second|minute|hour|day"); empty disables that budget.
API_RATE_TOKEN = env.str("API_RATE_TOKEN", default="6000/minute")
API_RATE_USER = env.str("API_RATE_USER", default="3000/minute")
API_RATE_ANON = env.str("API_RATE_ANON", default="60/minute")

# /readyz tells everyone its status; the checks' detail (which names the database and the Redis address) only to
# staff users and to callers from these networks (CIDRs): by default the host itself, where container probes run.
HEALTH_DETAIL_NETWORKS = env.list("HEALTH_DETAIL_NETWORKS", default=["127.0.0.1/32", "::1/128"])
for _cidr in HEALTH_DETAIL_NETWORKS:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"HEALTH_DETAIL_NETWORKS: {_cidr!r} is not a network (CIDR).") from None

# --- Cache: Redis when configured (shared by all processes, e.g. throttling), else per-process memory ------
# Failing soft (config/cache.py): with Redis unreachable the API keeps serving and throttling lets callers through.
CACHES = {
    "default": {
        "BACKEND": "config.cache.FailSoftRedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Alliance Logistics Portal API",
    "DESCRIPTION": "REST API v1 for national logistics systems.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RequestStatusEnum": "coordination.models.RequestStatus",
        "RunStatusEnum": "coordination.models.RunStatus",
        "SeverityEnum": "coordination.models.Severity",
        "EventTypeEnum": "coordination.models.EventType",
    },
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1: the document also describes what the portal POSTs to national systems (its `webhooks` section)
    "OAS_VERSION": "3.1.0",
    "WEBHOOKS": "coordination.api.webhooks.WEBHOOKS",
}

# --- Domain settings --------------------------------------------------------------------------------------
# Default days-of-supply target when a nation has none for a supply class.
DEFAULT_DAYS_OF_SUPPLY_TARGET = env.int("DEFAULT_DAYS_OF_SUPPLY_TARGET", default=15)
# Approved requests of routine priority (group 3) not dispatched within this many days are flagged by reconciliation.
DISPATCH_OVERDUE_DAYS = env.int("DISPATCH_OVERDUE_DAYS", default=3)
# Standard times per priority group (coordination/priority.py), in hours: the supplier's decision after submission,
# dispatch after approval.  Past them, reconciliation flags the request and tells who must act.
PRIORITY_STANDARD_HOURS = {
    1: {"approve": env.int("PRIORITY_1_APPROVE_HOURS", default=12), "dispatch": env.int("PRIORITY_1_DISPATCH_HOURS", default=24)},
    2: {"approve": env.int("PRIORITY_2_APPROVE_HOURS", default=48), "dispatch": env.int("PRIORITY_2_DISPATCH_HOURS", default=48)},
    3: {"approve": env.int("PRIORITY_3_APPROVE_HOURS", default=120), "dispatch": DISPATCH_OVERDUE_DAYS * 24},
}  # fmt: skip
# A shipment not received this many hours after its expected arrival is flagged overdue.
ARRIVAL_OVERDUE_TOLERANCE_HOURS = env.int("ARRIVAL_OVERDUE_TOLERANCE_HOURS", default=12)
# How far in the future a physical count may be dated (the counting device's clock may run ahead of ours)
COUNT_CLOCK_SKEW_SECONDS = env.int("COUNT_CLOCK_SKEW_SECONDS", default=300)
# The one password of the demo users created by `manage.py seed_demo`.
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="alliance-demo-2026")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # in-process (eager) jobs would log every task at INFO into the dev server's console
        "celery.app.trace": {"level": "WARNING" if not REDIS_URL else "INFO"},
    },
}

# --- Production hardening (effective when DEBUG is off) -----------------------------------------------------
if not DEBUG:
    if AXES_IPWARE_PROXY_COUNT > 0:
        # X-Forwarded-Proto is believed only when a proxy is declared in front (AXES_PROXY_COUNT): without one, any
        # client could claim HTTPS
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)  # one working shift
# A browser session left idle this long is signed out (core.middleware.IdleSessionTimeout); 0 turns it off.
SESSION_IDLE_TIMEOUT_MINUTES = env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=30)

# API tokens always expire: the default when none is asked for, and the longest allowed.
API_TOKEN_DEFAULT_DAYS = env.int("API_TOKEN_DEFAULT_DAYS", default=90)
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=365)
