"""Settings of the Celery worker that the outbox worker test starts: the project's, plus the outbox's own."""

from config.settings import *  # noqa: F403 - the project's settings, extended below

ORDER_OUTBOX_SENDERS = {"cxml": "apps.punchout.outbound"}
ORDER_OUTBOX_RETRY_BASE_SECONDS = 1
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 120}
