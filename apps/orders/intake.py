"""Order intake: the one service every channel calls to create, change or cancel an order.

Idempotency: the first thing intake writes is the ``InboundDocument`` row,
unique per (source, document id). A second request with the same id, even
one running at the same moment, waits for the first transaction on that
unique index and then returns the first result again, creating nothing.

A new document whose PO number the customer already used (under another
document id) is refused with ``duplicate_po_number``; when its content
differs from the existing order, a duplicate-order case is opened on that
order as well. An update replaces the whole order image (lines left out are
cancelled), runs the checks again and dismisses the cases that no longer
apply; a delete cancels. Both work only while nothing has shipped. A
test-mode document makes a test order: its PO numbers are kept apart, and
it is never allocated or fulfilled.
"""

import copy
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from apps.catalog.models import Product
from apps.core.history import write_history
from apps.core.inserts import insert_rows, update_row
from apps.core.prepared import placeholder_text, run_for_list
from apps.exceptions.models import CaseKind
from apps.exceptions.selectors import has_blocking_open_cases, open_cases_for
from apps.exceptions.services import case_open, case_supersede
from apps.orders import allocation, backorders, outbox, quoted, transitions, validation
from apps.orders.errors import (
    DuplicatePurchaseOrder,
    IdempotencyKeyReused,
    InvalidOrderInput,
    OrderError,
    OrderStateConflict,
    UnknownOrderDocument,
)
from apps.orders.inputs import OrderInput, ParsedLine, ParsedOrder, parse_order
from apps.orders.intake_slots import wait_for_intake_slot
from apps.orders.models import (
    CHANGEABLE_STATES,
    Channel,
    DocumentOperation,
    InboundDocument,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
)

logger = logging.getLogger(__name__)

# Checks that validation runs again on every update, named as in the cases' cause keys.
_RECHECKED = frozenset({"product", "unit", "price", "stock", "credit_hold", "credit_limit", "tax"})


@dataclass(frozen=True)
class IntakeResult:
    """The response to an intake request: a status (200, 400, 409…), a code and message, and the order if any.

    ``replayed`` is True when the document was taken in before and this is the first response again.
    """

    status: int
    code: str
    message: str
    order: Order | None
    document: InboundDocument
    replayed: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def order_intake(*, request: OrderInput, actor=None) -> IntakeResult:
    """Take in a new, changed or cancelled order from any channel; see the module docstring for the rules."""
    if request.operation not in DocumentOperation.values:
        raise InvalidOrderInput(
            f"Operation {request.operation!r} is unknown; use one of {', '.join(DocumentOperation.values)}."
        )
    if request.channel not in Channel.values:
        raise InvalidOrderInput(f"Channel {request.channel!r} is unknown; use one of {', '.join(Channel.values)}.")
    if not request.document_id or len(request.document_id) > 250:
        raise InvalidOrderInput(
            "Every order document needs a document id (payloadID or idempotency key) of 1 to 250 characters."
        )

    with transaction.atomic():
        wait_for_intake_slot()
        document, created = _claim_document(request)
        if not created:
            return _replay(document, request)

        try:
            try:
                order, status, message = _dispatch_in_savepoint(request, document, actor)
            except IntegrityError as error:
                # The savepoint rolled back the new order that another order's PO number blocked.
                _raise_duplicate_after_insert(request, error)
        except InvalidOrderInput as error:
            order = _record_rejection(request, error) if request.operation == DocumentOperation.NEW else None
            return _answer(document, order, 400, error.code, error.message, reasons=error.reasons)
        except OrderError as error:
            # Cases about the refusal are opened here, after the savepoint rolled the attempt back.
            for follow_up in getattr(error, "follow_ups", ()):
                follow_up()
            return _answer(document, _existing_order(request, error), error.status, error.code, error.message)
        return _answer(document, order, status, "ok", message)


