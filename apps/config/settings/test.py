"""The test suite: real PostgreSQL and Redis (see tests/conftest.py for the roles)."""

from pathlib import Path

from .base import *  # noqa: F403
from .base import BASE_DIR, CELERY_BROKER_VISIBILITY_TIMEOUT, DATABASES, env

# The suite connects as DATABASE_URL's user only to create the roles and the test
# database and to run migrations; the tests themselves run as DATABASE_APP_ROLE.
DATABASES["default"] = env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/tessera")
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_tessera")}

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/9")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tessera-test",
    }
}
# Its own Redis database: the cache database is flushed between tests, and a flush would
# also drop kombu's queue bindings under a running worker.
CELERY_BROKER_URL = env.str("TEST_CELERY_BROKER_URL", default="redis://127.0.0.1:6379/10")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_TASK_EAGER_PROPAGATES = True

SECRET_KEY = "test-secret-key-not-for-production-0123456789abcdefghijklmnopqrstuvwxyz"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The Celery worker started by tests/test_celery_worker.py writes its mail to files.
EMAIL_BACKEND = env.str("TEST_EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
EMAIL_FILE_PATH = env.str("TEST_EMAIL_FILE_PATH", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ALLOWED_HOSTS = ["*"]
# Tests deliver webhooks to endpoints served on 127.0.0.1 over plain HTTP.
WEBHOOK_ALLOW_HTTP = True
ARTIFACT_ROOT = Path(env.str("ARTIFACT_ROOT", default=str(BASE_DIR / "var" / "test-artifacts")))
ARTIFACT_CACHE_DIR = Path(env.str("ARTIFACT_CACHE_DIR", default=str(BASE_DIR / "var" / "test-artifact-cache")))
# Tests use small, fast timings; the worker tests override them through the environment.
TRAINING_HEARTBEAT_SECONDS = env.int("TRAINING_HEARTBEAT_SECONDS", default=1)
TRAINING_STALE_AFTER_SECONDS = env.int("TRAINING_STALE_AFTER_SECONDS", default=8)
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=1)
