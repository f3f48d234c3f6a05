"""The order state machine's services: check, lock, transition, save with a reason, write the outbox event.

``actor`` is the acting user. ``None`` means the system itself (intake, the
close handler of exception cases, ERP pushes through an authenticated
integration), which needs no user permission. Staff entry points always pass
the signed-in user, whose transition permission is checked.
"""

import copy
import logging

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_fsm import ConcurrentTransition, can_proceed, has_transition_perm

from apps.core.history import save_with_history, write_history
from apps.core.inserts import insert_rows
from apps.core.prepared import PLACEHOLDER_ID, prepared
from apps.orders import allocation, backorders, outbox
from apps.orders.errors import OrderActionNotPermitted, OrderStateConflict
from apps.orders.models import Order, OrderStatus

logger = logging.getLogger(__name__)

# Transitions that staff may start from the admin, with the service that runs each.
STAFF_TRANSITIONS = ("confirm", "hold", "allocate", "cancel", "reject", "mark_paid")

_PAST = {
    "hold": "put on hold",
    "confirm": "confirmed",
    "allocate": "allocated",
    "cancel": "cancelled",
    "reject": "rejected",
    "mark_paid": "marked paid",
    "ship": "shipped",
    "ship_partially": "shipped in part",
    "invoice": "invoiced",
    "revise": "reopened for a change",
}


def lock_order(order: Order | int) -> Order:
    """Return the order re-read with a row lock on the order alone; the caller is inside a transaction.

    The lock is FOR NO KEY UPDATE of the order row, which excludes other writers of the order. It does
    not lock the customer row, which all orders of the customer share, and it does not block inserts of
    rows that refer to the order, which take a key-share lock. Locking the customer too made concurrent
    messages about one customer's orders wait for each other, and deadlock with such inserts.
    """
    order_id = order.pk if isinstance(order, Order) else order
    # Every order service and ERP message locks its order, so the SQL is compiled once per connection.
    found = prepared("lock-order", _locked_orders, {"order_id": PLACEHOLDER_ID}).run({"order_id": order_id})
    if not found:
        raise Order.DoesNotExist(f"Order with id {order_id} not found.")
    return found[0]


def _locked_orders(order_id: int) -> QuerySet[Order]:
    return Order.objects.select_for_update(of=("self",), no_key=True).select_related("customer").filter(pk=order_id)


def check_transition(order: Order, name: str, actor) -> None:
    """Raise unless the order's state and conditions allow the transition and the actor has its permission."""
    method = getattr(order, name)
    if actor is not None and (not actor.is_authenticated or not actor.is_active):
        raise OrderActionNotPermitted(f"Only a signed-in active user can change order {order.number}.")
    if not can_proceed(method, check_conditions=False):
        raise OrderStateConflict(
            f"Order {order.number} is {order.get_status_display()}; it cannot be {_PAST[name]} now."
        )
    if not can_proceed(method):
        raise OrderStateConflict(_condition_message(order, name))
    # django-fsm grants the permission only for a transition whose state and conditions allow it.
    if actor is not None and not has_transition_perm(method, actor):
        raise OrderActionNotPermitted(
            f"{actor.get_username()} lacks the permission to have order {order.number} {_PAST[name]}."
        )


def apply_transition(order: Order, name: str, *, actor, reason: str, extra_fields: tuple[str, ...] = ()) -> Order:
    """Run a checked transition on a locked order and save it with the reason in its history."""
    getattr(order, name)()
    order.status_reason = reason[:300]
    save_order(order, actor=actor, reason=reason, fields=("status", "status_reason", *extra_fields))
    logger.info("Order status changed", extra={"order_id": order.pk, "status": order.status, "transition": name})
    return order


def save_order(order: Order, *, actor, reason: str, fields: tuple[str, ...] | None = None) -> Order:
    """Save the order with the acting user and reason on its history row."""
    try:
        save_with_history(order, actor=actor, reason=reason, update_fields=[*fields, "updated_at"] if fields else None)
    except ConcurrentTransition:
        raise OrderStateConflict(f"Order {order.number} was changed by someone else meanwhile; reload it.") from None
    return order


def order_transition(*, order: Order, name: str, actor, reason: str = "") -> Order:
    """Run one of the staff transitions (see STAFF_TRANSITIONS) as the actor, with its side effects."""
    if name not in STAFF_TRANSITIONS:
        raise OrderStateConflict(f"{name!r} is not a transition staff can start; use one of {STAFF_TRANSITIONS}.")
    service = {
        "confirm": order_confirm,
        "hold": order_hold,
        "allocate": order_allocate,
        "cancel": order_cancel,
        "reject": order_reject,
        "mark_paid": order_mark_paid,
    }[name]
    return service(order=order, actor=actor, reason=reason)


