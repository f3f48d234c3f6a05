"""Resolution actions for the cases that order checks open, registered with the exceptions app.

Each action runs inside ``case_resolve``'s transaction and changes only the
order line or customer the case is about. The close handler then confirms the
order once no blocking case holds it. An action raises ``ResolutionFailed``
when the case no longer fits the order (the line is gone, the order moved on).
"""

import logging

from django.contrib.contenttypes.models import ContentType

from apps.catalog.models import Product
from apps.contracts.pricing import price_product
from apps.exceptions.errors import ResolutionFailed
from apps.exceptions.models import CaseKind
from apps.exceptions.registry import register_close_handler, register_current_facts, register_resolution
from apps.orders.credit import exposure_detail
from apps.orders.models import CHANGEABLE_STATES, LineStatus, Order, OrderLine

logger = logging.getLogger(__name__)

LINE_KINDS = (CaseKind.UNKNOWN_PRODUCT, CaseKind.UNIT_OF_MEASURE, CaseKind.PRICE_MISMATCH, CaseKind.OUT_OF_STOCK)


def register() -> None:
    """Register every order resolution and the close handler; called once from ``OrdersConfig.ready``."""
    from apps.orders.services import order_continue_after_case

    register_resolution(
        CaseKind.PRICE_MISMATCH,
        "use_buyer_price",
        "Accept the buyer's price",
        describe=_describe_buyer_price,
        perform=_use_buyer_price,
    )
    register_resolution(
        CaseKind.PRICE_MISMATCH,
        "keep_contract_price",
        "Keep our contract price",
        describe=lambda case: (
            f"The line keeps our price of {case.facts.get('our_price')} {case.facts.get('currency')}; "
            "the confirmation shows the buyer the changed price."
        ),
        perform=_keep_contract_price,
    )
    register_resolution(
        CaseKind.UNKNOWN_PRODUCT,
        "substitute_product",
        "Substitute another product",
        describe=lambda case: (
            f"Replaces SKU {case.facts.get('sku')} on line {case.facts.get('line_number')} with "
            "the product whose SKU you write as the note's first word."
        ),
        perform=_substitute_product,
    )
    register_resolution(
        CaseKind.UNIT_OF_MEASURE,
        "accept_product_unit",
        "The buyer's unit means ours",
        describe=lambda case: (
            f"Takes {case.facts.get('unit_received')!r} as {case.facts.get('product_unit')} for "
            "this line; the quantity stays as sent."
        ),
        perform=_accept_product_unit,
    )
    register_resolution(
        CaseKind.OUT_OF_STOCK,
        "backorder_line",
        "Backorder the line",
        describe=lambda case: (
            f"Line {case.facts.get('line_number')} is confirmed as backordered and left out of "
            "allocation until stock arrives."
        ),
        perform=_backorder_line,
    )
    register_resolution(
        CaseKind.OUT_OF_STOCK,
        "wait_for_stock",
        "Wait in the backorder queue",
        describe=lambda case: (
            "Once no other case holds the order, it is confirmed and waits in the backorder queue; stock that "
            "arrives allocates it whole, by the customer's service tier and then by the order's age."
        ),
        perform=_record_only,
    )
    for kind in LINE_KINDS:
        register_resolution(
            kind,
            "cancel_line",
            "Cancel the line",
            describe=lambda case: (
                f"Cancels line {case.facts.get('line_number')} ({case.facts.get('sku')}); "
                "the rest of the order goes on."
            ),
            perform=_cancel_line,
        )
    register_resolution(
        CaseKind.CREDIT,
        "release_credit_hold",
        "Release the credit hold",
        describe=lambda case: f"Clears the credit hold of customer {case.customer_account}; their orders go on.",
        perform=_release_credit_hold,
    )
    register_resolution(
        CaseKind.CREDIT,
        "approve_over_limit",
        "Approve this order over the credit limit",
        describe=lambda case: (
            f"Lets this order go on although the exposure exceeds the limit of "
            f"{case.facts.get('credit_limit')} {case.facts.get('currency')}."
        ),
        perform=_record_only,
    )
    register_resolution(
        CaseKind.TAX_MISMATCH,
        "keep_our_tax",
        "Keep our tax",
        describe=lambda case: f"The order keeps our tax of {case.facts.get('our_tax')} {case.facts.get('currency')}.",
        perform=_record_only,
    )
    register_resolution(
        CaseKind.DUPLICATE_ORDER,
        "keep_order",
        "Keep the existing order",
        describe=lambda case: "The existing order goes on; the buyer was told to send an update instead.",
        perform=_record_only,
    )
    register_close_handler("orders.order", order_continue_after_case)
    register_current_facts(CaseKind.CREDIT, _current_credit_facts)


