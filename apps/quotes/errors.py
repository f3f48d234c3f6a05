"""Expected errors of the quotes app, each with a stable ``code``.

``status`` is the HTTP-style status an entry point reports for the error.
It is 400 for input that cannot be used and 403 for a missing permission or
a forbidden approver. It is 404 for an unknown quote, and 409 for a conflict
with the quote's state or with another user's change.
"""

from apps.core.errors import DomainError


class QuoteError(DomainError):
    """Base of the quotes app's errors."""

    code = "quote_error"
    status = 400


class InvalidQuoteInput(QuoteError):
    """A value that a quote or line cannot take: an unknown product, a bad quantity, a date in the past."""

    code = "invalid_quote"


class InvalidConfiguration(QuoteError):
    """A configuration that breaks the product's rules; ``violations`` names every broken rule."""

    code = "invalid_configuration"

    def __init__(self, message: str, *, violations: list | tuple = ()) -> None:
        super().__init__(message)
        self.violations = list(violations)


class QuoteLineUnpriced(QuoteError):
    """The pricing engine cannot price a line for the quote's customer (inactive, not in assortment, currency)."""

    code = "quote_line_unpriced"


class QuoteNotFound(QuoteError):
    """No quote has the given number or reference."""

    code = "quote_not_found"
    status = 404


class QuoteStateConflict(QuoteError):
    """The quote's state does not allow the change, or another user changed it first."""

    code = "quote_state_conflict"
    status = 409


class QuoteActionNotPermitted(QuoteError):
    """The acting user lacks the permission, is not in the approving group, or approves their own quote."""

    code = "quote_action_not_permitted"
    status = 403


class QuoteConversionFailed(QuoteError):
    """Order intake did not take the accepted quote in; ``message`` carries intake's reason."""

    code = "quote_conversion_failed"
    status = 409
