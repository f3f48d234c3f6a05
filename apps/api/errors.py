"""Expected errors of the partner API, and the one handler that turns every error into ``{"detail", "code"}``.

Field errors of a request body come as ``fields``: each field's path (such
as ``lines.0.quantity``) with its messages. Errors of the other apps'
services (``DomainError``) keep their own code, with the HTTP status they
carry or 400. An unexpected error is logged with its traceback and returned
with a generic 500, so no internal detail leaks to a partner.
"""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from apps.core.errors import DomainError
from apps.core.views import DATABASE_RETRY_AFTER_SECONDS, database_unavailable_body, is_database_unavailable

logger = logging.getLogger(__name__)


class ApiError(DomainError):
    """Base of the partner API's own expected errors; ``status`` is the HTTP status."""

    code = "api_error"
    status = 400


class NotFound(ApiError):
    """An object that does not exist or belongs to a customer the key does not serve (the two look the same)."""

    code = "not_found"
    status = 404


class CustomerRequired(ApiError):
    """The key serves several customers and the request did not say which one it is about."""

    code = "customer_required"
    status = 400


class InvalidWebhookTarget(ApiError):
    """A webhook URL the system will not send to: not http(s), or on a private network in production."""

    code = "invalid_webhook_url"
    status = 400


class TooManyRows(ApiError):
    code = "too_many_rows"
    status = 413


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Return any error raised in an API view as JSON with ``detail`` and ``code``."""
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code}
        reasons = getattr(exc, "reasons", None)
        if reasons:
            body["reasons"] = list(reasons)
        return Response(body, status=getattr(exc, "status", status.HTTP_400_BAD_REQUEST))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None and is_database_unavailable(exc):
        logger.warning("API request failed: the database is unavailable", extra={"error": str(exc)[:200]})
        return Response(
            database_unavailable_body(),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if response is None:
        view = context.get("view")
        logger.exception("API request failed", extra={"view": type(view).__name__ if view else ""})
        return Response(
            {"detail": "The server failed to handle the request; try again later.", "code": "server_error"},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "detail": _validation_summary(exc.detail),
            "code": "invalid",
            "fields": _field_errors(exc.detail),
        }
        return response
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    detail = response.data.get("detail") if isinstance(response.data, dict) else None
    response.data = {
        "detail": str(detail) if detail is not None else str(exc),
        "code": codes if isinstance(codes, str) else getattr(exc, "default_code", "error"),
    }
    return response


def _field_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """Flatten DRF's nested error detail into {"lines.0.quantity": ["..."]}; errors of the whole body go to "body"."""
    errors: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "body" if key == "non_field_errors" and not prefix else str(key)
            path = f"{prefix}.{name}" if prefix and key != "non_field_errors" else (prefix or name)
            for sub_path, messages in _field_errors(value, path).items():
                errors.setdefault(sub_path, []).extend(messages)
    elif isinstance(detail, list) and detail and all(isinstance(item, str) for item in detail):
        errors[prefix or "body"] = [str(item) for item in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                path = f"{prefix}.{index}" if prefix else str(index)
                for sub_path, messages in _field_errors(value, path).items():
                    errors.setdefault(sub_path, []).extend(messages)
    elif detail:
        errors[prefix or "body"] = [str(detail)]
    return errors


def _validation_summary(detail) -> str:
    fields = _field_errors(detail)
    if not fields:
        return "The request is invalid."
    path, messages = next(iter(fields.items()))
    more = f" ({len(fields) - 1} more field(s) in 'fields')" if len(fields) > 1 else ""
    if path == "body":
        return f"{messages[0]}{more}"
    return f"{path}: {messages[0]}{more}"
