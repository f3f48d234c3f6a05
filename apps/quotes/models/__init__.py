"""The quotes app's models: product configuration, quotes and their lines, approval rules and decisions."""

from apps.quotes.models.approvals import (
    HIGHER_IS_WORSE,
    ApprovalRule,
    ApprovalRuleKind,
    ApprovalRuleStep,
    ApprovalStatus,
    QuoteApproval,
)
from apps.quotes.models.configuration import (
    ConfigurableProduct,
    ConfigurationOption,
    ConfigurationRule,
    OptionGroup,
    ProductCost,
)
from apps.quotes.models.quotes import EDITABLE_STATES, Quote, QuoteEvent, QuoteLine, QuoteStatus

__all__ = [
    "EDITABLE_STATES",
    "HIGHER_IS_WORSE",
    "ApprovalRule",
    "ApprovalRuleKind",
    "ApprovalRuleStep",
    "ApprovalStatus",
    "ConfigurableProduct",
    "ConfigurationOption",
    "ConfigurationRule",
    "OptionGroup",
    "ProductCost",
    "Quote",
    "QuoteApproval",
    "QuoteEvent",
    "QuoteLine",
    "QuoteStatus",
]
