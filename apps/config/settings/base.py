"""Settings shared by every environment.

Every value that differs between machines comes from an environment variable read
here (django-environ). `local`, `test` and `production` only override. Each variable is
listed with its default in docs/configuration.md; keep the two in step.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parents[3]

env = environ.Env()


def env_required(name: str) -> str:
    """Read a variable that has no safe default (PostHog `get_from_env`)."""
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(f"The environment variable {name} must be set.")
    return value


# --- Core -------------------------------------------------------------------------------

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-embedded-default-change-me")
# Old keys still accepted for signatures (sessions, password resets, invitation links)
# while a new key rolls out: https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key-fallbacks
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("TESSERA_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin.apps.SimpleAdminConfig",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "apps.core",
    "apps.accounts",
    "apps.audit",
    "apps.api_keys",
    "apps.dashboard",
    "apps.console",
    "apps.datasets",
    "apps.training",
    "apps.webhooks",
    "apps.metering",
    "apps.billing",
    "apps.sentiment",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the body, so an oversize API request gets a JSON 413.
    "apps.core.middleware.ApiRequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "apps.config.urls"
WSGI_APPLICATION = "apps.config.wsgi.application"

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

# --- Database ---------------------------------------------------------------------------
# The embedded default is SQLite. Production and the test suite use PostgreSQL, where the
# app connects as a role that is subject to row-level security (docs/adr/0001).

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Every request is one transaction: the tenant context is set per transaction
# (SET LOCAL semantics), so it can never leak into the next request on the same connection.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# The role the web and worker processes connect as (no BYPASSRLS, owns no table), and the
# NOLOGIN role with BYPASSRLS that the one cross-tenant path switches to.
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="tessera_app")
DATABASE_CROSS_TENANT_ROLE = env.str("DATABASE_CROSS_TENANT_ROLE", default="tessera_cross_tenant")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24
# Password logins are refused for the rest of the window after this many failures for one
# email or one IP (apps/accounts/login_throttle.py).
LOGIN_FAILURES_PER_EMAIL = env.int("LOGIN_FAILURES_PER_EMAIL", default=10)
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=50)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=15 * 60)

# --- I18N, static -----------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "apps" / "dashboard" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Email ------------------------------------------------------------------------------
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-email-url
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tessera <no-reply@tessera.local>")

# --- Cache (rate limits) ----------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "tessera",
        }
    }
else:
    # Embedded default: per-process memory. Rate limits are then per process, which is
    # fine for one local server and documented as such.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- REST API ---------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.api_keys.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.api_keys.throttling.ApiKeyRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.TesseraAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

# Larger API bodies get 413 before they are read. Dataset uploads set their own limit.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
# `last_used_at` is written at most this often per key, so a busy key is not a hot row.
API_KEY_LAST_USED_RESOLUTION_SECONDS = env.int("API_KEY_LAST_USED_RESOLUTION_SECONDS", default=300)
# Stored responses for Idempotency-Key replays are kept this long (Stripe keeps 24 hours).
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)

SPECTACULAR_SETTINGS = {
    "TITLE": "Tessera API",
    "DESCRIPTION": (
        "Multi-tenant AI platform. Authenticate with an organization API key in the "
        "`Authorization: Bearer tsk_live_...` header. Errors are always "
        '`{"error": {"code", "message", "details"}}`. See docs/api.md.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "apps.accounts.models.Role",
        "ApiKeyStatusEnum": "apps.api_keys.models.API_KEY_STATUSES",
        "InvitationStatusEnum": "apps.accounts.models.INVITATION_STATUSES",
    },
    "PREPROCESSING_HOOKS": ["apps.core.schema.drop_trailing_slash_duplicates"],
}

# --- Celery -----------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
# Redis redelivers an unacknowledged acks_late task after visibility_timeout; it must exceed
# the longest task (training: 6 h, apps/core/queues.py) or long jobs would run twice.
CELERY_BROKER_VISIBILITY_TIMEOUT = env.int("CELERY_BROKER_VISIBILITY_TIMEOUT", default=7 * 3600)
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
if CELERY_BROKER_URL == "filesystem://":
    # Embedded default: a real worker with no Redis, exchanging messages through a folder.
    _broker_dir = Path(env.str("CELERY_FILESYSTEM_BROKER_DIR", default=str(BASE_DIR / ".demo" / "broker")))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        # Exchange tables; kombu's default is ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
# A generous ceiling; queues with long work (training) set their own per task.
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=15 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=14 * 60)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- ML (workers only) ------------------------------------------------------------------

# Any local sentence-transformers directory; empty means the packaged all-MiniLM-L6-v2.
ML_BASE_MODEL_PATH = env.str("ML_BASE_MODEL_PATH", default="")

# --- Artifact storage (datasets, model versions) ---------------------------------------

# "filesystem" keeps files under ARTIFACT_ROOT; "s3" uses any S3-compatible store. Every
# key starts with the organization's prefix (org/<id>/...), STYLE.md section 5 rule 5.
ARTIFACT_STORAGE = env.str("ARTIFACT_STORAGE", default="filesystem")
ARTIFACT_ROOT = Path(env.str("ARTIFACT_ROOT", default=str(BASE_DIR / "var" / "artifacts")))
ARTIFACT_S3_BUCKET = env.str("ARTIFACT_S3_BUCKET", default="")
ARTIFACT_S3_ENDPOINT_URL = env.str("ARTIFACT_S3_ENDPOINT_URL", default="")
ARTIFACT_S3_REGION = env.str("ARTIFACT_S3_REGION", default="us-east-1")
ARTIFACT_S3_ACCESS_KEY_ID = env.str("ARTIFACT_S3_ACCESS_KEY_ID", default="")
ARTIFACT_S3_SECRET_ACCESS_KEY = env.str("ARTIFACT_S3_SECRET_ACCESS_KEY", default="")
# Workers and the serving layer copy artifacts from S3 into this local cache.
ARTIFACT_CACHE_DIR = Path(env.str("ARTIFACT_CACHE_DIR", default=str(BASE_DIR / "var" / "artifact-cache")))

# --- Datasets ----------------------------------------------------------------------------

DATASET_MAX_UPLOAD_BYTES = env.int("DATASET_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
# Texts longer than this many characters are reported as over-long (the encoder reads
# about 256 word pieces; longer text is truncated).
DATASET_MAX_TEXT_CHARS = env.int("DATASET_MAX_TEXT_CHARS", default=2000)
# Django refuses to read larger non-file bodies; ApiRequestSizeLimitMiddleware has already
# applied the real per-path limit, so this only has to let an uploaded JSON-lines body through.
DATA_UPLOAD_MAX_MEMORY_SIZE = DATASET_MAX_UPLOAD_BYTES + 64 * 1024

# --- Training ----------------------------------------------------------------------------

# A running job writes a heartbeat this often; the reaper requeues or fails a job whose
# heartbeat is older than TRAINING_STALE_AFTER_SECONDS (a worker killed with -9).
TRAINING_HEARTBEAT_SECONDS = env.int("TRAINING_HEARTBEAT_SECONDS", default=10)
TRAINING_STALE_AFTER_SECONDS = env.int("TRAINING_STALE_AFTER_SECONDS", default=120)
TRAINING_MAX_ATTEMPTS = env.int("TRAINING_MAX_ATTEMPTS", default=3)
# How often the reaper and the scheduler of waiting jobs run.
TRAINING_REAPER_INTERVAL_SECONDS = env.int("TRAINING_REAPER_INTERVAL_SECONDS", default=30)

# --- Serving -----------------------------------------------------------------------------

# Per-process memory for tenants' heads/adapters kept loaded (least recently used leave).
SERVING_MEMORY_BUDGET_MB = env.int("SERVING_MEMORY_BUDGET_MB", default=512)
PREDICT_MAX_TEXTS = env.int("PREDICT_MAX_TEXTS", default=100)

# --- Sentiment ---------------------------------------------------------------------------
# Longest document text accepted on ingest, in characters (the encoder reads ~128 tokens anyway).
SENTIMENT_MAX_TEXT_LENGTH = env.int("SENTIMENT_MAX_TEXT_LENGTH", default=20_000)
# Largest CSV / JSON-lines file accepted by POST /monitors/{id}/documents/upload (JSON 413
# `request_too_large` from ApiRequestSizeLimitMiddleware, or `file_too_large`). Keep it at or
# below DATASET_MAX_UPLOAD_BYTES: DATA_UPLOAD_MAX_MEMORY_SIZE follows that one.
SENTIMENT_MAX_UPLOAD_BYTES = env.int("SENTIMENT_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
# Batches up to this size are scored inside the request; larger ones on the inference queue.
SENTIMENT_SYNC_SCORE_MAX = env.int("SENTIMENT_SYNC_SCORE_MAX", default=25)
# Documents per transaction when the inference worker scores a large batch or deferred ones.
SENTIMENT_SCORE_CHUNK = env.int("SENTIMENT_SCORE_CHUNK", default=100)
# Zero-shot topics (ml/classification/zero_shot.py explains both numbers).
SENTIMENT_ZERO_SHOT_TEMPERATURE = env.float("SENTIMENT_ZERO_SHOT_TEMPERATURE", default=0.05)
SENTIMENT_ZERO_SHOT_FLOOR = env.float("SENTIMENT_ZERO_SHOT_FLOOR", default=0.15)
# Trends answer at most this many buckets per request (about 83 days hourly, 5 years daily).
SENTIMENT_TRENDS_MAX_BUCKETS = env.int("SENTIMENT_TRENDS_MAX_BUCKETS", default=2000)
# When a new model version starts scoring a monitor, documents published in the last this
# many days are re-scored in the background (apps/sentiment/retrain.py; no usage recorded).
SENTIMENT_RESCORE_DAYS = env.int("SENTIMENT_RESCORE_DAYS", default=7)
# RSS / Atom feeds of a monitor (apps/sentiment/feeds.py): each active feed is fetched about
# this often; after failures the wait doubles per failure, up to a day.
FEED_POLL_INTERVAL_SECONDS = env.int("FEED_POLL_INTERVAL_SECONDS", default=900)
# One fetch, redirects included, must finish within this many seconds.
FEED_FETCH_TIMEOUT_SECONDS = env.int("FEED_FETCH_TIMEOUT_SECONDS", default=15)
# Larger feed documents are refused (busy news feeds are a few hundred KB).
FEED_MAX_BYTES = env.int("FEED_MAX_BYTES", default=5 * 1024 * 1024)
# Fetch feeds from private, loopback and link-local addresses (SSRF guard off). Unset:
# follows the webhooks' setting (WEBHOOK_ALLOW_PRIVATE_NETWORKS, itself following WEBHOOK_ALLOW_HTTP).
FEED_ALLOW_PRIVATE_NETWORKS = env.bool("FEED_ALLOW_PRIVATE_NETWORKS", default=None)

# --- Outbound webhooks -------------------------------------------------------------------

WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
# First retry after this many seconds, doubling each time (capped at an hour).
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=30)
# Endpoints must be https:// unless this is on (local development and tests).
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
# Deliver to private, loopback and link-local addresses (SSRF guard off). Unset: follows
# WEBHOOK_ALLOW_HTTP as finally set (so on in local and test, off in production).
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=None)

# --- Billing (Stripe) -------------------------------------------------------------------
# docs/billing.md. With no secret key, billing runs offline: plans and quotas apply, no
# call to Stripe is ever attempted, and the dashboard says payments are not configured.

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
# Signing secret of the webhook endpoint (whsec_...): https://docs.stripe.com/webhooks#verify-events
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Another Stripe-compatible API base (tests point it at a local server); empty: api.stripe.com.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# Billing Meter event names are this prefix plus the meter, e.g. tessera_api_predictions.
STRIPE_METER_EVENT_PREFIX = env.str("STRIPE_METER_EVENT_PREFIX", default="tessera_")
# How long a past_due organization keeps full use before it is limited to reading.
BILLING_GRACE_PERIOD_DAYS = env.int("BILLING_GRACE_PERIOD_DAYS", default=7)
# How often usage is sent to Stripe as meter events.
BILLING_METER_EXPORT_INTERVAL_SECONDS = env.int("BILLING_METER_EXPORT_INTERVAL_SECONDS", default=300)

# --- Logging ----------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {"()": "apps.core.logging.StructuredFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "structured"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