def _current_credit_facts(case) -> dict:
    """Return the customer's credit limit, hold and exposure as they are now, for the credit case's page.

    The exposure leaves out the case's own order, like the check that opened the case.
    """
    customer = case.customer
    if customer is None:
        return {}
    about_order = case.content_type_id == ContentType.objects.get_for_model(Order).pk
    order = Order.objects.filter(pk=case.object_id).first() if about_order else None
    exposure = exposure_detail(customer, excluding=order)
    facts = {
        "credit_limit": customer.credit_limit,
        "credit_hold": customer.credit_hold,
        "open_orders_not_invoiced": exposure.open_orders,
        "unpaid_invoices": exposure.unpaid_invoices,
        "exposure": exposure.total,
        "currency": exposure.currency,
    }
    if order is not None:
        facts["order_total"] = order.total
        facts["room_left"] = customer.credit_limit - exposure.total - order.total
    return facts


def _describe_buyer_price(case) -> str:
    return (
        f"Line {case.facts.get('line_number')} is priced at the buyer's {case.facts.get('buyer_price')} "
        f"{case.facts.get('buyer_currency') or case.facts.get('currency')} instead of our "
        f"{case.facts.get('our_price')}."
    )


def _use_buyer_price(case, actor, note) -> None:
    line = _line_of(case)
    if line.buyer_unit_price is None:
        raise ResolutionFailed(f"Line {line.line_number} has no buyer's price to accept.")
    line.unit_price = line.buyer_unit_price
    line.price_source = "buyer_price"
    _save_line(line, actor, "Buyer's price accepted", ["unit_price", "price_source"])


def _keep_contract_price(case, actor, note) -> None:
    line = _line_of(case)
    if line.contract_unit_price is None:
        raise ResolutionFailed(f"Line {line.line_number} has no contract price; accept the buyer's or cancel the line.")
    line.unit_price = line.contract_unit_price
    _save_line(line, actor, "Contract price kept", ["unit_price"])


def _substitute_product(case, actor, note) -> None:
    line = _line_of(case)
    sku = (note or "").split()[0] if (note or "").split() else ""
    if not sku:
        raise ResolutionFailed("Write the substitute product's SKU as the first word of the note.")
    product = Product.objects.filter(sku=sku, is_active=True).select_related("unit").first()
    if product is None:
        raise ResolutionFailed(f"No active product has SKU {sku!r}; check the SKU in the note.")
    order = line.order
    priced = price_product(customer=order.customer, product=product, quantity=line.quantity)
    if not priced.priced:
        raise ResolutionFailed(f"{sku} cannot be sold to this customer: {priced.reason}")
    line.product = product
    line.unit = product.unit
    line.contract_unit_price = priced.unit_price
    line.unit_price = priced.unit_price
    line.price_source = str(priced.source)
    _save_line(
        line, actor, f"Substituted by {sku}", ["product", "unit", "contract_unit_price", "unit_price", "price_source"]
    )


def _accept_product_unit(case, actor, note) -> None:
    line = _line_of(case)
    if line.product is None:
        raise ResolutionFailed(f"Line {line.line_number} has no product; resolve the product first.")
    line.unit = line.product.unit
    _save_line(line, actor, "Buyer's unit taken as the product's", ["unit"])


def _backorder_line(case, actor, note) -> None:
    line = _line_of(case)
    line.status = LineStatus.BACKORDERED
    _save_line(line, actor, "Backordered", ["status"])


def _cancel_line(case, actor, note) -> None:
    line = _line_of(case)
    line.status = LineStatus.CANCELLED
    _save_line(line, actor, "Cancelled by resolution", ["status"])


def _release_credit_hold(case, actor, note) -> None:
    customer = case.customer
    if customer is None:
        raise ResolutionFailed("The case names no customer.")
    if not customer.credit_hold:
        return
    customer.credit_hold = False
    customer._history_user = actor
    customer._change_reason = f"Credit hold released in case {case.pk}"
    customer.save(update_fields=["credit_hold", "updated_at"])


def _record_only(case, actor, note) -> None:
    """Change nothing beyond the resolution itself, which records the user and note."""


def _order_of(case) -> Order:
    content_type = ContentType.objects.get_for_model(Order)
    if case.content_type_id != content_type.pk:
        raise ResolutionFailed(f"Case {case.pk} is not about an order, so this action does not apply.")
    order = Order.objects.select_for_update().filter(pk=case.object_id).first()
    if order is None:
        raise ResolutionFailed(f"The order of case {case.pk} no longer exists.")
    if order.status not in CHANGEABLE_STATES:
        raise ResolutionFailed(f"Order {order.number} is {order.get_status_display()}; its lines cannot change now.")
    return order


def _line_of(case) -> OrderLine:
    order = _order_of(case)
    position = case.facts.get("line_position")
    line = (
        OrderLine.objects.select_related("product", "product__unit", "order", "order__customer")
        .filter(order=order, position=position)
        .first()
    )
    if line is None:
        raise ResolutionFailed(f"Order {order.number} has no line at position {position}.")
    return line


def _save_line(line: OrderLine, actor, reason: str, fields: list[str]) -> None:
    line._history_user = actor
    line._change_reason = reason
    line.save(update_fields=[*fields, "updated_at"])
    logger.info("Order line resolved", extra={"line_id": line.pk, "order_id": line.order_id, "action": reason})
