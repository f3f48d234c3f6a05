"""Quotes that partners request, read, accept and decline, through the quotes app's services."""

from django.conf import settings
from django.contrib.auth import get_user_model

from apps.api.errors import ApiError
from apps.contracts.models import Customer
from apps.quotes.models import Quote
from apps.quotes.services import LineRequest, quote_accept, quote_create, quote_decline


class QuoteRequestsNotConfigured(ApiError):
    """The user that partners' quote requests are assigned to does not exist."""

    code = "quote_requests_not_configured"
    status = 503


def quote_request(*, customer: Customer, data: dict, products: dict[str, int]) -> Quote:
    """Create a draft quote for the customer from a partner's request, assigned to API_QUOTE_SALES_PERSON.

    ``products`` maps each requested SKU to its product id. A SKU without one
    is passed as id 0, which the pricing reports as an unknown product.
    """
    username = settings.API_QUOTE_SALES_PERSON
    sales_person = get_user_model().objects.filter(username=username, is_active=True).first()
    if sales_person is None:
        raise QuoteRequestsNotConfigured(
            f"Quote requests cannot be taken now: the sales person {username!r} that API_QUOTE_SALES_PERSON "
            "names is not an active user. Contact the supplier."
        )
    lines = [
        LineRequest(
            product=products.get(line["sku"], 0),
            quantity=line["quantity"],
            configuration=line.get("configuration") or None,
        )
        for line in data["lines"]
    ]
    return quote_create(
        actor=None,
        customer=customer,
        lines=lines,
        sales_person=sales_person,
        crm_opportunity=data.get("crm_opportunity", ""),
        contact_name=data.get("contact_name", ""),
        contact_email=data.get("contact_email", ""),
        notes=data.get("notes", ""),
    )


def quote_accept_by_partner(*, quote: Quote, po_number: str = "", create_order: bool = True) -> Quote:
    """Accept a sent quote for the customer; with ``create_order`` it becomes an order carrying the PO number."""
    return quote_accept(quote=quote, actor=None, po_number=po_number, convert=create_order)


def quote_decline_by_partner(*, quote: Quote, reason: str = "") -> Quote:
    """Decline a sent quote for the customer, with the customer's reason."""
    return quote_decline(quote=quote, actor=None, reason=reason)