def _claim_document(request: OrderInput) -> tuple[InboundDocument, bool]:
    """Insert the document's row, or return the row another request inserted first (waiting for its commit).

    ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` waits for a concurrent
    insert of the same (source, document id) to commit, then inserts nothing,
    so no savepoint is needed. It goes through ``QuerySet._insert``, the
    private method ``bulk_create`` uses, because ``bulk_create`` does not
    return the id of a row inserted with ``ignore_conflicts``.
    """
    document = InboundDocument(
        source=request.source,
        document_id=request.document_id,
        channel=request.channel,
        operation=request.operation,
        customer=request.customer,
        po_number=(request.po_number or "")[:64],
        refers_to=(request.refers_to or "")[:250],
        body=request.body,
        content_hash=_content_hash(request),
    )
    columns = [column for column in InboundDocument._meta.concrete_fields if not column.primary_key]
    for column in columns:
        setattr(document, column.attname, column.pre_save(document, add=True))
    (row,) = InboundDocument.objects._insert(
        [document], fields=columns, returning_fields=[InboundDocument._meta.pk], on_conflict=OnConflict.IGNORE
    )
    if row is not None:
        document.pk = row[0]
        document._state.adding = False
        return document, True
    document = InboundDocument.objects.select_related("order").get(
        source=request.source, document_id=request.document_id
    )
    return document, False


def _replay(document: InboundDocument, request: OrderInput) -> IntakeResult:
    if request.channel == Channel.API and document.content_hash != _content_hash(request):
        raise IdempotencyKeyReused(
            f"Idempotency key {request.document_id!r} was used for another request; use a new key for a new order."
        )
    logger.info("Order document seen before", extra={"document_id": document.document_id, "source": document.source})
    status, _, code = document.result_code.partition(":")
    return IntakeResult(
        status=int(status or 200),
        code=code or "ok",
        message=document.result_message,
        order=document.order,
        document=document,
        replayed=True,
    )


def _dispatch_in_savepoint(request: OrderInput, document: InboundDocument, actor) -> tuple[Order, int, str]:
    """Run the request in a savepoint; a new order whose stock was taken meanwhile runs again with the locks first.

    A new order is planned on stock rows read without their locks, and they
    are locked only by its last write (``allocation.write_reservation``).
    When the locked rows no longer cover the plan, the savepoint rolls the
    attempt back and the second run locks the rows before planning, as an
    update does. That
    second run inserts its order row before it locks the stock rows, as the
    first does, so it cannot deadlock with a document of the same PO number
    that has inserted its order and waits for the rows (``_claim_po_number``).
    """
    try:
        with transaction.atomic():
            return _dispatch(request, document, actor)
    except allocation.StockChanged:
        logger.info("Order stock changed after planning", extra={"document_id": request.document_id})
    with transaction.atomic():
        return _dispatch(request, document, actor, plan_unlocked=False)


def _dispatch(
    request: OrderInput, document: InboundDocument, actor, *, plan_unlocked: bool = True
) -> tuple[Order, int, str]:
    parsed, reasons = parse_order(request)
    if request.operation == DocumentOperation.DELETE:
        return _delete(request, actor)
    if parsed is None:
        raise InvalidOrderInput(
            f"The order cannot be read: {'; '.join(reasons[:5])}" + (" …" if len(reasons) > 5 else ""),
            reasons=reasons,
        )
    if request.operation == DocumentOperation.NEW:
        return _create(request, parsed, actor, plan_unlocked=plan_unlocked)
    return _update(request, parsed, actor)


