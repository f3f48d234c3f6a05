"""The order outbox: events written in the transaction of each change, and their delivery to the buyer.

This app contains no protocol code. ``ORDER_OUTBOX_SENDERS`` maps an order's channel
to the dotted path of a module with two functions:

- ``build_document(event) -> tuple[str, bytes]``: the document id (a cXML
  payloadID) and the document for the event, built once and stored on the row;
- ``send_document(event) -> DeliveryResult``: send the stored bytes and read
  the receiver's answer.

Delivery is at least once, and the receiver sees one document id per event:
the document is stored and committed before the first send, every later try
sends the same bytes, and a row whose status is no longer pending is never
sent again. A row is sent only while its lock is held (``SKIP LOCKED``), so
two workers that got the same event do not send it at the same time.
"""

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.inserts import insert_rows, update_row
from apps.core.prepared import PLACEHOLDER_ID, prepared
from apps.exceptions.models import CaseKind, Severity
from apps.exceptions.services import case_open
from apps.integrations.models import Channel, Direction
from apps.integrations.models import Outcome as LogOutcome
from apps.integrations.services import DocumentExchange, record_exchange
from apps.orders import tasks
from apps.orders.errors import DocumentNotResendable
from apps.orders.models import Order, OutboxEvent, OutboxStatus

logger = logging.getLogger(__name__)

# Seconds the periodic relay waits before it takes a pending row as lost: the
# task enqueued on commit normally picks the row up within milliseconds.
DEFAULT_RELAY_GRACE_SECONDS = 60
# Sends per event, counting retries and redeliveries after a worker died.
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_RETRY_BASE_SECONDS = 10
DEFAULT_RETRY_MAX_SECONDS = 900
# Redis redelivers an unacknowledged task after this many seconds (kombu's default).
DEFAULT_VISIBILITY_TIMEOUT = 3600
RELAY_BATCH_SIZE = 200


class Outcome:
    DELIVERED = "delivered"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RETRY = "retry"


@dataclass(frozen=True)
class DeliveryResult:
    """The result of one send: one of ``Outcome``, the receiver's status code and its message.

    The sender may add what the document log shows: the HTTP status, the
    receiver's answer, the URL, the document's type and its body format, and
    in ``log_fields`` more fields of the log row (such as ``connection_id``).
    """

    outcome: str
    code: str = ""
    message: str = ""
    http_status: int | None = None
    answer: bytes = b""
    url: str = ""
    document_type: str = ""
    document_format: str = ""
    log_fields: dict = field(default_factory=dict)


def record_event(*, order: Order, event: str, payload: dict) -> OutboxEvent:
    """Write an outbox row in the caller's transaction and enqueue its delivery for after the commit.

    Without a sender for the order's channel, or when the sender's ``has_destination(order, event)``
    returns False, the row is written as skipped and nothing is enqueued. The modules in
    ORDER_EVENT_LISTENERS are notified of the row either way.
    """
    now = timezone.now()
    sender = _sender_for(order)
    has_sender = sender is not None and _sender_has_destination(sender, order, event)
    row = OutboxEvent(
        order=order,
        event=event,
        payload=payload,
        status=OutboxStatus.PENDING if has_sender else OutboxStatus.SKIPPED,
        finished_at=None if has_sender else now,
        next_attempt_at=now + dt.timedelta(seconds=_relay_grace()),
    )
    insert_rows([row])
    if has_sender:
        tasks.enqueue_on_commit(row.pk)
    _tell_listeners(row)
    return row


def confirmation_payload(order: Order, lines: list | None = None) -> dict:
    """Return the confirmation's content for the buyer: each line's quantity, price and state.

    ``lines`` saves reading the lines again when the caller holds them with their product and unit.
    """
    if lines is None:
        lines = list(order.lines.select_related("unit", "product").order_by("position"))
    described = []
    for line in sorted(lines, key=lambda line: line.position):
        described.append(
            {
                "line_number": line.line_number,
                "position": line.position,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit": line.unit.code if line.unit_id else line.unit_text,
                "status": line.status,
                "unit_price": line.unit_price,
                "buyer_unit_price": line.buyer_unit_price,
                "currency": line.currency,
                "lead_time_days": line.product.lead_time_days if line.product_id else None,
            }
        )
    return {"lines": described, "total": order.total, "currency": order.currency}


