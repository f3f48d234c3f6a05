"""The quotes app's services, which the admin, the API, commands and tasks all call.

Every function takes keyword arguments only; those that change a quote take
the acting user as ``actor``.
"""

from apps.quotes.pricing import LineRequest
from apps.quotes.services.configuration import configuration_check, configuration_guide
from apps.quotes.services.editing import (
    quote_add_line,
    quote_change_line,
    quote_create,
    quote_refresh_prices,
    quote_remove_line,
    quote_update,
)

__all__ = [
    "LineRequest",
    "configuration_check",
    "configuration_guide",
    "quote_add_line",
    "quote_change_line",
    "quote_create",
    "quote_refresh_prices",
    "quote_remove_line",
    "quote_update",
]
