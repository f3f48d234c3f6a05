"""Expected errors of the contracts app, each with a stable ``code`` for API clients and logs."""

from apps.core.errors import DomainError


class ContractsError(DomainError):
    """Base of the contracts app's errors; ``message`` is written for people, ``code`` for programs."""

    code = "contracts_error"


class PricingError(ContractsError):
    """The pricing engine cannot price the request as a whole; bad data in one line never raises this."""

    code = "pricing_error"


class InvalidPricingRequest(PricingError):
    """The request itself is malformed: an unsaved customer, a line that is not a pair, a bad date."""

    code = "invalid_pricing_request"


class InvalidPricingCurrency(PricingError):
    """The customer's or the contract's currency is not an ISO 4217 code, so no amount can be rounded."""

    code = "invalid_pricing_currency"


class ContractCustomerMismatch(ContractsError):
    """A contract was passed for a customer it does not belong to."""

    code = "contract_customer_mismatch"
