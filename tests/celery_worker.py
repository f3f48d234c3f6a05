"""A real ``celery worker`` process on the pytest PostgreSQL test database, for tests of the task queue."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection as db_connection

REDIS_URL = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/12"
CELERY = Path(sys.executable).parent / "celery"


@contextmanager
def running_worker(*, settings_module: str, log_path: Path, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """Start a worker with one prefork child on an emptied Redis database, and stop it on leaving."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    database = db_connection.settings_dict
    worker_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        **(env or {}),
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - a fixed command line of the project's own celery
            [
                str(CELERY),
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "--prefetch-multiplier=1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ],
            cwd=settings.BASE_DIR,
            env=worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
