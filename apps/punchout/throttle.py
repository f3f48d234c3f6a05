"""Rate limiting of failed logins per buyer connection and client address, counted in the database.

Each (connection, client address) pair has one LoginFailureWindow row, and
failures inside the window count up. Once they reach the maximum, every
login of the connection from that address (also a correct one) is rejected
until the window ends. Logins from other addresses are not affected, so an
attacker who knows a connection's public Sender identity or USERNAME cannot
lock out the buyer's own systems. An IPv6 client counts by its /64 network,
because one host usually holds a whole /64 and could otherwise rotate
addresses to reset its count.

There is no ceiling per connection across all addresses: any such ceiling
would let an attacker with enough addresses lock out the buyer again. The
shared secrets and passwords are long random values, which makes guessing
from many addresses impractical.

Settings, read at call time: PUNCHOUT_LOGIN_MAX_FAILURES (default 10),
PUNCHOUT_LOGIN_WINDOW_SECONDS (default 300) and PUNCHOUT_TRUSTED_PROXY_COUNT
(default 0, see client_address).
"""

import datetime as dt
import logging
import math

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.core import clients
from apps.punchout.errors import LoginRateLimited
from apps.punchout.models import BuyerConnection, LoginFailureWindow

logger = logging.getLogger(__name__)

DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW_SECONDS = 300


def _limits() -> tuple[int, dt.timedelta]:
    max_failures = int(getattr(settings, "PUNCHOUT_LOGIN_MAX_FAILURES", DEFAULT_MAX_FAILURES))
    window = dt.timedelta(seconds=int(getattr(settings, "PUNCHOUT_LOGIN_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS)))
    return max_failures, window


def client_address(request: HttpRequest) -> str:
    """Return the key under which the request's client address counts failed logins, or "" when it is unknown.

    PUNCHOUT_TRUSTED_PROXY_COUNT sets how many reverse proxies append to
    X-Forwarded-For (see ``apps.core.clients.client_address``).
    """
    proxy_count = int(getattr(settings, "PUNCHOUT_TRUSTED_PROXY_COUNT", 0))
    return clients.client_address(request, trusted_proxy_count=proxy_count)


def check_login_allowed(*, connection: BuyerConnection, address: str) -> None:
    """Raise LoginRateLimited when the connection had too many failed logins from ``address`` in the window.

    ``address`` is a client_address() key. Uses the connection's
    ``login_window_started_at`` and ``login_window_failures`` attributes
    when the selector loaded them for this address, else runs one query.
    """
    max_failures, window = _limits()
    if hasattr(connection, "login_window_failures"):
        row = (connection.login_window_started_at, connection.login_window_failures)
        if row[0] is None:
            return
    else:
        row = (
            LoginFailureWindow.objects.filter(connection=connection, client_address=address)
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
            "PunchOut login rejected: too many failed attempts from this client address",
            extra={"connection_id": connection.pk, "client_address": address, "failures": failures},
        )
        raise LoginRateLimited(
            "Too many failed login attempts for this buyer connection from your address; "
            f"try again in {seconds} seconds."
        )


def record_login_failure(*, connection: BuyerConnection, address: str) -> int:
    """Count a failed login of the connection from ``address`` and return the failures in the current window."""
    _, window = _limits()
    now = timezone.now()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                row, created = LoginFailureWindow.objects.select_for_update().get_or_create(
                    connection=connection, client_address=address, defaults={"window_started_at": now, "failures": 1}
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


def clear_login_failures(*, connection: BuyerConnection, address: str) -> None:
    """Forget the connection's failed logins from ``address`` (after a successful one)."""
    LoginFailureWindow.objects.filter(connection=connection, client_address=address, failures__gt=0).delete()
