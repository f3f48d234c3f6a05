"""Staff session expiry: after STAFF_SESSION_IDLE_MINUTES without a request, and SESSION_COOKIE_AGE after login.

Django's own expiry counts from the last time the session was saved, and the
messages framework saves it now and then, so a busy session would never reach
its absolute age. This middleware keeps the login time and the last activity
in the session itself and logs the user out when either limit is passed.
"""

import logging
import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

logger = logging.getLogger(__name__)

LOGIN_AT_KEY = "_staff_login_at"
ACTIVE_AT_KEY = "_staff_active_at"
# Seconds between writes of the last activity, so that most requests do not
# save the session; the idle limit is therefore exact to within this much.
ACTIVITY_WRITE_INTERVAL_SECONDS = 60


@receiver(user_logged_in, dispatch_uid="core.record_staff_login_time")
def record_login_time(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    now = int(time.time())
    request.session[LOGIN_AT_KEY] = now
    request.session[ACTIVE_AT_KEY] = now


class StaffSessionExpiryMiddleware:
    """Log out an authenticated user whose session is idle too long or older than its maximum age."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            self._expire_or_touch(request)
        return self.get_response(request)

    def _expire_or_touch(self, request) -> None:
        now = int(time.time())
        session = request.session
        login_at = session.get(LOGIN_AT_KEY)
        active_at = session.get(ACTIVE_AT_KEY)
        if login_at is None or active_at is None:
            # A session from before this middleware, or one made by force_login
            # in tests: start counting now.
            session[LOGIN_AT_KEY] = session.get(LOGIN_AT_KEY, now)
            session[ACTIVE_AT_KEY] = now
            return
        idle_seconds = settings.STAFF_SESSION_IDLE_MINUTES * 60
        if now - active_at > idle_seconds or now - login_at > settings.SESSION_COOKIE_AGE:
            reason = "idle" if now - active_at > idle_seconds else "max_age"
            logger.info("Staff session expired", extra={"user_id": request.user.pk, "reason": reason})
            logout(request)
            return
        if now - active_at >= ACTIVITY_WRITE_INTERVAL_SECONDS:
            session[ACTIVE_AT_KEY] = now
