"""Expected errors of the PunchOut app, each with a stable ``code``, a cXML status code and an HTTP status.

``cxml_status`` is the Status code the cXML endpoint sends for the error,
because cXML carries the outcome in the document with HTTP 200.
``http_status`` is the status of a shop page that shows the error.
"""

from apps.core.errors import DomainError

_AUTHENTICATION_MESSAGE = "The Sender credential, shared secret, From or To credential is invalid."


class PunchOutError(DomainError):
    """Base of the PunchOut app's errors."""

    code = "punchout_error"
    cxml_status = 400
    http_status = 400


class AuthenticationFailed(PunchOutError):
    """The sender's credentials match no active buyer connection. The message does not name the failed part."""

    code = "unauthorized"
    cxml_status = 401
    http_status = 401

    def __init__(self, message: str = _AUTHENTICATION_MESSAGE) -> None:
        super().__init__(message)


class OperationNotSupported(PunchOutError):
    """A PunchOutSetupRequest operation this system cannot handle yet."""

    code = "operation_not_supported"
    cxml_status = 406
    http_status = 406


class ReturnURLNotAllowed(PunchOutError):
    """The BrowserFormPost URL is missing, not http(s), or its host is not allowed for the connection."""

    code = "return_url_not_allowed"


class NoContractInForce(PunchOutError):
    """The connection's customer has no contract in force, so there is no catalog to show."""

    code = "no_contract_in_force"
    cxml_status = 403
    http_status = 403


class SessionNotFound(PunchOutError):
    """No session has this token."""

    code = "session_not_found"
    http_status = 404


class SessionGone(PunchOutError):
    """The session has expired, or its connection or contract no longer applies."""

    code = "session_gone"
    http_status = 410


class InvalidQuantity(PunchOutError):
    """A cart quantity that is not a positive decimal number within the limits."""

    code = "invalid_quantity"


class ProductNotAvailable(PunchOutError):
    """A SKU that is unknown, inactive or outside the session's assortment."""

    code = "product_not_available"


class LineNotPriced(PunchOutError):
    """A cart line the pricing engine cannot price now, so the cart cannot be added to or returned."""

    code = "line_not_priced"
    http_status = 409


class LoginRateLimited(AuthenticationFailed):
    """Too many failed logins for one connection in the current window; the message says how long to wait."""

    code = "too_many_failed_logins"
    http_status = 429


class OCILoginFailed(PunchOutError):
    """An OCI USERNAME and PASSWORD that match no active OCI connection."""

    code = "unauthorized"
    cxml_status = 401
    http_status = 401

    def __init__(self, message: str = "The OCI USERNAME or PASSWORD is invalid.") -> None:
        super().__init__(message)


class SessionReadOnly(PunchOutError):
    """An inspect or OCI detail session, whose cart cannot be changed or returned."""

    code = "session_read_only"
    http_status = 403


class CartAlreadyReturned(PunchOutError):
    """The session's cart was returned already; each session returns its cart once."""

    code = "cart_already_returned"
    http_status = 409


class StartPageExpired(SessionGone):
    """A StartPage URL used after its minutes passed."""

    code = "start_page_expired"


class UnitNotMapped(PunchOutError):
    """A cart line's unit of measure has no code the buyer's system takes, so the cart is not sent."""

    code = "unit_not_mapped"
    http_status = 409


class OCIValueTooLong(PunchOutError):
    """An identifier longer than its OCI field, which cannot be shortened without breaking it."""

    code = "oci_value_too_long"
    http_status = 409


class QuoteNotLoadable(PunchOutError):
    """A quote that cannot go into this cart: not accepted, another customer's, expired, converted or loaded."""

    code = "quote_not_loadable"
    http_status = 409


class QuoteLineLocked(PunchOutError):
    """A quantity change of a cart line that came from a quote, whose quantity and price were agreed."""

    code = "quote_line_locked"
    http_status = 409
