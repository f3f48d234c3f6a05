"""The quotes app's services, which the admin, the API, commands and tasks all call.

Every function takes keyword arguments only. Those that change a quote take
the acting user as ``actor``. None stands for the system itself, such as a
task or an API integration, and needs no user permission.
"""

from apps.quotes.pricing import LineRequest
from apps.quotes.services.approvals import approvals_required
from apps.quotes.services.configuration import configuration_check, configuration_guide
from apps.quotes.services.editing import (
    quote_add_line,
    quote_change_line,
    quote_create,
    quote_refresh_prices,
    quote_remove_line,
    quote_update,
)
from apps.quotes.services.repricing import quotes_flag_out_of_date_prices
from apps.quotes.services.transitions import (
    STAFF_TRANSITIONS,
    quote_accept,
    quote_approve,
    quote_convert,
    quote_convert_to_order,
    quote_decline,
    quote_expire,
    quote_reject,
    quote_revise,
    quote_send,
    quote_submit,
    quote_transition,
    quotes_expire_due,
)

__all__ = [
    "STAFF_TRANSITIONS",
    "LineRequest",
    "approvals_required",
    "configuration_check",
    "configuration_guide",
    "quote_accept",
    "quote_add_line",
    "quote_approve",
    "quote_change_line",
    "quote_convert",
    "quote_convert_to_order",
    "quote_create",
    "quote_decline",
    "quote_expire",
    "quote_refresh_prices",
    "quote_reject",
    "quote_remove_line",
    "quote_revise",
    "quote_send",
    "quote_submit",
    "quote_transition",
    "quote_update",
    "quotes_expire_due",
    "quotes_flag_out_of_date_prices",
]