def _create(request: OrderInput, parsed: ParsedOrder, actor, *, plan_unlocked: bool) -> tuple[Order, int, str]:
    """Check, confirm and allocate a new order in memory, then insert it, its lines and their history once.

    Each state the order passes through still gets its own history row; the
    rows are written together. Cases the checks open wait until the order
    row exists; such an order then goes on as an update of the saved row.
    With ``plan_unlocked`` the allocation is planned on stock rows read
    without their locks, which the stock write at the end locks. That write
    raises StockChanged when a planned row no longer covers its quantity.
    """
    order = Order(
        number=_new_number(),
        customer=request.customer,
        contract=request.contract,
        channel=request.channel,
        source=request.source,
        is_test=request.is_test,
        po_number=request.po_number.strip(),
        payload_id=request.document_id,
        order_date=request.order_date,
        requested_delivery_date=request.requested_delivery_date,
        currency=parsed.currency,
        buyer_total=parsed.total,
        buyer_tax=parsed.tax,
        status_reason="Received",
        **_header_fields(request),
    )
    # The lines are checked and priced before they are inserted, so that each is written once.
    lines = _build_lines(order, parsed)
    if request.cart is not None:
        validation.reconcile_cart(order=order, lines=lines, cart=request.cart)
    validation.validate_order(order=order, lines=lines)
    steps = transitions.HistorySteps(order, actor=actor)
    steps.record(f"Received by {request.channel}")
    reservation = None
    if not validation.has_pending_cases(order):
        if not plan_unlocked and not order.is_test:
            _claim_po_number(order)
        reservation = _confirm_and_plan(order, lines, steps, lock=not plan_unlocked)

    _insert_order(order, steps)
    _insert_lines(lines, actor, allocated=reservation is not None and not reservation.shortages)
    quoted.order_taken_in(order=order, lines=lines)

    if validation.has_pending_cases(order):
        cases = validation.open_pending_cases(order)
        # Only the cases just opened can hold an order that this transaction inserted.
        _continue(order, actor, lines, blocked=any(case.blocking and case.is_active for case in cases))
    elif order.status in (OrderStatus.CONFIRMED, OrderStatus.ALLOCATED):
        outbox.record_event(order=order, event="order.confirmed", payload=outbox.confirmation_payload(order, lines))
        if reservation is not None and reservation.shortages:
            backorders.enqueue(order=order, shortages=reservation.shortages, actor=actor)
        elif reservation is not None:
            # Last, so that the stock rows stay locked only until the commit: may raise StockChanged.
            allocation.write_reservation(reservation, actor=actor, lines_written=True)
    return order, 200, f"Order {order.number} received; status {order.get_status_display()}."


def _claim_po_number(order: Order) -> None:
    """Insert the order row, still as received, before the stock rows are locked; ``_insert_order`` updates it.

    Every new order takes the unique index entry of its PO number (the order
    insert) before the stock row locks. A run that locked the rows first
    could wait for that entry while the document holding it waits for the
    rows, and PostgreSQL would fail one of the two as a deadlock.
    """
    insert_rows([order])
    order._update_initial_state()


def _confirm_and_plan(order: Order, lines: list[OrderLine], steps, *, lock: bool) -> "allocation.Reservation | None":
    """Confirm the unsaved order that passed every check and, unless it is a test order, plan its allocation.

    Without ``lock`` the plan is made on stock rows read without their
    locks. Shortages are always decided under the locks, so a plan that
    falls short is made again on the locked rows, which then stay locked
    until the transaction ends. Returns the reservation, assigned to the
    lines when it covers them, or None for a test order.
    """
    order.checked_unblocked = True
    transitions.check_transition(order, "confirm", None)
    order.confirm()
    order.checked_unblocked = False
    order.status_reason = "All checks passed"
    steps.record("All checks passed")
    if order.is_test:
        return None

    # The stock check of validation read the rows without their locks.
    unlocked_stock = None if lock else getattr(order, "unlocked_stock", None)
    reservation = allocation.plan_reservation(order=order, lines=lines, unlocked_stock=unlocked_stock)
    if reservation.shortages and not reservation.locked:
        reservation = allocation.plan_reservation(order=order, lines=lines)
    if reservation.shortages:
        return reservation
    allocation.assign_reservation(reservation, order=order)
    transitions.check_transition(order, "allocate", None)
    order.allocate()
    order.status_reason = "Allocated"
    steps.record("Allocated")
    return reservation


def _insert_order(order: Order, steps) -> None:
    """Insert the order row and one history row per state it passed.

    A PO number the customer already used fails here on the unique index,
    also between two documents that arrive at once. ``order_intake`` turns
    that IntegrityError into the duplicate PO number response.
    """
    steps.save()
    logger.info("Order inserted", extra={"order_id": order.pk, "status": order.status})


