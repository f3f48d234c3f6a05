"""Which customers a partner's key serves, and the querysets scoped to them.

Every read and write of the API goes through these functions, because DRF's
object permissions do not run on lists and creates. An object of a customer
the key does not serve is reported exactly like one that does not exist
(404), so that no response reveals whether it exists.
"""

import datetime as dt

from django.db.models import QuerySet

from apps.api.authentication import PartnerClient
from apps.api.errors import CustomerRequired, NotFound
from apps.api.models import Partner
from apps.contracts.models import Contract, Customer
from apps.contracts.selectors import loaded_contract_in_force, with_contract_in_force
from apps.core.prepared import PLACEHOLDER_DATE, PLACEHOLDER_ID, placeholder_text, prepared
from apps.orders.models import ErpMessage, Invoice, Order
from apps.quotes.models import Quote


def partner_customers(partner: Partner) -> QuerySet[Customer]:
    """Return the customers the partner serves: every customer when ``all_customers`` is set, else its links."""
    if partner.all_customers:
        return Customer.objects.all()
    return Customer.objects.filter(partners=partner)


def customer_for(client: PartnerClient, account_number: str | None) -> Customer:
    """Return the customer a request is about: the one it names, or the key's only customer.

    Raises NotFound for a customer the partner does not serve and
    CustomerRequired when the request names none and the partner serves several.
    """
    return _find_customer(client, account_number, on_date=None)


def customer_and_contract_for(
    client: PartnerClient, account_number: str | None, on_date: dt.date
) -> tuple[Customer, Contract | None]:
    """Return the customer as ``customer_for`` does, with its contract in force on ``on_date`` or None.

    One query reads both, where ``customer_for`` and ``active_contract_for``
    would take two round trips to the database.
    """
    customer = _find_customer(client, account_number, on_date=on_date)
    return customer, loaded_contract_in_force(customer)


def _find_customer(client: PartnerClient, account_number: str | None, on_date: dt.date | None) -> Customer:
    partner = client.partner
    # Every API request reads its customer, so the SQL is compiled once per connection for each shape.
    key = ("api-customer", partner.all_customers, bool(account_number), on_date is not None)
    placeholders: dict[str, object] = {}
    values: dict[str, object] = {}
    if not partner.all_customers:
        placeholders["partner_id"] = PLACEHOLDER_ID
        values["partner_id"] = partner.pk
    if account_number:
        placeholders["account_number"] = _PLACEHOLDER_ACCOUNT_NUMBER
        values["account_number"] = account_number
    if on_date is not None:
        placeholders["on_date"] = PLACEHOLDER_DATE
        values["on_date"] = on_date
    found = prepared(key, _customers, placeholders).run(values)
    if account_number:
        if not found:
            raise NotFound(f"Customer {account_number!r} not found.")
        return found[0]
    first_two = found
    if not first_two:
        raise NotFound("This API key serves no customer; ask the supplier to link its partner to one.")
    if len(first_two) > 1:
        raise CustomerRequired(
            "This API key serves several customers; name one with the customer parameter (its account number)."
        )
    return first_two[0]


def _customers(
    partner_id: int | None = None, account_number: str | None = None, on_date: dt.date | None = None
) -> QuerySet[Customer]:
    """Return the customer with this account number, or the first two, of a partner or of all customers.

    With ``on_date``, each customer carries its contract in force that day (see ``with_contract_in_force``).
    """
    customers = Customer.objects.all() if partner_id is None else Customer.objects.filter(partners=partner_id)
    if on_date is not None:
        customers = with_contract_in_force(customers, on_date)
    if account_number is not None:
        return customers.filter(account_number=account_number)[:1]
    return customers.order_by("account_number")[:2]


_PLACEHOLDER_ACCOUNT_NUMBER = placeholder_text("account number")


def scoped_orders(client: PartnerClient) -> QuerySet[Order]:
    """Return the orders of the customers the key serves."""
    if client.partner.all_customers:
        return Order.objects.all()
    return Order.objects.filter(customer__partners=client.partner)


