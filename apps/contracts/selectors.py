"""Reusable reads of contracts: the contract in force on a date and the products it lets a customer buy.

The contract in force is the customer's ACTIVE contract whose dates include
the day (``valid_from <= day``, ``valid_to`` empty or ``>= day``). Draft,
suspended, terminated and expired contracts never apply. When bad data leaves
several in force, the one with the latest ``valid_from``, then the highest
id, wins, so every call returns the same contract.

A SELECTED assortment contains the contract's chosen products plus every
product whose category is a chosen category or lies below one (its
materialised ``path`` starts with the chosen category's path). An ALL
assortment, or no contract at all, contains every active product.
"""

import datetime as dt
from collections.abc import Collection, Sequence

from django.db import connection
from django.db.models import (
    DateTimeField,
    Exists,
    F,
    FilteredRelation,
    Lookup,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.base import ModelState
from django.db.models.functions import Cast, Length, Substr
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from apps.catalog.models import Category, Product
from apps.contracts.errors import ContractCustomerMismatch, InvalidPricingRequest
from apps.contracts.models import Contract, Customer
from apps.core.prepared import PLACEHOLDER_DATE, PLACEHOLDER_ID, prepared


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
    # Every API request and pricing call reads it, so its SQL is compiled once per connection.
    values = {"customer_id": customer.pk, "on_date": on_date}
    contracts = prepared("active-contract", _active_contracts, _ACTIVE_CONTRACT_PLACEHOLDERS).run(values)
    return contracts[0] if contracts else None


def customer_by_id(customer_id: int) -> Customer | None:
    """Return the customer with this id, or None; the query is compiled once per connection."""
    found = prepared("customer-by-id", _customers_by_id, {"customer_id": PLACEHOLDER_ID}).run(
        {"customer_id": customer_id}
    )
    return found[0] if found else None


def _customers_by_id(customer_id: int) -> QuerySet[Customer]:
    return Customer.objects.filter(pk=customer_id)


def _active_contracts(customer_id: int, on_date: dt.date) -> QuerySet[Contract]:
    return (
        Contract.objects.filter(customer_id=customer_id, status=Contract.Status.ACTIVE, valid_from__lte=on_date)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on_date))
        .order_by("-valid_from", "-id")[:1]
    )


_ACTIVE_CONTRACT_PLACEHOLDERS = {"customer_id": PLACEHOLDER_ID, "on_date": PLACEHOLDER_DATE}


def with_contract_in_force(customers: QuerySet[Customer], on_date: dt.date) -> QuerySet[Customer]:
    """Add each customer's contract in force on ``on_date`` to the query; ``loaded_contract_in_force`` returns it.

    The same rule as ``active_contract_for``, read by the customers' query
    itself, which saves a round trip to the database per customer.
    """
    validate_pricing_date(on_date)
    in_force = _active_contracts(OuterRef("pk"), on_date).values("pk")
    # The join keeps at most one contract per customer, the one the subquery picks, so no customer repeats.
    contract_in_force = FilteredRelation("contracts", condition=Q(contracts__pk=Subquery(in_force)))
    return customers.annotate(contract_in_force=contract_in_force).select_related("contract_in_force")


def loaded_contract_in_force(customer: Customer) -> Contract | None:
    """Return the contract in force that ``with_contract_in_force`` read with the customer, or None."""
    # Django sets the attribute only when the join found a contract.
    # NOTE: a customer read without with_contract_in_force returns None here too.
    return getattr(customer, "contract_in_force", None)


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