def _raise_duplicate_after_insert(request: OrderInput, error: IntegrityError) -> None:
    """Raise the duplicate PO number error for a new order whose insert hit the unique PO number index.

    Any other integrity error is raised again as it is.
    """
    existing = None
    if request.operation == DocumentOperation.NEW:
        existing = _order_with_po(request.customer, request.po_number.strip(), request.is_test)
    if existing is None:
        raise error
    parsed, _ = parse_order(request)
    _refuse_duplicate(request, parsed, existing)


def _insert_lines(lines: list[OrderLine], actor, *, allocated: bool) -> None:
    """Insert the lines with their history: a row as received and, when ``allocated``, a row as allocated."""
    now = timezone.now()
    for line in lines:
        line.created_at = line.updated_at = now
    insert_rows(lines)

    received_rows = []
    allocated_rows = []
    for line in lines:
        if allocated and line.quantity_allocated:
            snapshot = copy.copy(line)
            snapshot.quantity_allocated = Decimal(0)
            received_rows.append((snapshot, "+", "Received"))
            allocated_rows.append((line, "~", "Allocated"))
        else:
            received_rows.append((line, "+", "Received"))
    write_history(OrderLine, received_rows + allocated_rows, actor=actor, date=now)


def _update(request: OrderInput, parsed: ParsedOrder, actor) -> tuple[Order, int, str]:
    order = _referenced_order(request)
    _check_changeable(order, "update")
    if order.po_number != request.po_number.strip():
        raise InvalidOrderInput(
            f"The update carries PO number {request.po_number!r}, but the order it refers to has "
            f"{order.po_number!r}; an update cannot change the PO number."
        )
    previous_cases = list(open_cases_for(order))
    allocation.release(order=order, actor=actor)
    if order.status != OrderStatus.RECEIVED:
        transitions.check_transition(order, "revise", None)
        transitions.apply_transition(order, "revise", actor=actor, reason=f"Changed by {request.document_id}")

    # The update is the whole new image: matching line numbers are changed, the rest replaced.
    new_lines = {line.source.line_number.strip() or str(line.position): line for line in parsed.lines}
    old_lines = list(order.lines.all())
    next_position = max((line.position for line in old_lines), default=0) + 1
    kept = []
    for line in old_lines:
        incoming = new_lines.pop(line.line_number, None)
        if incoming is None:
            line.status = LineStatus.CANCELLED
        else:
            _fill_line(line, incoming, _products_by_sku([incoming.source.sku]))
            line.status = LineStatus.OPEN
        line._history_user = actor
        line.save()
        kept.append(line)
    added = []
    products = _products_by_sku([line.source.sku for line in new_lines.values()])
    for incoming in new_lines.values():
        line = OrderLine(order=order, position=next_position)
        next_position += 1
        _fill_line(line, incoming, products)
        added.append(line)
    if added:
        bulk_create_with_history(added, OrderLine, batch_size=500, default_user=actor)

    for name, value in _header_fields(request).items():
        setattr(order, name, value)
    order.payload_id = request.document_id
    order.requested_delivery_date = request.requested_delivery_date
    order.buyer_total = parsed.total
    order.buyer_tax = parsed.tax
    order.currency = parsed.currency
    transitions.save_order(order, actor=actor, reason=f"Changed by document {request.document_id}")

    lines = list(order.lines.select_related("product", "product__unit", "product__category"))
    failing = validation.validate_order(order=order, lines=lines)
    quoted.order_taken_in(order=order, lines=[line for line in lines if line.status != LineStatus.CANCELLED])
    if request.cart is not None:
        active = [line for line in lines if line.status != LineStatus.CANCELLED]
        failing += validation.reconcile_cart(order=order, lines=active, cart=request.cart)
    _supersede_stale_cases(
        previous_cases,
        still_failing={case.pk for case in failing},
        lines=lines,
        document_id=request.document_id,
        cart_checked=request.cart is not None,
    )
    _continue(order, actor, lines)
    return order, 200, f"Order {order.number} changed; status {order.get_status_display()}."


