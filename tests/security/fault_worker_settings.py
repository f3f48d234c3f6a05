"""Settings of the Celery workers that the fault tests start: the project's, with the limits each fault needs."""

import os

from config.settings import *  # noqa: F403 - the project's settings, extended below

ORDER_OUTBOX_RETRY_BASE_SECONDS = 1
ORDER_OUTBOX_RETRY_MAX_SECONDS = 2
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The visibility-timeout fault shortens it so that Redis delivers a running task a second time.
# kombu sweeps for messages past the timeout every 10 x 10 seconds by default; every second here.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("FAULT_VISIBILITY_TIMEOUT", "120")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
# The hanging-buyer fault needs a send to give up soon.
CXML_OUTBOUND_TIMEOUT_SECONDS = int(os.environ.get("FAULT_OUTBOUND_TIMEOUT", "30"))
# The killed-import fault needs a lost worker's job to fall silent soon.
CATALOG_IMPORT_HEARTBEAT_SECONDS = 1
