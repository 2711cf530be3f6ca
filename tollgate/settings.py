"""Django settings, read from the environment.

Two run modes (DESIGN.md "Run modes"): with no variables set, an embedded PostgreSQL from
`pgserver`, Celery over kombu's filesystem transport and email written to files, all under
`.data/`; with DATABASE_URL set, production, where SECRET_KEY is required and the security
settings default to strict.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF, UNSAFE_HASHES
from django.core.exceptions import ImproperlyConfigured

from tollgate.db import DatabaseTimeouts, database_settings
from tollgate.embedded import DATA_DIR, embedded_database, embedded_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
EMBEDDED = not env.str("DATABASE_URL", default="")

DEBUG = env.bool("DEBUG", default=False)
if EMBEDDED:
    # Made once and kept in .data (not a fixed key every checkout shares): sessions survive
    # restarts, and a sign-in cookie from one checkout means nothing to another.
    SECRET_KEY = env.str("SECRET_KEY", default="") or embedded_secret_key()
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DATABASE_URL is set (production).")
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when DATABASE_URL is set (production).")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])  # production names its hosts

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from the installed package, not a CDN
    "simple_history",
    "governance",
    "ingestion",
    "analytics",
    "tollgate.demo",  # the demo's simulate_traffic command
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below whitenoise, so static assets keep their cache headers and skip both.
    "tollgate.headers.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "tollgate.middleware.DatabaseUnavailableMiddleware",
    "tollgate.query_guard.QueryGuardMiddleware",  # NUL, over-long query values: 400
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",  # audit rows record who
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tollgate.urls"
WSGI_APPLICATION = "tollgate.wsgi.application"

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
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASES = {"default": embedded_database() if EMBEDDED else env.db_url("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # a restarted database is simply reconnected
# A hung database answers 503 within about 10 s on the web (connect, or statement plus the
# client's grace), far inside gunicorn's 30 s worker timeout; jobs do long work on purpose.
# Processes are jobs (Celery, commands, tests) unless they serve requests: tollgate/wsgi.py
# switches to "web" (tollgate/db).
_connect_timeout_s = env.int("DATABASE_CONNECT_TIMEOUT_S", default=3)  # libpq's minimum is 2
_job_statement_timeout_s = env.int("DATABASE_JOB_STATEMENT_TIMEOUT_S", default=900)  # 0: none
TOLLGATE_DATABASE_TIMEOUTS = {
    "web": DatabaseTimeouts(
        connect_s=_connect_timeout_s,
        statement_s=env.int("DATABASE_STATEMENT_TIMEOUT_S", default=5),
        idle_in_transaction_s=60,  # frees the locks of a wedged worker; no request idles so long
    ),
    "jobs": DatabaseTimeouts(
        connect_s=_connect_timeout_s,
        statement_s=_job_statement_timeout_s,
        idle_in_transaction_s=_job_statement_timeout_s,
    ),
}
DATABASES["default"] = database_settings(
    timeouts=TOLLGATE_DATABASE_TIMEOUTS["jobs"], entry=DATABASES["default"]
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery -------------------------------------------------------------------------------
# The filesystem transport's folder; tests give each run its own.
BROKER_DIR = Path(env.str("CELERY_FILESYSTEM_FOLDER", default=str(DATA_DIR / "broker")))
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    (BROKER_DIR / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "control_folder": str(BROKER_DIR / "control"),  # else kombu writes ./control
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # Twice a minute, so new events reach the metrics within the 60 s of DESIGN.md.
    "rollup-advance": {"task": "analytics.rollup_advance", "schedule": 30.0},
    "partitions-maintain": {"task": "ingestion.partitions_maintain", "schedule": 6 * 3600},
    "rate-windows-prune": {"task": "governance.rate_windows_prune", "schedule": 15 * 60},
    "alerts-evaluate": {"task": "analytics.alerts_evaluate", "schedule": 60.0},
    # Raw events against rollups, every project and retained hour (analytics.rollups.reconcile).
    "rollups-reconcile": {"task": "analytics.rollups_reconcile", "schedule": 15 * 60},
    # Retries of failed mail come due on their own backoff; this picks them up.
    "notifications-send": {"task": "analytics.notifications_send", "schedule": 30.0},
    # Yesterday's figures are final by then (UTC), and land before finance's working day.
    "finance-digest": {"task": "analytics.finance_digest", "schedule": crontab(hour=6, minute=0)},
}

# --- Email --------------------------------------------------------------------------------
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="tollgate@localhost")
EMAIL_TIMEOUT = 10  # seconds; a hung SMTP server must not hold a sender past its lease

# --- Auth and security --------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
_strict = not EMBEDDED and not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_strict)
# Prometheus scrapes the app port directly (loopback, or with its bearer token).
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):  # only behind a proxy that sets it
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_strict)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_strict)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _strict else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _strict
# Preload is a promise that is slow to take back (browsers ship the list): only when asked.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # preload left off on purpose (above)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# A stolen or forgotten session cookie is good for a working day, not the default two weeks.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
# Messages live in the session, not a cookie: the admin shows a new API key through them.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Content Security Policy (django-csp) ---------------------------------------------------
# Only this origin; inline <script> and <style> run only with the request's nonce
# (`nonce="{{ request.csp_nonce }}"`), so injected markup cannot run script or restyle a page.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # Style attributes cannot carry a nonce. Our own markup has none; this allows exactly
        # one declaration, by its hash: `border-top: 0` in django-simple-history's admin
        # history list, rather than a copy of that third-party template to keep in step.
        "style-src-attr": [UNSAFE_HASHES, "'sha256-XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM='"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- I18N, static -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve straight from the apps in the embedded mode, no collectstatic

# --- REST framework and OpenAPI -----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "tollgate.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tollgate API",
    "DESCRIPTION": "Ingest routing and enforcement events; read the metrics they become.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Sign-in throttling (django-axes) ------------------------------------------------------
# Failed sign-ins count per username with one address and per address for any username, never
# per username alone: failures elsewhere never lock a user out of a clean address.
# governance.login gives each counter its own limit and answers a locked sign-in.
INSTALLED_APPS.append("axes")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last, as axes asks: it answers lockouts
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked sign-in unchecked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "governance.login.SignInThrottleHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = 5  # per username and address (the pair); axes locks at the 5th failure
TOLLGATE_SIGNIN_FAILURES_PER_ADDRESS = 50  # per address, any usernames (one client guessing)
AXES_COOLOFF_TIME = timedelta(minutes=15)  # failures count for 15 minutes after the last
AXES_RESET_ON_SUCCESS = True  # a success clears its pair's failures (only those, see handler)
# Attempts while locked are refused unchecked and not counted, so Retry-After holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "governance.login.lockout_response"  # a clear page, with Retry-After
AXES_HTTP_RESPONSE_CODE = 429
AXES_CLIENT_IP_CALLABLE = "governance.login.client_address"
# Proxies in front of the app that each append to X-Forwarded-For; the client is that many
# entries from the right. 0: REMOTE_ADDR only, so a client cannot pick its address.
TOLLGATE_TRUSTED_PROXY_COUNT = env.int("TOLLGATE_TRUSTED_PROXY_COUNT", default=0)
if TOLLGATE_TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TOLLGATE_TRUSTED_PROXY_COUNT must be 0 or more.")
AXES_ENABLE_ADMIN = False  # governance.admin shows the records, to superusers only
AXES_ENABLE_ACCESS_FAILURE_LOG = False  # recent failures are in AccessAttempt already
TOLLGATE_SIGNIN_LOG_DAYS = 90  # successful sign-ins (AccessLog) kept this long, then pruned

# --- Ingest -------------------------------------------------------------------------------
TOLLGATE_INGEST_MAX_EVENTS = 1000
TOLLGATE_INGEST_MAX_BYTES = 5 * 1024 * 1024  # decompressed; the compressed body is capped too
TOLLGATE_INGEST_FUTURE_SKEW_S = 300
TOLLGATE_RETRY_AFTER_S = 5  # what a 503 tells clients to wait
TOLLGATE_BASE_URL = env.str("TOLLGATE_BASE_URL", default="http://127.0.0.1:8000")  # links in emails
# Sends an email gets before its outbox row turns `failed` (the admin's "Send again" revives
# it). With the backoff (30 s doubling, at most 2 h apart) 20 attempts span 12 to 24 hours.
TOLLGATE_OUTBOX_MAX_ATTEMPTS = env.int("TOLLGATE_OUTBOX_MAX_ATTEMPTS", default=20)
if TOLLGATE_OUTBOX_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured("TOLLGATE_OUTBOX_MAX_ATTEMPTS must be 1 or more.")
# Bearer token Prometheus sends to GET /metrics; unset, only loopback clients are answered.
TOLLGATE_METRICS_TOKEN = env.str("TOLLGATE_METRICS_TOKEN", default="")
# Without a token, loopback clients may scrape: on by default only in the embedded mode.
TOLLGATE_METRICS_LOOPBACK = env.bool("TOLLGATE_METRICS_LOOPBACK", default=EMBEDDED)

# --- Query strings and path ids (tollgate/query_guard.py) ---------------------------------
# Far above anything a page or the API sends, far below what costs a server anything.
TOLLGATE_QUERY_MAX_PARAMETERS = 100  # Django's own parse limit is 1,000
TOLLGATE_QUERY_MAX_VALUE_CHARS = 1000
TOLLGATE_QUERY_MAX_NAME_CHARS = 200
TOLLGATE_PATH_MAX_SEGMENT_CHARS = 200

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
