"""The hand-off of a confirmed order to the ERP through a real Celery worker, and the ERP's pull feed.

The worker runs in its own process on the pytest PostgreSQL test database,
so the test commits its data (``transaction=True``) for the worker to see.
The ERP's receiver is an HTTP server on 127.0.0.1 that fails the first try.
"""

import json
import time

import pytest

from apps.api.models import DeliveryStatus, Scope, WebhookAttempt, WebhookDelivery
from tests.api.receiver import WebhookReceiver
from tests.api.test_webhooks import verify_signature

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

FEED = "/api/v1/orders/?status=confirmed&erp_acknowledged=false"


def test_confirmed_order_reaches_erp_through_worker(worker, broker, api, catalog, acme_key, make_key, settings):
    # given the ERP's subscription to confirmed orders, at a receiver that fails the first try
    settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    erp_key = make_key(all_customers=True, scopes=[Scope.ERP_WRITE, Scope.ORDERS_READ], name="ERP")
    with WebhookReceiver(statuses=[503, 200]) as receiver:
        subscription = {"url": receiver.url, "events": ["order.confirmed"]}
        subscribed = api.call("POST", "/api/v1/webhooks/", erp_key, subscription)
        secret = subscribed.json()["secret"]

        # when a partner's order is confirmed
        placed = api.call(
            "POST", "/api/v1/orders/", acme_key, {"po_number": "PO-ERP", "lines": [{"sku": "CHAIR-1", "quantity": 2}]}
        ).json()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and WebhookDelivery.objects.get().status != DeliveryStatus.DELIVERED:
            time.sleep(0.2)

    # then the worker delivered it on the second try, signed, with the order's lines
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert list(WebhookAttempt.objects.order_by("number").values_list("response_code", flat=True)) == [503, 200]
    (first_headers, first_body), (headers, body) = receiver.received
    assert body == first_body
    assert headers["X-Webhook-Id"] == first_headers["X-Webhook-Id"] == delivery.event_id
    assert verify_signature(secret, headers["X-Signature"], body)
    assert not verify_signature("whsec_wrong", headers["X-Signature"], body)
    event = json.loads(body)
    assert event["type"] == "order.confirmed"
    assert event["data"]["order"]["number"] == placed["number"]
    assert [(line["sku"], line["quantity"]) for line in event["data"]["order"]["lines"]] == [("CHAIR-1", "2")]

    # and the ERP's pull feed lists the order until the ERP acknowledges it
    feed = api.call("GET", FEED, erp_key).json()
    assert [row["number"] for row in feed["results"]] == [placed["number"]]
    acknowledged = api.call("POST", f"/api/v1/orders/{placed['number']}/erp-ack/", erp_key, {"erp_reference": "E-1"})
    assert acknowledged.status_code == 201
    assert api.call("GET", FEED, erp_key).json()["results"] == []
