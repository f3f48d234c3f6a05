"""Settings of the Celery worker that the webhook worker test starts: the project's, with short retries."""

from config.settings import *  # noqa: F403 - the project's settings, changed below

API_WEBHOOK_RETRY_BASE_SECONDS = 1
API_WEBHOOK_ALLOW_PRIVATE_TARGETS = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 120}
