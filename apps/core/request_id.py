"""The request id middleware: every request gets an id for its log lines, returned in ``X-Request-ID``."""

import logging

from django.http import HttpRequest, HttpResponse

from apps.core import log_context

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Take the request id from ``X-Request-ID`` when it is safe, else make one; bind it for the request's logs.

    A client's id longer than 64 characters or with characters other than
    letters, digits and ``._:-`` is replaced by a new id (and the
    replacement logged), so that no client can write arbitrary text into
    the logs. The id goes back in the response's ``X-Request-ID`` header and
    is in ``request.request_id`` for views.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get(REQUEST_ID_HEADER)
        request_id = log_context.clean_request_id(offered) or log_context.new_request_id()
        request.request_id = request_id
        token = log_context.start(request_id)
        try:
            if offered and offered != request_id:
                logger.info("X-Request-ID was invalid and replaced", extra={"offered_length": len(offered)})
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            return response
        finally:
            log_context.end(token)
