"""Celery tasks of the orders app: send an outbox event, send one again, and relay the events whose task was lost."""

import logging

from celery import shared_task
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(event_id: int) -> None:
    """Enqueue the send of an outbox row once the transaction that wrote it commits.

    ``robust=True``: a broker that is down must not fail the change that
    already committed; the relay enqueues the row later, and the error is logged.
    """

    def enqueue_outbox_event() -> None:
        send_outbox_event.delay(event_id)

    transaction.on_commit(enqueue_outbox_event, robust=True)


# acks_late and reject_on_worker_lost: a worker killed mid-send leaves the
# message unacknowledged, so the broker delivers it again. That is safe
# because the send is idempotent (see apps.orders.outbox), and the row counts
# every delivery, so a message that kills its worker each time ends as a
# failed event with an exception case instead of looping.
@shared_task(
    bind=True,
    name="orders.send_outbox_event",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    ignore_result=True,
)
def send_outbox_event(self, event_id: int) -> str:
    # Imported here because outbox imports this module to enqueue.
    from apps.orders import outbox

    outcome = outbox.deliver(event_id=event_id)
    # Eager mode (no broker) cannot wait for a countdown, so it tries again at once. The row's
    # attempt count ends the loop.
    while outcome == outbox.Outcome.RETRY and self.request.is_eager:
        outcome = outbox.deliver(event_id=event_id)
    if outcome == outbox.Outcome.RETRY:
        from apps.orders.models import OutboxEvent

        attempts = OutboxEvent.objects.filter(pk=event_id).values_list("attempts", flat=True).first() or 1
        countdown = outbox.retry_delay(attempts)
        logger.info("Outbox event retry scheduled", extra={"event_id": event_id, "countdown": countdown})
        raise self.retry(countdown=countdown)
    return outcome


@shared_task(name="orders.relay_outbox_events", ignore_result=True)
def relay_outbox_events() -> int:
    # Imported here because outbox imports this module to enqueue.
    from apps.orders import outbox

    return outbox.relay_pending()


@shared_task(name="orders.resend_outbox_event", ignore_result=True)
def resend_outbox_event(event_id: int) -> str:
    """Send an outbox event's stored document again, once, as staff asked; no retry follows a failure."""
    # Imported here because outbox imports this module to enqueue.
    from apps.orders import outbox
    from apps.orders.errors import DocumentNotResendable

    try:
        result = outbox.resend(event_id=event_id)
    except DocumentNotResendable as error:
        logger.warning("Outbox document not sent again: %s", error.message, extra={"event_id": event_id})
        return error.code
    return result.outcome


@shared_task(name="orders.flag_unacknowledged_orders", ignore_result=True)
def flag_unacknowledged_orders() -> int:
    """Open a case for each order the ERP has not acknowledged within ERP_ACKNOWLEDGE_TIMEOUT_MINUTES."""
    # Imported here because the reconciliation imports the services, which import this module.
    from apps.orders import reconciliation

    return reconciliation.flag_unacknowledged_orders()


@shared_task(name="orders.reconcile_with_erp", ignore_result=True)
def reconcile_with_erp() -> int:
    """Compare open orders with what the ERP last reported; return the number of disagreements."""
    # Imported here because the reconciliation imports the services, which import this module.
    from apps.orders import reconciliation

    return reconciliation.reconcile_orders().disagreements
