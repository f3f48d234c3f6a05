"""The API's reads: product rows with contract prices and stock, orders with their documents, and quotes.

Big lists are built from ``.values()`` rows and plain dicts, because DRF
serializers cost about ten times as much per row. The pricing engine
prices a whole page in one call with a constant number of queries.
"""

import copy
import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.db import connection
from django.db.models import DecimalField, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Greatest

from apps.api.pagination import PreparedRows
from apps.catalog.models import Category, Product, StockLevel
from apps.contracts.models import Contract, Customer
from apps.contracts.pricing import PricingProduct, contract_tiers_column, price_lines
from apps.contracts.selectors import id_in, visible_products
from apps.core.money import format_amount, minor_units
from apps.core.prepared import PLACEHOLDER_DATE, PLACEHOLDER_ID
from apps.orders.models import Invoice, Order, OrderLine, Shipment, ShipmentLine
from apps.quotes.models import Quote, QuoteLine

PRODUCT_COLUMNS = (
    "id",
    "sku",
    "name",
    "manufacturer",
    "manufacturer_part_number",
    "unspsc",
    "lead_time_days",
    "is_configurable",
    "updated_at",
    # What the pricing engine reads, so that it prices the page from these rows without reading them again.
    "is_active",
    "currency",
    "list_price",
    "category_id",
)

_ZERO = Decimal(0)
_AVAILABLE = ExpressionWrapper(
    Greatest(F("on_hand") - F("reserved"), _ZERO), output_field=DecimalField(max_digits=14, decimal_places=3)
)


def product_queryset(
    *,
    customer: Customer,
    contract: Contract | None,
    search: str = "",
    category: Category | None = None,
    updated_since: dt.datetime | None = None,
    prices_on: dt.date | None = None,
) -> QuerySet:
    """Return the products the customer may buy, filtered, as ``.values()`` rows of PRODUCT_COLUMNS and codes.

    Each row also has ``available``: on hand less reserved, never below 0, summed over active warehouses.
    With a contract and ``prices_on``, rows on PostgreSQL also have ``contract_tiers``, the contract's
    prices on that day, which ``product_rows`` hands to the pricing engine.
    """
    products = visible_products(customer=customer, contract=contract)
    if search:
        products = products.filter(Q(sku__icontains=search) | Q(name__icontains=search))
    if category is not None:
        products = products.filter(category__path__startswith=category.path)
    if updated_since is not None:
        products = products.filter(updated_at__gte=updated_since)
    # Each row's available stock comes in the same query, from the (product, warehouse) unique index.
    available = (
        StockLevel.objects.filter(product=OuterRef("pk"), warehouse__is_active=True)
        .order_by()
        .values("product")
        .annotate(total=Sum(_AVAILABLE))
        .values("total")
    )
    columns = {
        "category_code": F("category__code"),
        "category_path": F("category__path"),
        "unit_code": F("unit__code"),
        "available": Coalesce(Subquery(available), _ZERO, output_field=_AVAILABLE.output_field),
    }
    # On PostgreSQL the contract prices come in the same query, as an array of JSON objects per product.
    if contract is not None and prices_on is not None and connection.vendor == "postgresql":
        columns["contract_tiers"] = contract_tiers_column(contract.pk, prices_on)
    return products.values(*PRODUCT_COLUMNS, **columns)


