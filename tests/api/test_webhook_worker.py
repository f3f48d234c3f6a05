"""A real Celery worker against Redis sends a webhook after commit and retries it with a delay after a 500.

The worker runs in its own process on the pytest PostgreSQL test database, so
the test commits its data (``transaction=True``) for the worker to see.
"""

import time

import pytest

from apps.api.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from tests.api.receiver import WebhookReceiver
from tests.api.test_webhooks import verify_signature

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_worker_retries_webhook_after_500(worker, broker, api, catalog, acme_key, settings):
    # given
    settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with WebhookReceiver(statuses=[500, 200]) as receiver:
        secret = api.call(
            "POST", "/api/v1/webhooks/", acme_key, {"url": receiver.url, "events": ["order.confirmed"]}
        ).json()["secret"]

        # when
        api.call(
            "POST", "/api/v1/orders/", acme_key, {"po_number": "PO-W", "lines": [{"sku": "CHAIR-1", "quantity": 1}]}
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and WebhookDelivery.objects.get().status != DeliveryStatus.DELIVERED:
            time.sleep(0.2)

    # then
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 2
    assert list(WebhookAttempt.objects.order_by("number").values_list("response_code", flat=True)) == [500, 200]
    first_try, second_try = WebhookAttempt.objects.order_by("number")
    assert (second_try.created_at - first_try.created_at).total_seconds() >= 1
    headers, body = receiver.received[1]
    assert verify_signature(secret, headers["X-Signature"], body)
