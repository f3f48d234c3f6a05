"""Without a broker, tasks run in the calling process and no code builds a connection to a broker host."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs a task the way the web process does after a commit, with CELERY_BROKER_URL unset. Celery's eager
# apply_async still acquires a producer from its pool, which is where a default AMQP connection would appear.
EAGER_DELAY = """
import django
django.setup()
from django.conf import settings
from config.celery import app
assert settings.CELERY_TASK_ALWAYS_EAGER, "CELERY_BROKER_URL unset should run tasks eagerly"
print("result", app.tasks["celery.accumulate"].delay(4).get())
print("transport", app.connection_for_write().transport_cls)
"""


def test_eager_task_opens_no_broker_connection():
    env = {key: value for key, value in os.environ.items() if key not in ("CELERY_BROKER_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", LOG_FORMAT="plain", LOG_LEVEL="WARNING")

    run = subprocess.run(  # noqa: S603 - this interpreter on a fixed script of the test
        [sys.executable, "-c", EAGER_DELAY], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert run.returncode == 0, run.stderr
    assert "result (4,)" in run.stdout
    assert "transport memory" in run.stdout
    assert "No hostname was supplied" not in run.stderr