def order_hold(*, order: Order, actor, reason: str = "") -> Order:
    """Put the order on hold; an order already on hold stays as it is."""
    with transaction.atomic():
        order = lock_order(order)
        if order.status == OrderStatus.ON_HOLD:
            return order
        check_transition(order, "hold", actor)

        apply_transition(order, "hold", actor=actor, reason=reason or "Put on hold")

        outbox.record_event(order=order, event="order.on_hold", payload={"reason": order.status_reason})
        return order


def order_confirm(*, order: Order, actor, reason: str = "", allocate: bool = True) -> Order:
    """Confirm an order that no blocking case holds, tell the buyer, and allocate it unless it is a test order."""
    with transaction.atomic():
        order = lock_order(order)
        check_transition(order, "confirm", actor)

        apply_transition(order, "confirm", actor=actor, reason=reason or "Confirmed")

        outbox.record_event(order=order, event="order.confirmed", payload=outbox.confirmation_payload(order))
        if allocate and not order.is_test:
            allocate_or_hold(order=order, actor=actor)
        return order


def order_allocate(*, order: Order, actor, reason: str = "") -> Order:
    """Allocate a confirmed order's stock; without enough stock it waits in the backorder queue."""
    with transaction.atomic():
        order = lock_order(order)
        check_transition(order, "allocate", actor)

        allocate_or_hold(order=order, actor=actor)
        return order


def order_cancel(*, order: Order, actor, reason: str = "") -> Order:
    """Cancel an order that has not shipped, release its stock and tell the buyer."""
    with transaction.atomic():
        order = lock_order(order)
        check_transition(order, "cancel", actor)

        allocation.release(order=order, actor=actor)
        apply_transition(order, "cancel", actor=actor, reason=reason or "Cancelled")

        outbox.record_event(order=order, event="order.cancelled", payload={"reason": order.status_reason})
        return order


def order_reject(*, order: Order, actor, reason: str = "") -> Order:
    """Reject a received order that cannot go on, and tell the buyer."""
    with transaction.atomic():
        order = lock_order(order)
        check_transition(order, "reject", actor)

        apply_transition(order, "reject", actor=actor, reason=reason or "Rejected")

        outbox.record_event(order=order, event="order.rejected", payload={"reason": order.status_reason})
        return order


def order_mark_paid(*, order: Order, actor, reason: str = "") -> Order:
    """Mark an invoiced order paid and tell the buyer."""
    with transaction.atomic():
        order = lock_order(order)
        check_transition(order, "mark_paid", actor)

        apply_transition(order, "mark_paid", actor=actor, reason=reason or "Paid")

        outbox.record_event(order=order, event="order.paid", payload={})
        return order


def allocate_or_hold(*, order: Order, actor, lines: list | None = None, check_actor: bool = True) -> bool:
    """Allocate a locked, confirmed order; without enough stock, put it in the backorder queue.

    ``lines`` are the order's current lines when the caller has them. Returns whether the order was allocated.
    With ``check_actor=False`` the actor is recorded in the history but needs no allocate permission.
    """
    shortages = allocation.reserve(order=order, actor=actor, lines=lines)
    if shortages:
        backorders.enqueue(order=order, shortages=shortages, actor=actor)
        return False

    check_transition(order, "allocate", actor if check_actor else None)
    apply_transition(order, "allocate", actor=actor, reason="Allocated", extra_fields=("warehouse",))
    backorders.leave_queue(order=order, actor=actor, reason="Allocated")
    return True


class HistorySteps:
    """The states an unsaved order passes through, so that one insert writes the order and a history row each.

    ``record`` takes a snapshot after each transition. ``save`` inserts the
    order (or updates it, when a caller inserted it early) without
    simple-history's own row, then the snapshots' rows in one statement, the
    first as created and the others as changed.
    """

    def __init__(self, order: Order, *, actor) -> None:
        self.order = order
        self.actor = actor
        self.snapshots: list[tuple[Order, str]] = []

    def record(self, reason: str) -> None:
        snapshot = copy.copy(self.order)
        snapshot._history_date = timezone.now()
        self.snapshots.append((snapshot, reason))

    def save(self) -> None:
        order = self.order
        if order.pk is None:
            insert_rows([order])
        else:
            order.skip_history_when_saving = True
            try:
                order.save()
            finally:
                del order.skip_history_when_saving
        order._update_initial_state()
        rows = []
        for index, (snapshot, reason) in enumerate(self.snapshots):
            snapshot.pk = order.pk
            snapshot.created_at = order.created_at
            snapshot.updated_at = order.updated_at
            rows.append((snapshot, "~" if index else "+", reason))
        write_history(Order, rows, actor=self.actor)


def _condition_message(order: Order, name: str) -> str:
    if name == "confirm":
        return f"Order {order.number} has open blocking exception cases; resolve them before confirming it."
    if name == "allocate":
        return f"Order {order.number} is a test order; test orders are never allocated."
    return f"Order {order.number} cannot be {_PAST[name]} now."