def product_page_source(
    *,
    customer: Customer,
    contract: Contract | None,
    search: str = "",
    category: Category | None = None,
    updated_since: dt.datetime | None = None,
    prices_on: dt.date | None = None,
) -> "QuerySet | PreparedRows":
    """Return ``product_queryset`` for cursor pagination, as SQL prepared once per shape where that is possible.

    Compiling the page's query took more CPU time than running it. The query
    for a contract, or for none, only differs in the contract's id, so that
    id is a placeholder. A search or category filter goes through a LIKE
    lookup, which rewrites its value, and Django adapts an ``updated_since``
    time per database, so filtered lists are built per request.
    """
    if search or category is not None or updated_since is not None:
        return product_queryset(
            customer=customer,
            contract=contract,
            search=search,
            category=category,
            updated_since=updated_since,
            prices_on=prices_on,
        )
    if contract is None:
        return PreparedRows(
            ("api-products", None),
            lambda: product_queryset(customer=customer, contract=None),
            placeholders={},
            values={},
        )

    def build(contract_id: int = contract.pk, prices_on: dt.date | None = prices_on) -> QuerySet:
        shaped_contract = copy.copy(contract)
        shaped_contract.pk = contract_id
        return product_queryset(customer=customer, contract=shaped_contract, prices_on=prices_on)

    placeholders: dict[str, object] = {}
    values: dict[str, object] = {}
    # A SELECTED assortment's query names the contract, and so do the contract prices.
    if contract.assortment == Contract.Assortment.SELECTED or prices_on is not None:
        placeholders["contract_id"] = PLACEHOLDER_ID
        values["contract_id"] = contract.pk
    if prices_on is not None:
        placeholders["prices_on"] = PLACEHOLDER_DATE
        values["prices_on"] = prices_on
    return PreparedRows(
        ("api-products", contract.assortment, prices_on is not None),
        build,
        placeholders=placeholders,
        values=values,
    )


def product_rows(
    *, customer: Customer, contract: Contract | None, rows: Sequence[dict], on_date: dt.date
) -> list[dict]:
    """Turn a page of ``product_queryset`` rows into the API's product dicts, priced for one unit.

    ``contract`` is the customer's contract in force on ``on_date`` (or None), as the caller read it.
    Rows with ``contract_tiers`` must come from ``product_queryset`` with that contract and ``prices_on=on_date``.
    """
    if not rows:
        return []
    products = {
        row["id"]: PricingProduct(
            pk=row["id"],
            sku=row["sku"],
            is_active=row["is_active"],
            currency=row["currency"],
            list_price=row["list_price"],
            category_id=row["category_id"],
            category_path=row["category_path"],
        )
        for row in rows
    }
    lines = [(row["id"], 1) for row in rows]
    # Rows read with prices_on carry the contract prices. For other rows the pricing engine reads them.
    contract_tiers = {row["id"]: row["contract_tiers"] for row in rows} if "contract_tiers" in rows[0] else None
    pricing = price_lines(
        customer=customer,
        lines=lines,
        on_date=on_date,
        contract=contract,
        products=products,
        contract_tiers=contract_tiers,
    )
    currency = pricing.currency
    places = minor_units(currency)
    return [_product_dict(row, priced, currency, places) for row, priced in zip(rows, pricing.lines, strict=True)]