def order_for(client: PartnerClient, number: str, *, queryset: QuerySet[Order] | None = None) -> Order:
    """Return the order with this number among the key's customers' orders, or raise NotFound."""
    order = queryset.filter(number=number).first() if queryset is not None else _scoped_order(client, number)
    if order is None:
        raise NotFound(f"Order {number!r} not found.")
    return order


def _scoped_order(client: PartnerClient, number: str) -> Order | None:
    # Every ERP message and order read looks up its order, so the SQL is compiled once per connection.
    partner = client.partner
    placeholders: dict[str, object] = {"number": _PLACEHOLDER_ORDER_NUMBER}
    values: dict[str, object] = {"number": number}
    if not partner.all_customers:
        placeholders["partner_id"] = PLACEHOLDER_ID
        values["partner_id"] = partner.pk
    found = prepared(("api-order", partner.all_customers), _orders, placeholders).run(values)
    return found[0] if found else None


def _orders(number: str, partner_id: int | None = None) -> QuerySet[Order]:
    orders = Order.objects.filter(number=number)
    if partner_id is not None:
        orders = orders.filter(customer__partners=partner_id)
    return orders.order_by("pk")[:1]


def scoped_invoices(client: PartnerClient) -> QuerySet[Invoice]:
    """Return the invoices of the customers the key serves."""
    if client.partner.all_customers:
        return Invoice.objects.all()
    return Invoice.objects.filter(customer__partners=client.partner)


def scoped_quotes(client: PartnerClient) -> QuerySet[Quote]:
    """Return the current versions of the quotes of the customers the key serves."""
    quotes = Quote.objects.filter(is_current_version=True)
    if client.partner.all_customers:
        return quotes
    return quotes.filter(customer__partners=client.partner)


def quote_for(client: PartnerClient, number: str) -> Quote:
    """Return the current version of the quote with this number among the key's customers' quotes, or NotFound."""
    quote = scoped_quotes(client).select_related("customer", "order").filter(number=number).first()
    if quote is None:
        raise NotFound(f"Quote {number!r} not found.")
    return quote


def stored_erp_message(
    client: PartnerClient, kind: str, message_key: str, *, order_number: str | None = None
) -> tuple[str, dict] | None:
    """Return (body hash, result) of the kept ERP message of this kind and id, when its order is the key's.

    A message about an order of a customer the key does not serve, or about
    another order than ``order_number`` when that is given, is returned as
    None, like one never received. The ERP replays often, so the SQL is
    compiled once per connection.
    """
    partner = client.partner
    placeholders: dict[str, object] = {"kind": _PLACEHOLDER_KIND, "message_key": _PLACEHOLDER_MESSAGE_KEY}
    values: dict[str, object] = {"kind": kind, "message_key": message_key}
    if not partner.all_customers:
        placeholders["partner_id"] = PLACEHOLDER_ID
        values["partner_id"] = partner.pk
    if order_number is not None:
        placeholders["order_number"] = _PLACEHOLDER_ORDER_NUMBER
        values["order_number"] = order_number
    key = ("api-erp-message", partner.all_customers, order_number is not None)
    found = prepared(key, _erp_messages, placeholders).run(values)
    return found[0] if found else None


def _erp_messages(
    kind: str, message_key: str, partner_id: int | None = None, order_number: str | None = None
) -> QuerySet[ErpMessage]:
    messages = ErpMessage.objects.filter(kind=kind, message_key=message_key)
    if partner_id is not None:
        messages = messages.filter(order__customer__partners=partner_id)
    if order_number is not None:
        messages = messages.filter(order__number=order_number)
    return messages.order_by().values_list("body_hash", "result")[:1]


_PLACEHOLDER_KIND = placeholder_text("kind")
_PLACEHOLDER_MESSAGE_KEY = placeholder_text("message key")
_PLACEHOLDER_ORDER_NUMBER = placeholder_text("order number")
