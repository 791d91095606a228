"""`make demo`: migrate, seed, and run the web server, a Celery worker and beat together.

The embedded default has no Redis, so the worker and beat use kombu's filesystem broker
(a folder under .demo/). Ctrl-C stops everything this command started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run the whole product locally: web on 127.0.0.1:8000, a Celery worker and beat."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", default="8000")

    def handle(self, *args, **options) -> None:
        # Ctrl-C and `kill` both end in _stop(): SIGINT may arrive ignored when launched from
        # a script, and SIGTERM would otherwise kill this process and orphan the children.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        broker = settings.CELERY_BROKER_URL
        if broker == "filesystem://":
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            (folder / "processed").mkdir(parents=True, exist_ok=True)
            where = f"a Celery worker and beat on the filesystem broker in {folder} (no Redis configured)"
        else:
            where = f"a Celery worker and beat on {broker.split('@')[-1]}"
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated: " + str(settings.DATABASES["default"]["NAME"]))
        call_command("seed_demo")
        self.stdout.write(self.style.NOTICE(f"Background tasks: {where}."))
        celery = [sys.executable, "-m", "celery", "-A", "apps.config"]
        queues = "default,inference,metering,billing,webhooks,training.cpu"
        children = [
            # Fixed argument lists built here; nothing comes from input.
            subprocess.Popen([*celery, "worker", "-Q", queues, "--pool=solo", "--loglevel=INFO", "-n", "demo@%h"]),  # noqa: S603
            subprocess.Popen([*celery, "beat", "--loglevel=INFO", "--schedule", str(Path(".demo") / "beat")]),  # noqa: S603
        ]
        self.stdout.write(
            self.style.SUCCESS(f"Dashboard: http://127.0.0.1:{options['port']}/  (Ctrl-C stops everything)")
        )
        try:
            call_command("runserver", f"127.0.0.1:{options['port']}", use_reloader=False)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop(children)

    def _stop(self, children: list[subprocess.Popen]) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
        self.stdout.write("Stopped the web server, the worker and beat.")
        os._exit(0)  # runserver leaves non-daemon threads behind on Ctrl-C
