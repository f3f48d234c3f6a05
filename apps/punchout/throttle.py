"""Rate limiting of failed logins per buyer connection, counted in the database.

Each connection has one LoginFailureWindow row, and failures inside the
window count up. Once they reach the maximum, every login of the connection
(also a correct one) is rejected until the window ends. Guessing a secret
then costs an attacker the window's length per batch of guesses. The counter is a
database row, not a cache entry, so all web processes share it.

Settings, read at call time: PUNCHOUT_LOGIN_MAX_FAILURES (default 10) and
PUNCHOUT_LOGIN_WINDOW_SECONDS (default 300).
"""

import datetime as dt
import logging
import math

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from apps.punchout.errors import LoginRateLimited
from apps.punchout.models import BuyerConnection, LoginFailureWindow

logger = logging.getLogger(__name__)

DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW_SECONDS = 300


def _limits() -> tuple[int, dt.timedelta]:
    max_failures = int(getattr(settings, "PUNCHOUT_LOGIN_MAX_FAILURES", DEFAULT_MAX_FAILURES))
    window = dt.timedelta(seconds=int(getattr(settings, "PUNCHOUT_LOGIN_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS)))
    return max_failures, window


def failure_annotations() -> dict[str, Subquery]:
    """Annotations that load a connection's failure window with the connection, for check_login_allowed."""
    window = LoginFailureWindow.objects.filter(connection_id=OuterRef("pk"))
    return {
        "login_window_started_at": Subquery(window.values("window_started_at")[:1]),
        "login_window_failures": Subquery(window.values("failures")[:1]),
    }


def check_login_allowed(*, connection: BuyerConnection) -> None:
    """Raise LoginRateLimited when the connection had too many failed logins in the current window.

    Uses the failure_annotations() values when the connection was loaded with them, else one query.
    """
    max_failures, window = _limits()
    if hasattr(connection, "login_window_failures"):
        row = (connection.login_window_started_at, connection.login_window_failures)
        if row[0] is None:
            return
    else:
        row = (
            LoginFailureWindow.objects.filter(connection=connection)
            .values_list("window_started_at", "failures")
            .first()
        )
        if row is None:
            return
    started_at, failures = row
    ends_at = started_at + window
    now = timezone.now()
    if failures >= max_failures and now < ends_at:
        seconds = math.ceil((ends_at - now).total_seconds())
        logger.warning(
            "PunchOut login rejected: too many failed attempts",
            extra={"connection_id": connection.pk, "failures": failures},
        )
        raise LoginRateLimited(
            f"Too many failed login attempts for this buyer connection; try again in {seconds} seconds."
        )


def record_login_failure(*, connection: BuyerConnection) -> int:
    """Count a failed login of the connection and return the failures in the current window."""
    _, window = _limits()
    now = timezone.now()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                row, created = LoginFailureWindow.objects.select_for_update().get_or_create(
                    connection=connection, defaults={"window_started_at": now, "failures": 1}
                )
                if created:
                    return 1
                if now >= row.window_started_at + window:
                    row.window_started_at = now
                    row.failures = 1
                else:
                    row.failures += 1
                row.save(update_fields=["window_started_at", "failures"])
                return row.failures
        except IntegrityError:
            # Another request created the row first; the second pass locks and updates it.
            continue
    return 0


def clear_login_failures(*, connection: BuyerConnection) -> None:
    """Forget the connection's failed logins (after a successful one)."""
    LoginFailureWindow.objects.filter(connection=connection, failures__gt=0).delete()