def _delete(request: OrderInput, actor) -> tuple[Order, int, str]:
    order = _referenced_order(request)
    if order.status == OrderStatus.CANCELLED:
        return order, 200, f"Order {order.number} was already cancelled."
    _check_changeable(order, "cancel")
    allocation.release(order=order, actor=actor)
    transitions.check_transition(order, "cancel", None)
    transitions.apply_transition(order, "cancel", actor=actor, reason=f"Cancelled by document {request.document_id}")
    outbox.record_event(order=order, event="order.cancelled", payload={"reason": order.status_reason})
    return order, 200, f"Order {order.number} cancelled."


def _supersede_stale_cases(
    previous_cases, *, still_failing: set[int], lines: list[OrderLine], document_id: str, cart_checked: bool
) -> None:
    """Dismiss the cases an update made stale: about lines it removed, or checks that now pass on its image.

    A check case (product, unit, price, stock, credit, tax) that the checks
    on the new image did not return again is stale, and so is every case
    about a line the update cancelled. A duplicate-order case is stale too,
    because the update is the change the buyer was asked to send. Cart cases
    are stale only when the update was compared with its cart again. Other
    cases (a late change, a failed document) stay.
    """
    active_positions = {line.position for line in lines if line.status != LineStatus.CANCELLED}
    for case in previous_cases:
        if case.pk in still_failing:
            continue
        reason = _stale_reason(case.cause_key, active_positions, cart_checked)
        if reason:
            case_supersede(case=case, reason=f"Superseded by the buyer's update {document_id}: {reason}")


def _stale_reason(cause_key: str, active_positions: set[int], cart_checked: bool) -> str:
    """Return why the case with this cause key no longer applies after an update, or "" when it still may."""
    scope, _, rest = cause_key.partition(":")
    if scope == "duplicate":
        return "the update replaces the order, as the buyer was asked to do."
    if scope == "line":
        position, _, check = rest.partition(":")
        if not position.isdigit() or int(position) not in active_positions:
            return "the line is no longer in the order."
        return _stale_check_reason(check, cart_checked)
    if scope == "order":
        return _stale_check_reason(rest, cart_checked)
    return ""


def _stale_check_reason(check: str, cart_checked: bool) -> str:
    if check in _RECHECKED or (cart_checked and check.startswith("cart_")):
        return "the checks on the changed order no longer find this problem."
    return ""


def _continue(order: Order, actor, lines: list[OrderLine] | None = None, *, blocked: bool | None = None) -> None:
    """Hold the order while a blocking case is open, else confirm and allocate it.

    ``lines`` are the order's lines as just written, so that they need not be read again. ``blocked``
    is True when a blocking case is open, for callers that know it; by default the cases are read.
    """
    if blocked is None:
        blocked = has_blocking_open_cases(order)
    if blocked:
        transitions.check_transition(order, "hold", None)
        transitions.apply_transition(order, "hold", actor=actor, reason="Held by failed checks")
        outbox.record_event(order=order, event="order.on_hold", payload={"reason": order.status_reason})
        return
    order.checked_unblocked = True
    transitions.check_transition(order, "confirm", None)
    transitions.apply_transition(order, "confirm", actor=actor, reason="All checks passed")
    order.checked_unblocked = False
    outbox.record_event(order=order, event="order.confirmed", payload=outbox.confirmation_payload(order, lines))
    if not order.is_test:
        transitions.allocate_or_hold(order=order, actor=actor, lines=lines)


def _referenced_order(request: OrderInput) -> Order:
    if not request.refers_to:
        raise UnknownOrderDocument(
            f"The {request.operation} for PO {request.po_number!r} does not refer to an earlier document; "
            "send the payloadID of the order it changes in DocumentReference."
        )
    earlier = (
        InboundDocument.objects.filter(source=request.source, document_id=request.refers_to, order__isnull=False)
        .select_related("order")
        .first()
    )
    if earlier is None:
        raise UnknownOrderDocument(
            f"No order came from document {request.refers_to!r}; check the payloadID in DocumentReference."
        )
    return transitions.lock_order(earlier.order)