def stock_by_warehouse(product_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Return each product's stock in active warehouses: on hand, reserved and available, with the count time."""
    ids = list(product_ids)
    if not ids:
        return {}
    levels = (
        StockLevel.objects.filter(id_in("product_id", ids), warehouse__is_active=True)
        .order_by("product_id", "warehouse__code")
        .values("product_id", "on_hand", "reserved", "as_of", code=F("warehouse__code"), name=F("warehouse__name"))
    )
    stock: dict[int, list[dict]] = {}
    for level in levels:
        stock.setdefault(level["product_id"], []).append(
            {
                "warehouse": level["code"],
                "name": level["name"],
                "on_hand": quantity_text(level["on_hand"]),
                "available": quantity_text(max(level["on_hand"] - level["reserved"], _ZERO)),
                "as_of": level["as_of"],
            }
        )
    return stock


def available_by_product(product_ids: Iterable[int]) -> dict[int, Decimal]:
    """Return each product's available stock (on hand less reserved, never below 0) over active warehouses."""
    ids = list(product_ids)
    if not ids:
        return {}
    totals = (
        StockLevel.objects.filter(id_in("product_id", ids), warehouse__is_active=True)
        .order_by()
        .values("product_id")
        .annotate(available=Sum(_AVAILABLE))
        .values_list("product_id", "available")
    )
    return dict(totals)


def order_summary(order: Order) -> dict:
    """Return the order's header as the API shows it in lists and webhooks."""
    return {
        "number": order.number,
        "customer": order.customer.account_number,
        "po_number": order.po_number,
        "status": order.status,
        "status_reason": order.status_reason,
        "channel": order.channel,
        "currency": order.currency,
        "subtotal": money_text(order.subtotal, order.currency),
        "tax_total": money_text(order.tax_total, order.currency),
        "total": money_text(order.total, order.currency),
        "requested_delivery_date": order.requested_delivery_date,
        "erp_reference": order.erp_reference,
        "erp_acknowledged_at": order.erp_acknowledged_at,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


ORDER_LIST_COLUMNS = (
    "id",
    "number",
    "po_number",
    "status",
    "status_reason",
    "channel",
    "currency",
    "subtotal",
    "tax_total",
    "total",
    "requested_delivery_date",
    "erp_reference",
    "erp_acknowledged_at",
    "created_at",
    "updated_at",
)


def order_list_rows(rows: Sequence[dict]) -> list[dict]:
    """Turn ``.values()`` rows of ORDER_LIST_COLUMNS plus ``customer_account`` into the API's order dicts."""
    result = []
    for row in rows:
        currency = row["currency"]
        result.append(
            {
                "number": row["number"],
                "customer": row["customer_account"],
                "po_number": row["po_number"],
                "status": row["status"],
                "status_reason": row["status_reason"],
                "channel": row["channel"],
                "currency": currency,
                "subtotal": money_text(row["subtotal"], currency),
                "tax_total": money_text(row["tax_total"], currency),
                "total": money_text(row["total"], currency),
                "requested_delivery_date": row["requested_delivery_date"],
                "erp_reference": row["erp_reference"],
                "erp_acknowledged_at": row["erp_acknowledged_at"],
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
            }
        )
    return result


def order_detail(order: Order) -> dict:
    """Return the order with its lines, shipments and invoices; four queries after the order."""
    currency = order.currency
    lines = list(OrderLine.objects.filter(order=order).select_related("unit").order_by("position"))
    numbers = {line.pk: line.line_number for line in lines}
    shipments = list(Shipment.objects.filter(order=order).order_by("shipped_at", "id"))
    shipment_lines: dict[int, list[dict]] = {}
    for row in (
        ShipmentLine.objects.filter(shipment__order=order)
        .order_by("id")
        .values("shipment_id", "order_line_id", "quantity")
    ):
        shipment_lines.setdefault(row["shipment_id"], []).append(
            {"line_number": numbers.get(row["order_line_id"], ""), "quantity": quantity_text(row["quantity"])}
        )
    invoices = list(Invoice.objects.filter(orders=order).order_by("invoice_date", "id"))

    detail = order_summary(order)
    detail.update(
        {
            "ship_to": order.ship_to,
            "rejection_reasons": order.rejection_reasons,
            "lines": [_line_dict(line, currency) for line in lines],
            "shipments": [
                {
                    "shipment_id": shipment.shipment_id,
                    "carrier": shipment.carrier,
                    "tracking_number": shipment.tracking_number,
                    "shipped_at": shipment.shipped_at,
                    "expected_delivery_at": shipment.expected_delivery_at,
                    "lines": shipment_lines.get(shipment.pk, []),
                }
                for shipment in shipments
            ],
            "invoices": [
                {
                    "number": invoice.number,
                    "invoice_date": invoice.invoice_date,
                    "currency": invoice.currency,
                    "subtotal": money_text(invoice.subtotal, invoice.currency),
                    "tax": money_text(invoice.tax, invoice.currency),
                    "total": money_text(invoice.total, invoice.currency),
                    "due_date": invoice.due_date,
                    "paid_amount": money_text(invoice.paid_amount, invoice.currency),
                    "paid_at": invoice.paid_at,
                }
                for invoice in invoices
            ],
        }
    )
    return detail


def money_text(amount: Decimal | None, currency: str) -> str | None:
    """Write an amount as a JSON string with the currency's minor units, or more where it has them."""
    if amount is None:
        return None
    return format_amount(amount, currency)


def _money_places(amount: Decimal | None, places: int) -> str | None:
    """Write an amount like ``money_text`` with the currency's minor units looked up once per page."""
    if amount is None:
        return None
    # An amount stored with at most ``places`` decimals, as most are, needs no normalize().
    if -amount.as_tuple().exponent <= places:
        return f"{amount:.{places}f}"
    significant_places = max(-amount.normalize().as_tuple().exponent, 0)
    return f"{amount:.{max(places, significant_places)}f}"


def quantity_text(quantity: Decimal | None) -> str | None:
    """Write a quantity as a JSON string without trailing zeros or exponent, such as "2.5" or "100"."""
    if quantity is None:
        return None
    text = f"{quantity:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _product_dict(row: dict, priced, currency: str, places: int) -> dict:
    price = priced.unit_price
    return {
        "sku": row["sku"],
        "name": row["name"],
        "manufacturer": row["manufacturer"],
        "manufacturer_part_number": row["manufacturer_part_number"],
        "category": row["category_code"],
        "unspsc": row["unspsc"],
        "unit": row["unit_code"],
        "lead_time_days": row["lead_time_days"],
        "configurable": row["is_configurable"],
        "currency": currency,
        "list_price": _money_places(priced.list_price, places),
        "price": _money_places(price, places),
        "price_source": priced.source.value if priced.source is not None else None,
        "unpriced_reason": priced.reason_code.value if priced.reason_code is not None else None,
        "available": quantity_text(row["available"]),
        "updated_at": row["updated_at"],
    }


def _line_dict(line: OrderLine, currency: str) -> dict:
    return {
        "line_number": line.line_number,
        "sku": line.sku,
        "description": line.description,
        "quantity": quantity_text(line.quantity),
        "unit": line.unit.code if line.unit_id else line.unit_text,
        "status": line.status,
        "unit_price": money_text(line.unit_price, currency),
        "buyer_unit_price": money_text(line.buyer_unit_price, currency),
        "price_source": line.price_source,
        "quantity_allocated": quantity_text(line.quantity_allocated),
        "quantity_shipped": quantity_text(line.quantity_shipped),
        "quantity_invoiced": quantity_text(line.quantity_invoiced),
    }


def product_ids_by_sku(skus: Iterable[str]) -> dict[str, int]:
    return dict(Product.objects.filter(sku__in=set(skus)).values_list("sku", "id"))


QUOTE_LIST_COLUMNS = (
    "number",
    "version",
    "status",
    "status_reason",
    "currency",
    "gross_total",
    "discount_total",
    "total",
    "valid_until",
    "customer_po_number",
    "prices_out_of_date_since",
    "created_at",
    "updated_at",
)


def quote_list_rows(rows: Sequence[dict]) -> list[dict]:
    """Turn ``.values()`` rows of QUOTE_LIST_COLUMNS plus ``customer_account`` and ``order_number`` into dicts.

    Costs and margins never leave the system: they are the supplier's own figures.
    """
    return [_quote_header(row, row["customer_account"], row["order_number"]) for row in rows]


def quote_detail(quote: Quote) -> dict:
    """Return the quote's header and lines as partners see them, without costs or margins; one query for lines."""
    values = {name: getattr(quote, name) for name in QUOTE_LIST_COLUMNS}
    detail = _quote_header(values, quote.customer.account_number, quote.order.number if quote.order_id else None)
    currency = quote.currency
    detail["sent_at"] = quote.sent_at
    detail["answered_at"] = quote.answered_at
    detail["lines"] = [
        {
            "position": line.position,
            "sku": line.sku,
            "description": line.description,
            "quantity": quantity_text(line.quantity),
            "configuration": line.configuration,
            "list_price": money_text(line.list_price, currency),
            "net_price": money_text(line.net_price, currency),
            "line_total": money_text(line.line_total, currency),
        }
        for line in QuoteLine.objects.filter(quote=quote).order_by("position")
    ]
    return detail


def _quote_header(row: dict, customer_account: str, order_number: str | None) -> dict:
    currency = row["currency"]
    return {
        "number": row["number"],
        "version": row["version"],
        "customer": customer_account,
        "status": row["status"],
        "status_reason": row["status_reason"],
        "currency": currency,
        "gross_total": money_text(row["gross_total"], currency),
        "discount_total": money_text(row["discount_total"], currency),
        "total": money_text(row["total"], currency),
        "valid_until": row["valid_until"],
        "customer_po_number": row["customer_po_number"],
        "order": order_number,
        "prices_out_of_date_since": row["prices_out_of_date_since"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
