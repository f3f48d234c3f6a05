"""The quotes app's models: product configuration, quotes and their lines, approval rules and decisions."""

from apps.quotes.models.configuration import (
    ConfigurableProduct,
    ConfigurationOption,
    ConfigurationRule,
    OptionGroup,
    ProductCost,
)

__all__ = [
    "ConfigurableProduct",
    "ConfigurationOption",
    "ConfigurationRule",
    "OptionGroup",
    "ProductCost",
]