def _check_changeable(order: Order, verb: str) -> None:
    if order.status in CHANGEABLE_STATES:
        return
    if order.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
        raise OrderStateConflict(f"Order {order.number} is {order.get_status_display()}; it cannot be changed.")
    error = OrderStateConflict(
        f"Order {order.number} is already {order.get_status_display()}, so it cannot be changed or cancelled; "
        "contact the supplier, who has been told."
    )
    error.follow_ups = [
        partial(
            case_open,
            kind=CaseKind.INTEGRATION_CONFLICT,
            concerning=order,
            customer=order.customer,
            facts={"status": order.status, "requested": verb},
            summary=f"The buyer sent a {verb} for order {order.number}, which is already {order.get_status_display()}",
            cause_key=f"late_{verb}",
            reference=order.number,
            po_number=order.po_number[:64],
        )
    ]
    raise error


def _refuse_duplicate(request: OrderInput, parsed: ParsedOrder, existing: Order) -> None:
    error = DuplicatePurchaseOrder(
        f"PO number {existing.po_number!r} already made order {existing.number}; to change it, send an "
        f"OrderRequest of type update that refers to payloadID {existing.payload_id!r}."
    )
    same = _lines_signature(parsed) == _order_signature(existing)
    if not same and existing.status in CHANGEABLE_STATES:
        error.follow_ups = [partial(_open_duplicate_case, request, existing)]
    raise error


def _open_duplicate_case(request: OrderInput, existing: Order) -> None:
    """Open a duplicate-order case on the existing order and hold it while its state allows."""
    with transaction.atomic():
        existing = transitions.lock_order(existing)
        case_open(
            kind=CaseKind.DUPLICATE_ORDER,
            concerning=existing,
            customer=existing.customer,
            facts={"document_id": request.document_id, "existing_payload_id": existing.payload_id},
            summary=f"PO {existing.po_number} sent again with other content under {request.document_id}",
            cause_key=f"duplicate:{request.document_id}"[:200],
            reference=existing.number,
            po_number=existing.po_number[:64],
        )
        if existing.status in (OrderStatus.RECEIVED, OrderStatus.CONFIRMED):
            transitions.apply_transition(
                existing, "hold", actor=None, reason="The PO number came again with other content"
            )
            outbox.record_event(order=existing, event="order.on_hold", payload={"reason": existing.status_reason})


def _record_rejection(request: OrderInput, error: InvalidOrderInput) -> Order | None:
    """Keep a document that cannot become an order as a rejected order, so staff can see what came."""
    po_number = (request.po_number or "").strip()[:64]
    currency = (request.currency or getattr(request.customer, "currency", "") or "")[:3].upper()
    order = Order(
        number=_new_number(),
        customer=request.customer,
        channel=request.channel,
        source=request.source,
        is_test=request.is_test,
        po_number=po_number,
        payload_id=request.document_id,
        currency=currency,
        rejection_reasons=error.reasons or [error.message],
        status_reason="Rejected at intake",
        **_header_fields(request),
    )
    order._change_reason = "Rejected at intake"
    order.save()
    transitions.check_transition(order, "reject", None)
    transitions.apply_transition(order, "reject", actor=None, reason="The document cannot become an order")
    return order


def _answer(document, order, status, code, message, *, reasons=None) -> IntakeResult:
    document.order = order if order is not None and order.pk else document.order
    document.result_code = f"{status}:{code}"
    document.result_message = message
    update_row(document, ("order", "result_code", "result_message", "updated_at"))
    logger.info(
        "Order document taken in",
        extra={"document_id": document.document_id, "status": status, "code": code, "order_id": document.order_id},
    )
    return IntakeResult(
        status=status, code=code, message=message, order=order, document=document, reasons=reasons or []
    )


def _existing_order(request: OrderInput, error: OrderError) -> Order | None:
    if isinstance(error, DuplicatePurchaseOrder):
        return None
    if request.refers_to:
        earlier = InboundDocument.objects.filter(source=request.source, document_id=request.refers_to).first()
        return earlier.order if earlier is not None else None
    return None


