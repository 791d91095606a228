"""Start a real Celery worker process against the test database and broker (tests only)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.db import connections

from apps.config.celery import app

ROOT = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """A `celery worker` subprocess; its output is collected in `log` by a reader thread."""

    def __init__(self, *, queues: str, name: str, env: dict[str, str] | None = None, pool: str = "solo") -> None:
        db = connections["default"].settings_dict
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "apps.config.settings.test",
            "DATABASE_URL": "postgres://{}:{}@{}:{}/{}".format(
                db["USER"], db["PASSWORD"], db["HOST"] or "127.0.0.1", db["PORT"] or 5432, db["NAME"]
            ),
            **(env or {}),
        }
        self.queues, self.name, self.pool = queues, name, pool
        self.log: list[str] = []
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> WorkerProcess:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "apps.config",
                "worker",
                "-Q",
                self.queues,
                f"--pool={self.pool}",
                "--concurrency=1",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
                "-n",
                f"{self.name}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()

        def read() -> None:
            for line in self.process.stdout:
                self.log.append(line)
                if " ready." in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not ready.is_set():
            if self.process.poll() is not None:
                raise RuntimeError("The Celery worker exited:\n" + self.output)
            time.sleep(0.1)
        if not ready.is_set():
            self.kill()
            raise RuntimeError(f"The Celery worker was not ready in {timeout} s:\n" + self.output)
        return self

    @property
    def output(self) -> str:
        return "".join(self.log)

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handler runs, like a crashed machine."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def purge_broker() -> None:
    """Drop messages left by earlier runs: they name rows that no longer exist."""
    app.control.purge()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