def deliver(*, event_id: int) -> str:
    """Build (once) and send an outbox event; return the outcome, ``Outcome.RETRY`` when it should be tried again."""
    prepared = _prepare(event_id)
    if prepared is not None:
        return prepared
    with transaction.atomic():
        event = _lock(event_id)
        if event is None or event.status != OutboxStatus.PENDING:
            return "done"
        result = _send(event, _sender_for(event.order))
        return _apply(event, result)


def resend(*, event_id: int) -> DeliveryResult:
    """Send an event's stored document again, with the same payloadID, and record the answer.

    For a document the buyer missed or that failed after the last try. A
    failed or rejected event that the buyer now accepts becomes delivered
    (or waits for the buyer's status); any other answer leaves its state as
    it was and opens no new case. Raises DocumentNotResendable when the event
    has no stored document or its channel no sender.
    """
    with transaction.atomic():
        event = (
            OutboxEvent.objects.select_for_update(of=("self",))
            .select_related("order", "order__customer")
            .filter(pk=event_id)
            .first()
        )
        if event is None or not event.document:
            raise DocumentNotResendable(
                f"Outbox event {event_id} has no stored document to send again; it was never built or sent."
            )
        sender = _sender_for(event.order)
        if sender is None:
            raise DocumentNotResendable(
                f"No sender handles channel {event.order.channel!r} of order {event.order.number}; nothing was sent."
            )
        event.attempts += 1
        result = _send(event, sender)

        event.response_code = result.code[:16]
        event.sent_at = timezone.now()
        fields = ["attempts", "response_code", "sent_at", "updated_at"]
        if result.outcome in (Outcome.DELIVERED, Outcome.ACCEPTED):
            event.last_error = ""
            fields.append("last_error")
            if event.status in (OutboxStatus.FAILED, OutboxStatus.REJECTED, OutboxStatus.PENDING):
                event.status = (
                    OutboxStatus.DELIVERED if result.outcome == Outcome.DELIVERED else OutboxStatus.AWAITING_STATUS
                )
                event.finished_at = event.sent_at if result.outcome == Outcome.DELIVERED else None
                fields += ["status", "finished_at"]
        else:
            event.last_error = f"Resend: {result.code} {result.message}"[:2000]
            fields.append("last_error")
        event.save(update_fields=fields)
    logger.info(
        "Outbox document sent again",
        extra={"event_id": event_id, "payload_id": event.document_id, "outcome": result.outcome},
    )
    return result


