"""Checks shared by the PunchOut services: return URLs, quantities, the contract a session uses."""

import logging
import re
from decimal import Decimal
from urllib.parse import urlsplit

from apps.contracts.selectors import active_contract_for, today_utc
from apps.punchout.errors import (
    InvalidQuantity,
    NoContractInForce,
    ReturnURLNotAllowed,
)
from apps.punchout.models import BuyerConnection

logger = logging.getLogger(__name__)

# A cart line quantity has at most 3 decimals (the CartLine column and OCI's
# QUANTITY format) and is at most one million: a bigger line is almost
# surely a typing error, and such volumes go through a quote instead.
MAX_QUANTITY_DECIMALS = 3
MAX_LINE_QUANTITY = Decimal("1000000")
# Plain decimal notation only, the way a person types a quantity and OCI
# writes one: no exponent, sign, thousands separator or "NaN". The digits are
# ASCII only, because \d and Decimal() also accept other scripts' digits.
_QUANTITY_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")
# A number in scientific notation, such as 1E3 or 2.5e-1, in ASCII digits.
_SCIENTIFIC_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+")


# Length limit when echoing a rejected value in a message.
_ECHO_LIMIT = 60


def check_return_url(*, connection: BuyerConnection, url: str, label: str = "BrowserFormPost URL") -> None:
    """Raise ReturnURLNotAllowed unless ``url`` is http(s) on a host the connection allows.

    ``label`` names the URL in messages (BrowserFormPost URL or HOOK_URL).
    """
    if not url:
        raise ReturnURLNotAllowed(f"The request has no {label}; send one so the cart can be returned.")
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise ReturnURLNotAllowed(f"{label} {echo_value(url)} contains white space or control characters; encode them.")
    try:
        parts = urlsplit(url)
    except ValueError:
        # urlsplit raises for a malformed IPv6 host such as "http://[::1".
        raise ReturnURLNotAllowed(f"{label} {echo_value(url)} is not a valid URL; check its host.") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ReturnURLNotAllowed(
            f"{label} {echo_value(url)} is not an absolute http or https URL; send one such as "
            "https://procurement.example.com/punchout/return."
        )
    if parts.username is not None or parts.password is not None:
        raise ReturnURLNotAllowed(f"{label} {echo_value(url)} contains user information; send the URL without it.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ReturnURLNotAllowed(f"{label} {echo_value(url)} has an invalid port.") from None
    host = parts.hostname.lower()
    if not any(pattern.matches(host, port) for pattern in connection.return_host_patterns()):
        shown = f"[{host}]" if ":" in host else host
        raise ReturnURLNotAllowed(
            f"{label} host {shown}:{port} is not allowed for this buyer connection; "
            "ask the supplier to add it to the connection's allowed return hosts."
        )


def parse_quantity(value: object) -> Decimal:
    """Parse a cart quantity: a decimal number from 0 to the maximum with at most 3 decimals."""
    if isinstance(value, float):
        raise InvalidQuantity(f"Quantity {value!r} is a float, which is inexact; pass a string or a Decimal.")
    if isinstance(value, Decimal):
        text = format(value, "f") if value.is_finite() else str(value)
    else:
        text = str(value).strip()
    if any(character.isdigit() and not character.isascii() for character in text):
        raise InvalidQuantity(
            f"Quantity {echo_value(value)} contains digits other than 0 to 9; type it with the digits 0 to 9."
        )
    if _SCIENTIFIC_TEXT.fullmatch(text):
        raise InvalidQuantity(
            f"Quantity {echo_value(value)} is in scientific notation, which is not accepted; "
            "enter it as a plain decimal number, such as 1000 or 0.25."
        )
    if not _QUANTITY_TEXT.fullmatch(text):
        raise InvalidQuantity(
            f"Quantity {echo_value(value)} is invalid; enter a number from 0 to {MAX_LINE_QUANTITY} with at most "
            f"{MAX_QUANTITY_DECIMALS} decimals, such as 2 or 1.5 (0 removes the line)."
        )
    quantity = Decimal(text)
    if quantity > MAX_LINE_QUANTITY:
        raise InvalidQuantity(
            f"Quantity {echo_value(value)} is above the maximum of {MAX_LINE_QUANTITY} per line; "
            "ask your sales contact for a quote for larger volumes."
        )
    if quantity != quantity.quantize(Decimal(1).scaleb(-MAX_QUANTITY_DECIMALS)):
        raise InvalidQuantity(f"Quantity {echo_value(value)} has more than {MAX_QUANTITY_DECIMALS} decimals; round it.")
    return quantity


def contract_id_for_connection(connection: BuyerConnection) -> int:
    """Return the id of the contract a session of the connection uses, from the annotation when it was loaded."""
    if not hasattr(connection, "contract_in_force_id"):
        return contract_for_connection(connection).pk
    in_force_id = connection.contract_in_force_id
    if in_force_id is None or (connection.contract_id is not None and connection.contract_id != in_force_id):
        # The error messages name the contracts, so the slower path builds them.
        return contract_for_connection(connection).pk
    return in_force_id


def contract_for_connection(connection: BuyerConnection):
    """Return the connection's contract when it is the one in force today, else the contract in force.

    The pricing engine always prices with the contract in force. A pinned
    contract that is not in force today would show its own assortment with
    another contract's prices, so no session is opened for it.
    """
    in_force = active_contract_for(customer=connection.customer, on_date=today_utc())
    if in_force is None:
        raise NoContractInForce(
            f"Customer {connection.customer.account_number} has no contract in force today; "
            "ask your sales contact to activate one."
        )
    if connection.contract_id is not None and connection.contract_id != in_force.pk:
        raise NoContractInForce(
            f"The contract set on this buyer connection is not the one in force today "
            f"({in_force.number}); ask your sales contact to update the connection."
        )
    return in_force


def echo_value(value: object) -> str:
    """Return ``value`` quoted for an error message, cut at _ECHO_LIMIT characters."""
    text = str(value)
    if len(text) > _ECHO_LIMIT:
        text = text[:_ECHO_LIMIT] + "…"
    return repr(text)
