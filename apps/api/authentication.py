"""Authentication of partner requests by ``Authorization: Bearer <api key>``, and the scope permission."""

import logging

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from apps.api import keys
from apps.api.models import ApiKey, Partner

logger = logging.getLogger(__name__)


class PartnerClient:
    """The caller of an authenticated API request, as ``request.auth``: a partner acting through one key.

    ``request.user`` stays anonymous, because a partner is not a staff user:
    history rows of changes made through the API name no user.
    """

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.partner: Partner = api_key.partner

    def __str__(self) -> str:
        return f"partner {self.partner.name} (key {self.api_key.prefix})"

    def has_scope(self, scope: str) -> bool:
        return scope in self.api_key.scopes


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Accept ``Authorization: Bearer <key>`` for a key that is neither revoked nor expired.

    A request without the header is anonymous (and then refused by the
    permission); a header with a wrong key fails at once with 401.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be 'Bearer <api key>' with no spaces in the key.", code="invalid_api_key"
            )
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(
                "The API key contains characters other than ASCII.", code="invalid_api_key"
            ) from None

        api_key = keys.find_key(raw_key)
        if api_key is None:
            logger.info("API request with an unknown key", extra={"key_prefix": raw_key[: keys.PREFIX_LENGTH]})
            raise exceptions.AuthenticationFailed("The API key is invalid.", code="invalid_api_key")
        problem = keys.key_problem(api_key)
        if problem is not None:
            logger.info("API request with an unusable key", extra={"api_key_id": api_key.pk, "problem": problem})
            raise exceptions.AuthenticationFailed(problem, code="api_key_not_usable")
        keys.touch_last_used(api_key)
        return AnonymousUser(), PartnerClient(api_key)

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class HasScope(permissions.BasePermission):
    """Allow a partner's request only when its key has the scope the view names for the method.

    Views set ``required_scopes``, a dict of HTTP method to a scope or a tuple
    of alternative scopes. A method without an entry is rejected, so a view
    that names no scope for a method is closed to it.
    """

    message = "This API key lacks the scope for this request."

    def has_permission(self, request, view) -> bool:
        client = request.auth
        if not isinstance(client, PartnerClient):
            raise exceptions.NotAuthenticated(
                "Authentication is required: send 'Authorization: Bearer <api key>'.", code="not_authenticated"
            )
        scope = (getattr(view, "required_scopes", None) or {}).get(request.method)
        if request.method in ("HEAD", "OPTIONS") and scope is None:
            scope = (getattr(view, "required_scopes", None) or {}).get("GET")
        if scope is None:
            return False
        # A tuple names alternatives: any one of them is enough.
        alternatives = (scope,) if isinstance(scope, str) else tuple(scope)
        if not any(client.has_scope(item) for item in alternatives):
            needed = " or ".join(alternatives)
            self.message = f"This API key lacks the scope {needed} for {request.method} {request.path}."
            return False
        return True


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describe the bearer API key in the OpenAPI document."""

    target_class = "apps.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A partner API key, sent as 'Authorization: Bearer <api key>'.",
        }