def products_by_id(product_ids: Collection[int]) -> dict[int, Product]:
    """Load products and their categories in one query, keyed by id; ids without a product are left out.

    The products are complete model instances, each with its category loaded
    (products of one category share one Category instance), so reading
    ``product.category`` costs no query. They are built from a values query
    because ``select_related`` instantiation took about three times as long
    for 7,000 products (see docs/benchmarks.md).
    """
    if not product_ids:
        return {}
    product_columns = _Columns(Product)
    category_columns = _Columns(Category, prefix="category__")
    rows = (
        Product.objects.filter(id_in("pk", product_ids))
        .order_by()
        .annotate(**product_columns.annotations, **category_columns.annotations)
        .values_list(*product_columns.selected, *category_columns.selected)
    )
    database = rows.db
    split = len(product_columns.selected)
    categories: dict[int, Category] = {}
    products: dict[int, Product] = {}
    for row in rows:
        product = product_columns.build(database, row)
        category_id = row[split]
        category = None
        if category_id is not None:
            category = categories.get(category_id)
            if category is None:
                category = category_columns.build(database, row, split)
                categories[category_id] = category
        # The cache select_related fills, so product.category needs no query.
        product._state.fields_cache["category"] = category
        products[row[0]] = product
    return products


class _Columns:
    """The columns of a model's concrete fields in a values query, and how to build an instance from them.

    On PostgreSQL, timestamps are selected as text and parsed with
    ``datetime.fromisoformat``, because Django's psycopg loader for timestamptz
    is written in Python and took about 3 µs per value, most of the query's
    time. The text is in ISO 8601 form, as psycopg itself requires of the
    session (DateStyle ISO), with the session's UTC offset.
    """

    def __init__(self, model: type[Model], *, prefix: str = "") -> None:
        self.model = model
        self.attnames = [field.attname for field in model._meta.concrete_fields]
        self.annotations: dict[str, Cast] = {}
        self.selected: list[str] = []
        self.timestamp_attnames: list[str] = []
        as_text = connection.vendor == "postgresql"
        for field in model._meta.concrete_fields:
            if as_text and isinstance(field, DateTimeField):
                alias = f"_{prefix}{field.attname}_text"
                self.annotations[alias] = Cast(f"{prefix}{field.attname}", TextField())
                self.selected.append(alias)
                self.timestamp_attnames.append(field.attname)
            else:
                self.selected.append(f"{prefix}{field.attname}")
        # Model.from_db took about 15 µs per product and a direct build about
        # 2.5 µs, because from_db sets every field through setattr and sends
        # the init signals. While a receiver listens to pre_init or post_init
        # for the model, from_db runs so that the receiver is never skipped.
        self.use_from_db = pre_init.has_listeners(model) or post_init.has_listeners(model)

    def build(self, database: str, row: Sequence, offset: int = 0) -> Model:
        """Build an instance from the model's columns, which start at ``offset`` in ``row``."""
        # A product row also carries the category columns after its own, hence strict=False.
        values = dict(zip(self.attnames, row[offset:] if offset else row, strict=False))
        for attname in self.timestamp_attnames:
            text = values[attname]
            if text is not None:
                values[attname] = dt.datetime.fromisoformat(text)
        if self.use_from_db:
            return self.model.from_db(database, self.attnames, [values[attname] for attname in self.attnames])
        instance = self.model.__new__(self.model)
        instance.__dict__ = values
        state = ModelState()
        state.adding = False
        state.db = database
        values["_state"] = state
        return instance


def id_in(field_name: str, ids: Collection[int]) -> Q | Lookup:
    """Return a filter for ``field_name`` in ``ids``, as one array parameter on PostgreSQL.

    Django renders ``__in`` with one parameter per value, which cost about
    90 ms of Python for 7,000 ids. ``= ANY`` of one array costs a few and
    lets PostgreSQL use an index. Other databases get the plain ``__in`` list.
    """
    ids = list(ids)
    if connection.vendor == "postgresql":
        return _EqualsAnyOf(F(field_name), ids)
    return Q(**{f"{field_name}__in": ids})


class _EqualsAnyOf(Lookup):
    """``column = ANY(%s::bigint[])`` with the ids as one PostgreSQL array parameter."""

    lookup_name = "equals_any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs_sql} = ANY(%s::bigint[])", (*lhs_params, id_array_literal(self.rhs))


def id_array_literal(ids: Collection[int]) -> str:
    """Return the PostgreSQL array literal of the ids, the parameter of ``id_in`` on PostgreSQL."""
    # Built by str.join, because psycopg's list adapter took about 4 ms for 7,000 ids. int() keeps anything
    # but digits out.
    return "{" + ",".join([str(int(value)) for value in ids]) + "}"


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
