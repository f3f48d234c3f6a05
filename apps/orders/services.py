"""Order operations that entry points call: intake, transitions, shipments, invoices, payments, and case closing.

Intake lives in ``intake``, the state machine's services in ``transitions``,
and shipments, invoices and payments in ``fulfilment``; all are re-exported
here so that callers import one module.
"""

import logging

from apps.exceptions.selectors import has_blocking_open_cases
from apps.orders import outbox, validation
from apps.orders.backorders import allocate_backorders
from apps.orders.fulfilment import invoice_record, payment_record, shipment_record
from apps.orders.intake import IntakeResult, order_intake
from apps.orders.models import Order, OrderStatus
from apps.orders.transitions import (
    STAFF_TRANSITIONS,
    allocate_or_hold,
    apply_transition,
    check_transition,
    lock_order,
    order_allocate,
    order_cancel,
    order_confirm,
    order_hold,
    order_mark_paid,
    order_reject,
    order_transition,
    save_order,
)

logger = logging.getLogger(__name__)

__all__ = [
    "STAFF_TRANSITIONS",
    "IntakeResult",
    "allocate_backorders",
    "invoice_record",
    "order_allocate",
    "order_cancel",
    "order_confirm",
    "order_continue_after_case",
    "order_hold",
    "order_intake",
    "order_mark_paid",
    "order_reject",
    "order_transition",
    "payment_record",
    "shipment_record",
]


def order_continue_after_case(case, actor) -> None:
    """Close handler for cases about orders: confirm and allocate a held order once no blocking case holds it."""
    order = Order.objects.filter(pk=case.object_id).first()
    if order is None:
        return
    order = lock_order(order)
    if order.status != OrderStatus.ON_HOLD or has_blocking_open_cases(order):
        return
    _recompute_totals(order, actor)
    check_transition(order, "confirm", None)
    apply_transition(order, "confirm", actor=actor, reason=f"Case {case.pk} closed; nothing holds the order")
    outbox.record_event(order=order, event="order.confirmed", payload=outbox.confirmation_payload(order))
    if not order.is_test:
        # Allocation is the system's step, like confirming above: the person who closed the
        # case (sales or finance) need not hold orders.allocate_order. The history still names them.
        allocate_or_hold(order=order, actor=actor, check_actor=False)


def _recompute_totals(order: Order, actor) -> None:
    validation.recompute_totals(order)
    save_order(order, actor=actor, reason="Totals recomputed", fields=("subtotal", "tax_total", "total"))
