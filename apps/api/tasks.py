"""Celery tasks of the partner API: send a webhook delivery, with retries."""

import logging

from celery import shared_task
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(delivery_id: int) -> None:
    """Enqueue the send of a delivery once the transaction that created it commits.

    ``robust=True``: a broker that is down must not fail the change that already committed; the error is logged.
    """

    def enqueue_webhook_delivery() -> None:
        send_webhook.delay(delivery_id)

    transaction.on_commit(enqueue_webhook_delivery, robust=True)


# acks_late: a worker killed mid-send leaves the message for redelivery. The
# delivery row counts every try, so a message that kills its worker each time
# ends as a failed delivery instead of looping.
@shared_task(
    bind=True,
    name="api.send_webhook",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    ignore_result=True,
)
def send_webhook(self, delivery_id: int) -> str:
    # Imported here because webhooks imports this module to enqueue.
    from apps.api import webhooks

    outcome = webhooks.deliver(delivery_id=delivery_id)
    # Eager mode (no broker) cannot wait for a countdown, so it tries again at once; the row's try count ends it.
    while outcome == webhooks.Outcome.RETRY and self.request.is_eager:
        outcome = webhooks.deliver(delivery_id=delivery_id)
    if outcome == webhooks.Outcome.RETRY:
        from apps.api.models import WebhookDelivery

        attempts = WebhookDelivery.objects.filter(pk=delivery_id).values_list("attempts", flat=True).first() or 1
        countdown = webhooks.retry_delay(attempts)
        logger.info("Webhook retry scheduled", extra={"delivery_id": delivery_id, "countdown": countdown})
        raise self.retry(countdown=countdown)
    return outcome
