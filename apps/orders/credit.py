"""A customer's credit exposure: what it owes and will owe, which the credit check and finance read.

Exposure is the open amount of every unpaid invoice plus the value of each
open order that no invoice has billed yet. An open order that is partly
invoiced counts only its share that is not invoiced (the invoiced subtotal
scaled by the order's total to subtotal ratio, so its tax too), because the
invoice counts the rest. Test orders never count.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, DecimalField, F, OuterRef, QuerySet, Subquery, Sum, Value

from apps.contracts.models import Customer
from apps.core.money import round_money
from apps.core.prepared import prepared
from apps.orders.models import INVOICEABLE_STATES, OPEN_STATES, Invoice, InvoiceLine, Order

_ZERO = Decimal(0)


@dataclass(frozen=True)
class Exposure:
    """A customer's exposure in its currency, with its two parts."""

    currency: str
    open_orders: Decimal
    unpaid_invoices: Decimal

    @property
    def total(self) -> Decimal:
        return self.open_orders + self.unpaid_invoices


def reject_currency_change_with_exposure(batch: Sequence[tuple[object, dict]]) -> dict[int, list]:
    """Reject customer rows that change the currency while open orders or unpaid invoices are in the old one.

    Exposure is summed in the customer's currency because no exchange rates exist, so those amounts
    would drop out of the credit check. A row older than the stored one is left to the stale check.
    """
    offered = {
        record["account_number"]: (index, record)
        for index, (_row, record) in enumerate(batch)
        if record.get("account_number") and record.get("currency")
    }
    if not offered:
        return {}
    changing: dict[int, tuple[int, str, str, str]] = {}
    stored_rows = Customer.objects.filter(account_number__in=offered).values_list(
        "pk", "account_number", "currency", "source_updated_at"
    )
    for pk, account, currency, stored_at in stored_rows:
        index, record = offered[account]
        offered_at = record.get("source_updated_at")
        if record["currency"] == currency or (stored_at and offered_at and offered_at <= stored_at):
            continue
        changing[pk] = (index, account, currency, record["currency"])
    if not changing:
        return {}

    in_old_currency = {"customer_id__in": changing, "currency": F("customer__currency")}
    open_orders = _count_by_customer(Order.objects.filter(status__in=OPEN_STATES, is_test=False, **in_old_currency))
    unpaid = _count_by_customer(Invoice.objects.filter(paid_amount__lt=F("total"), **in_old_currency))
    problems = {}
    for pk, (index, account, old, new) in changing.items():
        orders, invoices = open_orders.get(pk, 0), unpaid.get(pk, 0)
        if not orders and not invoices:
            continue
        message = (
            f"Customer {account} has {orders} open order(s) and {invoices} unpaid invoice(s) in {old}; its currency "
            f"can change to {new} once they are paid or cancelled, because credit exposure has no exchange rates"
        )
        problems[index] = [("currency", new, message)]
    return problems


def _count_by_customer(rows: QuerySet) -> dict[int, int]:
    return dict(rows.order_by().values("customer_id").annotate(count=Count("pk")).values_list("customer_id", "count"))


def exposure_of(customer: Customer, *, excluding: Order | None = None) -> Decimal:
    """Return the customer's exposure in its currency, apart from the ``excluding`` order when given."""
    return exposure_detail(customer, excluding=excluding).total


def exposure_detail(customer: Customer, *, excluding: Order | None = None) -> Exposure:
    """Return the customer's exposure split into open orders not invoiced and unpaid invoices; one query.

    The query is compiled once per connection (``apps.core.prepared``),
    because building it with the ORM took more CPU time than running it for
    each order taken in.

    NOTE: orders and invoices in other currencies than the customer's are left out, because no exchange rates exist.
    A customer import rejects a currency change while open orders or unpaid invoices are in the old currency.
    """
    excluded = excluding is not None and excluding.pk is not None
    placeholders = {"customer": _PLACEHOLDER_CUSTOMER_ID}
    values = {"customer": customer.pk}
    if excluded:
        placeholders["order"] = _PLACEHOLDER_ORDER_ID
        values["order"] = excluding.pk
    query = prepared(
        ("orders.credit.exposure", excluded), partial(_exposure_row, **placeholders), placeholders, DEFAULT_DB_ALIAS
    )
    (row,) = query.run(values)
    return _exposure_from(row, customer.currency)


# Ids that no customer or order has; the prepared query is compiled with them and never run with them.
_PLACEHOLDER_CUSTOMER_ID = -9_000_000_000_000_000_001
_PLACEHOLDER_ORDER_ID = -9_000_000_000_000_000_002


def _exposure_row(*, customer: int, order: int | None = None) -> QuerySet:
    excluding = Order(pk=order) if order is not None else None
    return with_exposure(Customer.objects.filter(pk=customer), excluding=excluding).values(
        "exposure_open_orders", "exposure_invoiced_share", "exposure_unpaid"
    )


def with_exposure(customers: QuerySet, *, excluding: Order | None = None) -> QuerySet:
    """Annotate each customer with the three sums of its exposure, as subqueries of its row.

    ``exposure_from_annotations`` turns an annotated customer into an ``Exposure``.
    """
    currency = OuterRef("currency")
    orders = Order.objects.filter(customer=OuterRef("pk"), is_test=False, currency=currency, status__in=OPEN_STATES)
    invoiced_lines = InvoiceLine.objects.filter(
        order_line__order__customer=OuterRef("pk"),
        order_line__order__status__in=INVOICEABLE_STATES,
        order_line__order__is_test=False,
        order_line__order__currency=currency,
        order_line__order__subtotal__gt=0,
    )
    if excluding is not None and excluding.pk is not None:
        orders = orders.exclude(pk=excluding.pk)
        invoiced_lines = invoiced_lines.exclude(order_line__order=excluding.pk)
    unpaid_invoices = Invoice.objects.filter(customer=OuterRef("pk"), currency=currency, paid_amount__lt=F("total"))
    return customers.annotate(
        exposure_open_orders=_sum_of(orders, F("total")),
        exposure_invoiced_share=_sum_of(
            invoiced_lines, F("amount") * F("order_line__order__total") / F("order_line__order__subtotal")
        ),
        exposure_unpaid=_sum_of(unpaid_invoices, F("total") - F("paid_amount")),
    )


def exposure_from_annotations(customer: Customer) -> Exposure:
    """Return the exposure of a customer read through ``with_exposure``."""
    return _exposure_from(
        {
            "exposure_open_orders": customer.exposure_open_orders,
            "exposure_invoiced_share": customer.exposure_invoiced_share,
            "exposure_unpaid": customer.exposure_unpaid,
        },
        customer.currency,
    )


def _exposure_from(row: dict, currency: str) -> Exposure:
    open_orders = (row["exposure_open_orders"] or _ZERO) - (row["exposure_invoiced_share"] or _ZERO)
    return Exposure(
        currency=currency,
        open_orders=round_money(max(open_orders, _ZERO), currency),
        unpaid_invoices=round_money(row["exposure_unpaid"] or _ZERO, currency),
    )


def _sum_of(queryset, expression):
    """Return a subquery that sums ``expression`` over ``queryset``'s rows (NULL when there are none)."""
    return Subquery(
        queryset.order_by().annotate(group=Value(1)).values("group").annotate(total=Sum(expression)).values("total"),
        output_field=DecimalField(max_digits=30, decimal_places=10),
    )
