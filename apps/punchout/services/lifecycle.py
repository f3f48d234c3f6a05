"""The lifetime of a PunchOut session: its StartPage token, its idle deadline and its expiry."""

import datetime as dt
import logging
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.punchout.errors import (
    SessionGone,
    SessionNotFound,
    StartPageExpired,
)
from apps.punchout.models import PunchOutSession
from apps.punchout.selectors import hash_session_token

logger = logging.getLogger(__name__)

# Defaults of the settings read at call time: minutes a StartPage URL stays
# usable, and minutes of inactivity after which a session expires.
DEFAULT_START_PAGE_MINUTES = 5
DEFAULT_SESSION_IDLE_MINUTES = 120

# The idle deadline is written again only when it moved by more than this,
# so that a user clicking through pages does not write on every request.
_IDLE_WRITE_GRANULARITY = dt.timedelta(minutes=1)


def start_page_minutes() -> int:
    return int(getattr(settings, "PUNCHOUT_START_PAGE_MINUTES", DEFAULT_START_PAGE_MINUTES))


def session_idle_timeout() -> dt.timedelta:
    return dt.timedelta(minutes=int(getattr(settings, "PUNCHOUT_SESSION_IDLE_MINUTES", DEFAULT_SESSION_IDLE_MINUTES)))


def punchout_session_start(*, start_token: str) -> tuple[PunchOutSession, str]:
    """Use a StartPage token: return its session and a fresh session token, and make the StartPage URL useless.

    The swap is one conditional UPDATE, so of two concurrent requests with
    the same StartPage token only one gets a session. Raises SessionNotFound
    for an unknown or used token and StartPageExpired after the minutes.
    """
    start_hash = hash_session_token(start_token)
    session = PunchOutSession.objects.filter(start_token_hash=start_hash).only("pk", "start_expires_at").first()
    if session is None:
        raise SessionNotFound(
            "This PunchOut link is unknown or was used already; start a new session from your procurement system."
        )
    now = timezone.now()
    if session.start_expires_at is None or now >= session.start_expires_at:
        PunchOutSession.objects.filter(pk=session.pk, start_token_hash=start_hash).update(start_token_hash=None)
        raise StartPageExpired(
            f"This PunchOut link was valid for {start_page_minutes()} minutes and has expired; "
            "start a new session from your procurement system."
        )
    token = secrets.token_urlsafe(32)
    # PunchOutSession keeps no history rows, so a queryset update skips nothing.
    swapped = PunchOutSession.objects.filter(pk=session.pk, start_token_hash=start_hash).update(
        start_token_hash=None, token_hash=hash_session_token(token), expires_at=now + session_idle_timeout()
    )
    if swapped != 1:
        raise SessionNotFound("This PunchOut link was used already; start a new session from your procurement system.")
    logger.info("PunchOut start page opened", extra={"session_id": session.pk})
    return PunchOutSession.objects.select_related("connection__customer", "contract").get(pk=session.pk), token


def ensure_session_usable(*, session: PunchOutSession, touch: bool = True) -> None:
    """Raise SessionGone when the session expired or its connection or customer is no longer active.

    An open or returned session found past its idle deadline is marked
    expired. With ``touch`` the deadline moves to PUNCHOUT_SESSION_IDLE_MINUTES
    from now (written at most once a minute).
    """
    now = timezone.now()
    if session.state != PunchOutSession.State.EXPIRED and session.is_expired(now):
        punchout_session_expire(session=session)
    if session.state == PunchOutSession.State.EXPIRED:
        raise SessionGone("This PunchOut session has expired; start a new one from your procurement system.")
    if not session.connection.is_active or not session.connection.customer.is_active:
        raise SessionGone("This PunchOut session is closed; start a new one from your procurement system.")
    if touch:
        deadline = now + session_idle_timeout()
        if deadline - session.expires_at > _IDLE_WRITE_GRANULARITY:
            PunchOutSession.objects.filter(pk=session.pk).update(expires_at=deadline)
            session.expires_at = deadline


def punchout_sessions_expire_idle(*, now: dt.datetime | None = None) -> int:
    """Mark every open or returned session past its idle deadline expired, and return how many.

    One UPDATE for all of them: PunchOutSession keeps no history rows, and
    expiring has no side effect beyond the state. Unused StartPage tokens of
    those sessions are cleared too.
    """
    now = now or timezone.now()
    count = PunchOutSession.objects.filter(
        state__in=[PunchOutSession.State.OPEN, PunchOutSession.State.RETURNED], expires_at__lte=now
    ).update(state=PunchOutSession.State.EXPIRED, start_token_hash=None, updated_at=now)
    if count:
        logger.info("PunchOut sessions expired", extra={"count": count})
    return count


def punchout_session_expire(*, session: PunchOutSession) -> None:
    """Mark an open or returned session expired."""
    with transaction.atomic():
        locked = PunchOutSession.objects.select_for_update().get(pk=session.pk)
        if locked.state != PunchOutSession.State.EXPIRED:
            locked.expire()
            locked.save(update_fields=["state", "updated_at"])
    session.refresh_from_db(fields=["state", "updated_at"])
    logger.info("PunchOut session expired", extra={"session_id": session.pk})
