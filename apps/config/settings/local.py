"""The embedded default: `make demo` on a laptop (SQLite, no Redis, no Stripe)."""

from .base import *  # noqa: F403
from .base import DATABASES, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share one SQLite file: wait for locks instead of
    # failing, and take the write lock up front (Django 5.1+).
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
# Local endpoints (http://127.0.0.1:...) are fine on a laptop.
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=True)