def retry_delay(attempts: int) -> int:
    """Seconds before the next try: doubling from the base, capped below half the broker's visibility timeout."""
    base = int(getattr(settings, "ORDER_OUTBOX_RETRY_BASE_SECONDS", DEFAULT_RETRY_BASE_SECONDS))
    cap = int(getattr(settings, "ORDER_OUTBOX_RETRY_MAX_SECONDS", DEFAULT_RETRY_MAX_SECONDS))
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    visibility = int(options.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT))
    return max(0, min(base * 2 ** max(attempts - 1, 0), cap, visibility // 2))


def relay_pending(*, now: dt.datetime | None = None) -> int:
    """Enqueue pending rows whose task was lost (their ``next_attempt_at`` passed); return how many."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")[:RELAY_BATCH_SIZE]
        )
        for row in rows:
            row.next_attempt_at = now + dt.timedelta(seconds=_relay_grace())
            row.save(update_fields=["next_attempt_at", "updated_at"])
            tasks.enqueue_on_commit(row.pk)
    if rows:
        logger.info("Outbox relay enqueued lost events", extra={"count": len(rows)})
    return len(rows)


def record_buyer_status(*, source: str, document_id: str, code: str, message: str) -> OutboxEvent | None:
    """Apply the buyer's later status for a document it accepted with 201; None when no document has the id."""
    with transaction.atomic():
        event = (
            OutboxEvent.objects.select_for_update()
            .select_related("order")
            .filter(document_id=document_id, order__source=source)
            .first()
        )
        if event is None:
            return None
        if event.status not in (OutboxStatus.AWAITING_STATUS, OutboxStatus.PENDING, OutboxStatus.DELIVERED):
            logger.info("Buyer status for a finished document ignored", extra={"event_id": event.pk})
            return event
        result = _result_for_code(code, message)
        if result.outcome == Outcome.RETRY:
            # A later status may still follow; keep waiting and record what came.
            event.response_code = code
            event.last_error = message[:2000]
            event.save(update_fields=["response_code", "last_error", "updated_at"])
            return event
        _apply(event, result)
        return event


def result_for_status(code: str, message: str) -> DeliveryResult:
    """Map a cXML status code to an outcome: 200 delivered, 201 accepted, 4xx rejected, anything else retried."""
    return _result_for_code(code, message)


def _result_for_code(code: str, message: str) -> DeliveryResult:
    if code == "201":
        return DeliveryResult(outcome=Outcome.ACCEPTED, code=code, message=message)
    if code.startswith("2"):
        return DeliveryResult(outcome=Outcome.DELIVERED, code=code, message=message)
    if code.startswith("4"):
        return DeliveryResult(outcome=Outcome.REJECTED, code=code, message=message)
    return DeliveryResult(outcome=Outcome.RETRY, code=code, message=message)


def _prepare(event_id: int) -> str | None:
    """Store the document and count the try in a committed transaction; return an outcome when nothing is to send."""
    with transaction.atomic():
        event = _lock(event_id)
        if event is None:
            logger.info("Outbox event busy or gone", extra={"event_id": event_id})
            return "busy"
        if event.status != OutboxStatus.PENDING:
            logger.info("Outbox event already handled", extra={"event_id": event_id, "status": event.status})
            return "done"
        sender = _sender_for(event.order)
        if sender is None:
            event.status = OutboxStatus.SKIPPED
            event.finished_at = timezone.now()
            event.save(update_fields=["status", "finished_at", "updated_at"])
            logger.info("Outbox event has no sender", extra={"event_id": event_id, "channel": event.order.channel})
            return OutboxStatus.SKIPPED

        if not event.document_id:
            document_id, document = sender.build_document(event)
            if not document:
                event.status = OutboxStatus.SKIPPED
                event.finished_at = timezone.now()
                event.save(update_fields=["status", "finished_at", "updated_at"])
                return OutboxStatus.SKIPPED
            event.document_id = document_id
            event.document = document.decode("utf-8")
        event.attempts += 1
        if event.attempts > _max_attempts():
            _fail(event, "The document was handed to a worker too often without an answer.")
            return OutboxStatus.FAILED
        event.next_attempt_at = timezone.now() + dt.timedelta(seconds=retry_delay(event.attempts) + _relay_grace())
        update_row(event, ("document_id", "document", "attempts", "next_attempt_at", "updated_at"))
    return None


def _apply(event: OutboxEvent, result: DeliveryResult) -> str:
    now = timezone.now()
    event.response_code = result.code[:16]
    event.sent_at = event.sent_at or now
    if result.outcome == Outcome.DELIVERED:
        event.status = OutboxStatus.DELIVERED
        event.finished_at = now
        event.last_error = ""
    elif result.outcome == Outcome.ACCEPTED:
        event.status = OutboxStatus.AWAITING_STATUS
        event.last_error = ""
    elif result.outcome == Outcome.REJECTED:
        event.status = OutboxStatus.REJECTED
        event.finished_at = now
        event.last_error = result.message[:2000]
        _open_case(event, f"The buyer rejected the {event.event} document: {result.code} {result.message}")
    else:
        event.last_error = result.message[:2000]
        if event.attempts >= _max_attempts():
            _fail(event, f"Sending failed {event.attempts} times; last: {result.code} {result.message}")
            return OutboxStatus.FAILED
        update_row(event, ("response_code", "sent_at", "last_error", "updated_at"))
        logger.warning(
            "Outbox send will be retried",
            extra={"event_id": event.pk, "attempts": event.attempts, "code": result.code},
        )
        return Outcome.RETRY
    update_row(event, ("status", "response_code", "sent_at", "finished_at", "last_error", "updated_at"))
    logger.info("Outbox event finished", extra={"event_id": event.pk, "status": event.status})
    return result.outcome


def _fail(event: OutboxEvent, reason: str) -> None:
    event.status = OutboxStatus.FAILED
    event.finished_at = timezone.now()
    event.last_error = reason[:2000]
    event.save(update_fields=["status", "finished_at", "last_error", "attempts", "updated_at"])
    logger.error("Outbox event failed", extra={"event_id": event.pk, "order_id": event.order_id})
    _open_case(event, reason)


def _open_case(event: OutboxEvent, reason: str) -> None:
    order = event.order
    case_open(
        kind=CaseKind.INTEGRATION_FAILURE,
        concerning=order,
        customer=order.customer,
        facts={"event": event.event, "event_id": event.pk, "document_id": event.document_id, "reason": reason},
        summary=reason[:300],
        cause_key=f"outbox:{event.pk}",
        severity=Severity.HIGH,
        reference=order.number,
        po_number=order.po_number[:64],
    )


def resend_logged_document(row) -> str:
    """Check that a logged order document can be sent again and queue its send for after the commit.

    ``row`` is a document log row about an outbox event. Returns what was
    queued, for staff; raises DocumentNotResendable as ``resend`` does.
    """
    event = OutboxEvent.objects.select_related("order").filter(pk=row.outbox_event_id).first()
    if event is None or not event.document:
        raise DocumentNotResendable(
            f"The outbox event of document {row.payload_id or row.pk} is gone or has no stored document to send."
        )
    if _sender_for(event.order) is None:
        raise DocumentNotResendable(
            f"No sender handles channel {event.order.channel!r} of order {event.order.number}; nothing was queued."
        )
    transaction.on_commit(partial(tasks.resend_outbox_event.delay, event.pk), robust=True)
    return f"{event.event} document {event.document_id} of order {event.order.number} is queued to be sent again."


def _send(event: OutboxEvent, sender) -> DeliveryResult:
    """Send the event's stored document through ``sender`` and record the exchange in the document log."""
    exchange = DocumentExchange(
        direction=Direction.OUTBOUND,
        channel=Channel.ORDER_STATUS,
        document_type=event.event,
        payload_id=event.document_id,
        order_id=event.order_id,
        order_number=event.order.number,
        po_number=event.order.po_number,
        customer_id=event.order.customer_id,
        outbox_event_id=event.pk,
        attempts=event.attempts,
        request_body=event.document,
        started=time.monotonic(),
    )
    try:
        result = sender.send_document(event)
    except Exception as error:  # any failure of a send is retried, then becomes a case
        logger.exception("Outbox send failed", extra={"event_id": event.pk, "order_id": event.order_id})
        result = DeliveryResult(outcome=Outcome.RETRY, code="error", message=f"{type(error).__name__}: {error}")
    exchange.note(
        outcome=LogOutcome.SUCCEEDED if result.outcome in (Outcome.DELIVERED, Outcome.ACCEPTED) else LogOutcome.FAILED,
        document_type=result.document_type or event.event,
        url=result.url,
        http_status=result.http_status,
        cxml_status=result.code if result.code.isdigit() else "",
        message=result.message,
        request_format=result.document_format,
        response_body=result.answer,
        response_format=result.document_format,
        **result.log_fields,
    )
    record_exchange(exchange)
    return result


def _lock(event_id: int) -> OutboxEvent | None:
    """Return the event with its order and customer, locked, or None when another worker holds it or it is gone."""
    # Each delivery locks its row twice, so the SQL is compiled once per connection.
    query = prepared("outbox-lock", _lockable_events, {"event_id": PLACEHOLDER_ID})
    found = query.run({"event_id": int(event_id)})
    return found[0] if found else None


def _lockable_events(event_id: int) -> QuerySet[OutboxEvent]:
    return (
        OutboxEvent.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("order", "order__customer")
        .filter(pk=event_id)
    )


def _tell_listeners(row: OutboxEvent) -> None:
    """Call ``on_order_event(row)`` of each module in ORDER_EVENT_LISTENERS, inside the caller's transaction.

    A listener writes its own rows and schedules its own work on commit, so
    an error in it rolls back the business change, like any other write of
    that transaction.
    """
    for path in getattr(settings, "ORDER_EVENT_LISTENERS", ()) or ():
        import_module(path).on_order_event(row)


def _sender_has_destination(sender, order: Order, event: str) -> bool:
    check = getattr(sender, "has_destination", None)
    return True if check is None else bool(check(order, event))


def _sender_for(order: Order):
    path = (getattr(settings, "ORDER_OUTBOX_SENDERS", {}) or {}).get(order.channel)
    return import_module(path) if path else None


def _relay_grace() -> int:
    return int(getattr(settings, "ORDER_OUTBOX_RELAY_GRACE_SECONDS", DEFAULT_RELAY_GRACE_SECONDS))


def _max_attempts() -> int:
    return int(getattr(settings, "ORDER_OUTBOX_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
