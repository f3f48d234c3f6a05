"""The base of every partner API view: key authentication, scopes, limits, JSON in and out, and ETags."""

import datetime as dt
import hashlib

from django.utils.cache import get_conditional_response
from django.utils.dateparse import parse_datetime
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from apps.api.authentication import ApiKeyAuthentication, HasScope, PartnerClient
from apps.api.errors import ApiError
from apps.api.parsers import DecimalJSONParser
from apps.api.throttling import ClientAddressRateThrottle, PartnerRateThrottle
from apps.integrations.services import record_api_request


class InvalidFilter(ApiError):
    code = "invalid_filter"


class PartnerView(APIView):
    """A view that a partner calls with its key; subclasses set ``required_scopes`` per HTTP method."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [PartnerRateThrottle, ClientAddressRateThrottle]
    parser_classes = [DecimalJSONParser]
    renderer_classes = [JSONRenderer]
    required_scopes: dict[str, str] = {}

    @property
    def client(self) -> PartnerClient:
        return self.request.auth

    def initial(self, request, *args, **kwargs):
        # DRF checks permissions before limits. Here limits come first, so that requests without a
        # valid key are limited per client address too, instead of getting 401 at full speed.
        self.format_kwarg = self.get_format_suffix(**kwargs)
        negotiated = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = negotiated
        version, scheme = self.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        self.perform_authentication(request)
        self.check_throttles(request)
        self.check_permissions(request)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Pushes and orders are documents; reads are not, and would flood the integration log.
        if request.method not in SAFE_METHODS:
            match = request.resolver_match
            record_api_request(
                request=request,
                response=response,
                partner=getattr(request.auth, "partner", None),
                document_type=f"{request.method} {match.url_name if match else request.path}"[:64],
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
        return response

    def perform_authentication(self, request):
        try:
            request.user  # noqa: B018 - reading it runs the authentication
        except exceptions.AuthenticationFailed:
            # A wrong key counts against the client address, so that keys cannot be guessed at full speed.
            throttle = ClientAddressRateThrottle()
            if not throttle.allow_address(request):
                self.throttled(request, throttle.wait())
            raise


class ETagMixin:
    """Add an ETag of the body to GET responses, and return 304 Not Modified when If-None-Match matches it."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method not in ("GET", "HEAD") or response.status_code != 200:
            return response
        response.render()
        etag = f'"{hashlib.sha256(response.content).hexdigest()[:32]}"'
        response["ETag"] = etag
        conditional = get_conditional_response(request, etag=etag, response=response)
        if conditional is not response:
            conditional["ETag"] = etag
            return conditional
        return response


def validated(serializer_class, data) -> dict:
    """Return the request body checked by the input serializer; invalid input raises a 400 naming each field."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def parse_filter_datetime(text: str | None, name: str):
    """Read a query parameter as an aware ISO 8601 date and time; None when it is empty."""
    if not text:
        return None
    try:
        value = parse_datetime(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise InvalidFilter(
            f"{name} {text!r} is not an ISO 8601 date and time with a UTC offset, such as 2026-12-01T00:00:00Z."
        )
    # In UTC, because PostgreSQL rejects offsets beyond 15:59 that Python accepts, such as +19:25.
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidFilter(
            f"{name} {text!r} lies outside the dates that can be stored; use a date between the years 1 and 9999."
        ) from None


def parse_filter_boolean(text: str | None, name: str) -> bool | None:
    """Read a query parameter as true or false; None when it is absent or empty."""
    if text is None or text == "":
        return None
    value = text.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InvalidFilter(f"{name} {text!r} is not a boolean; use true or false.")
