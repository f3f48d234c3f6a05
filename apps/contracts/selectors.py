"""Reusable reads of contracts: the contract in force on a date and the products it lets a customer buy.

The contract in force is the customer's ACTIVE contract whose dates include
the day (``valid_from <= day``, ``valid_to`` empty or ``>= day``). Draft,
suspended, terminated and expired contracts never apply. When bad data leaves
several in force, the one with the latest ``valid_from``, then the highest
id, wins, so the answer is the same on every call.

A SELECTED assortment contains the contract's chosen products plus every
product whose category is a chosen category or lies below one (its
materialised ``path`` starts with the chosen category's path). An ALL
assortment, or no contract at all, contains every active product.
"""

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Length, Substr
from django.utils import timezone

from apps.catalog.models import Product
from apps.contracts.errors import ContractCustomerMismatch, InvalidPricingRequest
from apps.contracts.models import Contract, Customer


class _NotGiven:
    """Marks an argument the caller left out, since ``None`` is a meaningful value for it."""

    def __repr__(self) -> str:
        return "<not given>"


NOT_GIVEN = _NotGiven()


def today_utc() -> dt.date:
    """Return today's date in UTC, the default pricing day."""
    return timezone.localdate(timezone=dt.UTC)


def active_contract_for(*, customer: Customer, on_date: dt.date) -> Contract | None:
    """Return the customer's contract in force on ``on_date``, or None when there is none."""
    validate_customer(customer)
    validate_pricing_date(on_date)
    return (
        Contract.objects.filter(customer_id=customer.pk, status=Contract.Status.ACTIVE, valid_from__lte=on_date)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on_date))
        .order_by("-valid_from", "-id")
        .first()
    )


def visible_products(
    *,
    customer: Customer,
    on_date: dt.date | None = None,
    contract: Contract | _NotGiven | None = NOT_GIVEN,
) -> QuerySet[Product]:
    """Return the active products the customer may buy: the contract's assortment, or all without a contract.

    Leave ``contract`` out to use the contract in force on ``on_date`` (today in
    UTC by default), which costs one query now. Pass a contract, or None for
    "no contract", when the caller already has it. The queryset is lazy and
    unordered beyond the product's default ordering.
    """
    validate_customer(customer)
    if isinstance(contract, _NotGiven):
        contract = active_contract_for(customer=customer, on_date=on_date or today_utc())
    elif contract is not None and contract.customer_id != customer.pk:
        raise ContractCustomerMismatch(
            f"Contract {contract.number} belongs to customer id {contract.customer_id}, "
            f"not to {customer.account_number}; pass that customer's own contract or None."
        )

    products = Product.objects.filter(is_active=True)
    if contract is None or contract.assortment != Contract.Assortment.SELECTED:
        return products

    chosen_product_ids = Contract.products.through.objects.filter(contract_id=contract.pk).values("product_id")
    # A product's category lies in a chosen subtree when the chosen path is a
    # prefix of its path. Comparing a substring avoids LIKE, so codes that
    # contain "%" or "_" need no escaping.
    in_chosen_subtree = Exists(
        Contract.categories.through.objects.filter(
            contract_id=contract.pk,
            category__path=Substr(OuterRef("category__path"), 1, Length("category__path")),
        )
    )
    return products.filter(Q(pk__in=chosen_product_ids) | in_chosen_subtree)


def validate_customer(customer: object) -> None:
    """Raise InvalidPricingRequest unless ``customer`` is a saved Customer."""
    if not isinstance(customer, Customer) or customer.pk is None:
        raise InvalidPricingRequest(
            f"Customer {customer!r} is not a saved customer; pass a Customer from the database."
        )


def validate_pricing_date(on_date: object) -> None:
    """Raise InvalidPricingRequest unless ``on_date`` is a date (a datetime is rejected too)."""
    # datetime is a subclass of date but does not compare with one.
    if not isinstance(on_date, dt.date) or isinstance(on_date, dt.datetime):
        raise InvalidPricingRequest(
            f"Pricing date {on_date!r} is not a date; pass a datetime.date such as date.today()."
        )
