"""Project middleware: staff session expiry, and the rejection of NUL characters in URLs and form fields.

Staff sessions end after STAFF_SESSION_IDLE_MINUTES without a request, and SESSION_COOKIE_AGE after login.

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
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.dispatch import receiver
from django.http import HttpResponseBadRequest, JsonResponse

from apps.core.nul import NUL, nul_in_pairs, nul_message

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


class RejectNulCharacterMiddleware:
    """Reject with 400 a request whose URL path, query string or form fields contain a NUL character.

    PostgreSQL text cannot hold NUL, so such a value raises DataError in the
    first query that compares or stores it, which would be a 500. No real
    client sends one. The cXML endpoint's body is left alone: it reads its
    own body and returns every problem as a cXML document, and XML cannot
    contain NUL anyway. The partner API's parser checks JSON bodies.
    """

    # Django reads the whole body of a URL-encoded form first, so the view can parse it again after a
    # failed parse here. A multipart body is streamed and cannot be read twice. So process_view reads it
    # only for views whose CSRF check reads it anyway. Views exempt from that check (the OCI entry)
    # check their own multipart fields.
    FORM_TYPE = "application/x-www-form-urlencoded"
    MULTIPART_TYPE = "multipart/form-data"

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if NUL in request.path_info:
            return self._reject(request, "The URL path", "path")
        name = self._nul_parameter(request)
        if name is not None:
            return self._reject(request, f"The request parameter {name!r}", name)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method != "POST" or request.content_type != self.MULTIPART_TYPE:
            return None
        if getattr(view_func, "csrf_exempt", False):
            return None
        # A malformed body raises MultiPartParserError here, which Django turns into a 400 response.
        pairs = [
            *request.POST.lists(),
            *((name, [upload.name or "" for upload in uploads]) for name, uploads in request.FILES.lists()),
        ]
        name = nul_in_pairs(pairs)
        if name is not None:
            return self._reject(request, f"The form field {name!r}", name)
        return None

    def _reject(self, request, subject: str, name: str):
        logger.info("Request rejected: it contains a NUL character", extra={"parameter": name})
        message = nul_message(subject)
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": message, "code": "invalid_character"}, status=400)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")

    def _nul_parameter(self, request) -> str | None:
        sources = [request.GET]
        if request.content_type == self.FORM_TYPE and not request.path_info.startswith("/punchout/cxml"):
            try:
                sources.append(request.POST)
            except (RequestDataTooBig, TooManyFieldsSent):
                # The view reports these with its own message: forget the failed parse so that it parses again.
                for attribute in ("_post", "_files"):
                    request.__dict__.pop(attribute, None)
        for parameters in sources:
            name = nul_in_pairs(parameters.lists())
            if name is not None:
                return name
        return None
