"""Admin of the quotes app: configurable products and costs, approval rules, and the quotes sales work on."""

from apps.quotes.admin.configuration import (
    ApprovalRuleAdmin,
    ConfigurableProductAdmin,
    ProductCostAdmin,
)
from apps.quotes.admin.quotes import QuoteAdmin

__all__ = ["ApprovalRuleAdmin", "ConfigurableProductAdmin", "ProductCostAdmin", "QuoteAdmin"]
