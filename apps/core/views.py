"""Liveness endpoint for load balancers and monitoring, and the error page that turns a database outage into 503."""

import logging
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# Seconds to wait for the broker before reporting it down; a health check
# that hangs is worse than one that fails.
BROKER_TIMEOUT_SECONDS = 2


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("Health check failed: the database query raised an error")
        return "down"
    return "ok"


def _broker_state() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception:
        logger.exception("Health check failed: the broker connection timed out or was refused")
        return "down"
    return "ok"


@never_cache
@require_GET
def healthz(request):
    """Return the database and broker state: 200 when both respond, 503 otherwise."""
    database = _database_state()
    broker = _broker_state()
    healthy = database == "ok" and broker in {"ok", "eager"}
    return JsonResponse(
        {"status": "ok" if healthy else "down", "database": database, "broker": broker},
        status=200 if healthy else 503,
    )


# Seconds a client is asked to wait (Retry-After) before sending a request again while the database is unavailable.
DATABASE_RETRY_AFTER_SECONDS = 30
DATABASE_UNAVAILABLE_MESSAGE = (
    "The database is unavailable at the moment, so the request could not be completed; send it again in a minute."
)


def is_database_unavailable(error: BaseException | None) -> bool:
    """Return True for a refused or lost database connection, which a retry a little later may get past.

    Django raises OperationalError when it cannot connect or the server ends
    the connection, and InterfaceError when a connection is already closed.
    OperationalError also covers other transient failures the database
    reports, such as a deadlock or a cancelled statement, which a retry also suits.
    """
    return isinstance(error, OperationalError | InterfaceError)


def database_unavailable_body() -> dict[str, str]:
    """Return the partner API's error body for a database outage."""
    return {"detail": DATABASE_UNAVAILABLE_MESSAGE, "code": "database_unavailable"}


def database_unavailable_response(request) -> HttpResponse:
    """Return a 503 with the database message: JSON on the API, plain text elsewhere, and a Retry-After."""
    if request.path_info.startswith("/api/"):
        response = JsonResponse(database_unavailable_body(), status=503)
    else:
        response = HttpResponse(DATABASE_UNAVAILABLE_MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def server_error(request):
    """Return Django's 500 page, or a 503 when the database was unavailable (the project's handler500).

    Django calls this view while it handles the uncaught exception, so sys.exc_info() returns the error.
    """
    if is_database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response(request)
    return defaults.server_error(request)
