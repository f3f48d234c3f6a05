"""PunchOut operations: authenticate buyers' systems, open sessions, change their carts and return them.

Views, commands and other apps import the operations from here; the
modules split them by concept (auth, opening, lifecycle, cart, checks).
"""

from apps.punchout.services.auth import authenticate_cxml_sender, authenticate_oci_login
from apps.punchout.services.cart import (
    BuyerMappings,
    ReturnForm,
    buyer_mappings,
    cart_set_quantity,
    ensure_cart_changeable,
    ensure_pricing_contract,
    lock_quoted_prices,
    price_session_lines,
    punchout_cart_return,
    quoted_line_prices,
)
from apps.punchout.services.checks import (
    MAX_LINE_QUANTITY,
    MAX_QUANTITY_DECIMALS,
    check_return_url,
    contract_for_connection,
    parse_quantity,
)
from apps.punchout.services.lifecycle import (
    DEFAULT_SESSION_IDLE_MINUTES,
    DEFAULT_START_PAGE_MINUTES,
    ensure_session_usable,
    punchout_session_expire,
    punchout_session_start,
    punchout_sessions_expire_idle,
    session_idle_timeout,
    start_page_minutes,
)
from apps.punchout.services.opening import (
    OCIReturnSettings,
    oci_return_settings,
    oci_session_open,
    punchout_session_open,
)
from apps.punchout.services.quotes import cart_load_quote, loadable_quotes

__all__ = [
    "DEFAULT_SESSION_IDLE_MINUTES",
    "DEFAULT_START_PAGE_MINUTES",
    "MAX_LINE_QUANTITY",
    "MAX_QUANTITY_DECIMALS",
    "BuyerMappings",
    "OCIReturnSettings",
    "ReturnForm",
    "authenticate_cxml_sender",
    "authenticate_oci_login",
    "buyer_mappings",
    "cart_load_quote",
    "cart_set_quantity",
    "check_return_url",
    "contract_for_connection",
    "ensure_cart_changeable",
    "ensure_pricing_contract",
    "ensure_session_usable",
    "loadable_quotes",
    "lock_quoted_prices",
    "oci_return_settings",
    "oci_session_open",
    "parse_quantity",
    "price_session_lines",
    "punchout_cart_return",
    "punchout_session_expire",
    "punchout_session_open",
    "punchout_session_start",
    "punchout_sessions_expire_idle",
    "quoted_line_prices",
    "session_idle_timeout",
    "start_page_minutes",
]