def _build_lines(order: Order, parsed: ParsedOrder) -> list[OrderLine]:
    products = _products_by_sku([line.source.sku for line in parsed.lines])
    lines = []
    for parsed_line in parsed.lines:
        line = OrderLine(order=order, position=parsed_line.position)
        _fill_line(line, parsed_line, products)
        lines.append(line)
    return lines


def _fill_line(line: OrderLine, parsed: ParsedLine, products: dict[str, Product]) -> None:
    source = parsed.source
    sku = source.sku.strip()
    line.line_number = (source.line_number or "").strip()[:32] or str(parsed.position)
    line.sku = sku[:64]
    line.product = products.get(sku)
    line.supplier_part_auxiliary_id = source.supplier_part_auxiliary_id[:250]
    line.description = source.description
    line.quantity = parsed.quantity
    line.unit_text = (source.unit or "").strip()[:40]
    line.unit = None
    line.currency = parsed.currency
    line.buyer_unit_price = parsed.unit_price
    # Validation converts a line in another unit again and sets these.
    line.ordered_quantity = None
    line.ordered_unit_price = None
    line.unit_factor = None
    line.buyer_tax = parsed.tax
    line.requested_delivery_date = source.requested_delivery_date
    line.classification = source.classification
    line.extrinsics = source.extrinsics
    line.comments = source.comments


def _products_by_sku(skus: list[str]) -> dict[str, Product]:
    """Read the products with these SKUs, with their units and categories, in a query compiled once per length."""
    wanted = sorted({sku.strip() for sku in skus if sku and sku.strip()})
    products = run_for_list("orders.intake.products", _products_query, wanted, _placeholder_sku)
    return {product.sku: product for product in products}


def _products_query(skus: list[str]):
    return Product.objects.filter(sku__in=skus).select_related("unit", "category")


def _placeholder_sku(index: int) -> str:
    return placeholder_text(f"sku{index}")


def _header_fields(request: OrderInput) -> dict:
    return {
        "ship_to": request.ship_to or {},
        "bill_to": request.bill_to or {},
        "contact": request.contact or {},
        "extrinsics": request.extrinsics or {},
        "comments": request.comments or "",
    }


def _order_with_po(customer, po_number: str, is_test: bool) -> Order | None:
    return (
        Order.objects.filter(customer=customer, po_number=po_number, is_test=is_test)
        .exclude(status=OrderStatus.REJECTED)
        .first()
    )


def _lines_signature(parsed: ParsedOrder) -> list:
    return sorted(
        (
            line.source.sku.strip(),
            str(line.quantity.normalize()),
            str(line.unit_price.normalize()) if line.unit_price is not None else "",
        )
        for line in parsed.lines
    )


def _order_signature(order: Order) -> list:
    return sorted(_sent_signature(line) for line in order.lines.exclude(status=LineStatus.CANCELLED))


def _sent_signature(line: OrderLine) -> tuple[str, str, str]:
    """Return the line's SKU, quantity and price as the buyer sent them, before any unit conversion."""
    converted = line.unit_factor is not None
    quantity = line.ordered_quantity if converted else line.quantity
    price = line.ordered_unit_price if converted else line.buyer_unit_price
    return line.sku, str(quantity.normalize()), str(price.normalize()) if price is not None else ""


def _content_hash(request: OrderInput) -> str:
    if request.body:
        data = request.body.encode("utf-8")
    else:
        data = json.dumps(
            {
                "po_number": request.po_number,
                "operation": request.operation,
                "lines": [
                    [line.line_number, line.sku, str(line.quantity), str(line.unit_price), line.unit]
                    for line in request.lines
                ],
                "ship_to": request.ship_to,
                "currency": request.currency,
            },
            cls=DjangoJSONEncoder,
            sort_keys=True,
        ).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _new_number() -> str:
    """Return an order number such as SO-261204-9F3A61C2: the UTC date and 32 random bits."""
    return f"SO-{timezone.now():%y%m%d}-{secrets.token_hex(4).upper()}"
