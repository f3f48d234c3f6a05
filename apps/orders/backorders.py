"""The backorder queue: confirmed orders short of stock wait here, and arriving stock allocates them in turn.

Order of service: the customer's service tier (platinum first), then the
order's age (``Order.created_at``, then id). Each order is allocated whole
or not at all, like any allocation. An order that cannot be filled claims
the products it needs for the rest of the pass. A later order that needs
any of them waits too, so that a lower tier never takes stock that an
earlier order in the queue is waiting for.

Locks, in this order, which is the order every other path takes: the
waiting orders' rows in primary-key order, then the stock rows in
primary-key order (``allocation.plan_reservation``). A stock import takes the
order locks before it writes its batch (``QueueListener``), so an arrival
and its allocation are one transaction. Two arrivals then wait for each
other at the first order row instead of crossing at the stock rows.
"""

import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.orders import allocation, transitions
from apps.orders.errors import OrderError
from apps.orders.models import BackorderEntry, BackorderStatus, LineStatus, Order, OrderStatus

logger = logging.getLogger(__name__)


def enqueue(*, order: Order, shortages: list[dict], actor) -> BackorderEntry:
    """Put a locked, confirmed order in the queue, or refresh its shortages when it already waits."""
    entry = BackorderEntry.objects.filter(order=order).first()
    now = timezone.now()
    if entry is None:
        entry = BackorderEntry(order=order, queued_at=now)
    elif entry.status != BackorderStatus.WAITING:
        entry.queued_at = now
        entry.finished_at = None
    entry.status = BackorderStatus.WAITING
    entry.shortages = shortages
    entry.status_reason = "Not enough stock to allocate"
    entry._history_user = actor
    entry.save()
    logger.info("Order waits for stock", extra={"order_id": order.pk, "shortages": len(shortages)})
    return entry


def leave_queue(*, order: Order, actor, reason: str) -> None:
    """Mark the order's waiting entry allocated, if it has one; call when the order was allocated otherwise."""
    entry = BackorderEntry.objects.filter(order=order, status=BackorderStatus.WAITING).first()
    if entry is not None:
        _finish(entry, BackorderStatus.ALLOCATED, reason, actor)


def waiting_queue() -> QuerySet:
    """Return the waiting entries in the order the queue is served."""
    return (
        BackorderEntry.objects.filter(status=BackorderStatus.WAITING)
        .select_related("order", "order__customer")
        .order_by("order__customer__service_tier", "order__created_at", "order__id")
    )


def lock_waiting_orders() -> list[int]:
    """Lock the rows of every order waiting in the queue, in primary-key order; return their ids.

    The caller is inside a transaction and takes no stock row lock before this.
    """
    order_ids = list(BackorderEntry.objects.filter(status=BackorderStatus.WAITING).values_list("order_id", flat=True))
    if not order_ids:
        return []
    return list(
        Order.objects.select_for_update(of=("self",))
        .filter(pk__in=order_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def allocate_backorders(*, product_ids: Iterable[int] | None = None, actor=None) -> list[Order]:
    """Allocate the waiting orders from stock on hand, in queue order, in one transaction; return those allocated.

    ``product_ids`` limits the pass to orders that need one of those products
    (the stock that arrived); None tries every waiting order.
    """
    with transaction.atomic():
        lock_waiting_orders()
        return serve_queue(product_ids=product_ids, actor=actor)


def serve_queue(*, product_ids: Iterable[int] | None, actor) -> list[Order]:
    """Allocate the waiting orders whose rows the caller has locked (``lock_waiting_orders``)."""
    arrived = set(product_ids) if product_ids is not None else None
    claimed: set[int] = set()
    allocated = []
    now = timezone.now()
    for entry in waiting_queue():
        order = entry.order
        if order.status != OrderStatus.CONFIRMED:
            _finish(entry, BackorderStatus.WITHDRAWN, f"Order is {order.get_status_display()}", actor)
            continue
        lines = list(order.lines.filter(status=LineStatus.OPEN, product__isnull=False).order_by("position"))
        needed = {line.product_id for line in lines}
        if arrived is not None and not needed & arrived:
            continue
        if needed & claimed:
            # An order earlier in the queue waits for one of these products.
            continue

        entry.checked_at = now
        try:
            # A savepoint per order, so that an order that fails leaves the stock import and the others alone.
            with transaction.atomic():
                filled = _allocate(entry, order, lines, actor)
        except OrderError as error:
            logger.warning(
                "Backorder allocation failed", extra={"order_id": order.pk, "entry_id": entry.pk, "error": str(error)}
            )
            filled = False
        if filled:
            allocated.append(order)
        else:
            claimed |= needed
    if allocated:
        logger.info("Backorder queue allocated", extra={"order_ids": [order.pk for order in allocated]})
    return allocated


def _allocate(entry: BackorderEntry, order: Order, lines: list, actor) -> bool:
    """Allocate a locked, waiting order whole and take it off the queue; record its shortages when it cannot."""
    reservation = allocation.plan_reservation(order=order, lines=lines)
    if reservation.shortages:
        entry.shortages = reservation.shortages
        entry._history_user = actor
        entry.save(update_fields=["checked_at", "shortages", "updated_at"])
        return False

    allocation.assign_reservation(reservation, order=order)
    allocation.write_reservation(reservation, actor=actor)
    transitions.check_transition(order, "allocate", None)
    transitions.apply_transition(
        order, "allocate", actor=actor, reason="Allocated from the backorder queue", extra_fields=("warehouse",)
    )
    _finish(entry, BackorderStatus.ALLOCATED, "Allocated when stock arrived", actor)
    return True


class QueueListener:
    """The stock import's part: lock the waiting orders before a batch writes, allocate them after it wrote."""

    def __init__(self) -> None:
        self.locked = bool(lock_waiting_orders())

    def written(self, product_ids: set[int]) -> None:
        if self.locked and product_ids:
            serve_queue(product_ids=product_ids, actor=None)


def _finish(entry: BackorderEntry, status: str, reason: str, actor) -> None:
    entry.status = status
    entry.status_reason = reason[:300]
    entry.finished_at = timezone.now()
    entry._history_user = actor
    entry.save()
