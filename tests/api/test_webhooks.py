"""Webhook subscriptions and signed deliveries to a receiver on 127.0.0.1: retries, then disabling with a case."""

import hashlib
import hmac
import json
import time

import pytest

from apps.api.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from apps.exceptions.models import CaseKind, ExceptionCase
from apps.orders.models import Order
from apps.orders.services import shipment_record
from tests.api.receiver import WebhookReceiver

pytestmark = pytest.mark.django_db

ORDER = {"po_number": "PO-HOOK", "lines": [{"sku": "CHAIR-1", "quantity": "2"}]}


def verify_signature(secret: str, header: str, body: bytes, *, tolerance_seconds: int = 300) -> bool:
    """Check an X-Signature header the way a partner's receiver should."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@pytest.fixture
def local_targets(settings):
    settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.API_WEBHOOK_MAX_ATTEMPTS = 3
    settings.API_WEBHOOK_TIMEOUT_SECONDS = 5


def subscribe(api, key, url, events):
    response = api.call("POST", "/api/v1/webhooks/", key, {"url": url, "events": events})
    assert response.status_code == 201, response.content
    return response.json()


def test_shipment_webhook_is_signed(api, catalog, acme_key, local_targets, django_capture_on_commit_callbacks):
    with WebhookReceiver() as receiver:
        # given
        subscription = subscribe(api, acme_key, receiver.url, ["order.shipped"])
        number = api.call("POST", "/api/v1/orders/", acme_key, ORDER).json()["number"]

        # when
        with django_capture_on_commit_callbacks(execute=True):
            shipment_record(
                order=Order.objects.get(number=number), shipment_id="SHP-7", lines=[("1", "2")], tracking_number="T-7"
            )

    # then
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert verify_signature(subscription["secret"], headers["X-Signature"], body)
    assert not verify_signature(subscription["secret"], headers["X-Signature"], body + b" ")
    event = json.loads(body)
    assert event["type"] == "order.shipped"
    assert event["id"] == headers["X-Webhook-Id"]
    assert event["data"]["order"]["number"] == number
    assert event["data"]["order"]["status"] == "shipped"
    assert event["data"]["shipment"]["tracking_number"] == "T-7"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.DELIVERED, 1, 200)


def test_webhook_retried_after_500(api, catalog, acme_key, local_targets, django_capture_on_commit_callbacks):
    with WebhookReceiver(statuses=[500, 200]) as receiver:
        # given
        subscribe(api, acme_key, receiver.url, ["order.confirmed"])

        # when
        with django_capture_on_commit_callbacks(execute=True):
            api.call("POST", "/api/v1/orders/", acme_key, ORDER)

    # then
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 2
    assert list(WebhookAttempt.objects.order_by("number").values_list("number", "response_code")) == [
        (1, 500),
        (2, 200),
    ]
    assert receiver.received[0][0]["X-Webhook-Id"] == receiver.received[1][0]["X-Webhook-Id"]
    assert receiver.received[0][1] == receiver.received[1][1]


def test_webhook_disabled_after_last_failure(api, catalog, acme_key, local_targets, django_capture_on_commit_callbacks):
    with WebhookReceiver(statuses=[500]) as receiver:
        # given
        subscription = subscribe(api, acme_key, receiver.url, ["order.confirmed", "order.cancelled"])

        # when
        with django_capture_on_commit_callbacks(execute=True):
            number = api.call("POST", "/api/v1/orders/", acme_key, ORDER).json()["number"]
        with django_capture_on_commit_callbacks(execute=True):
            api.call("POST", f"/api/v1/orders/{number}/cancel/", acme_key)

    # then: three tries of the confirmation, and no delivery of the cancellation to the disabled subscription
    assert len(receiver.received) == 3
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.FAILED, 3, 500)
    assert delivery.event == "order.confirmed"
    stored = WebhookSubscription.objects.get(pk=subscription["id"])
    assert stored.is_active is False
    assert "failed" in stored.disabled_reason
    case = ExceptionCase.objects.get(kind=CaseKind.INTEGRATION_FAILURE)
    assert case.object_id == str(stored.pk)
    listed = api.call("GET", "/api/v1/webhooks/", acme_key).json()["results"][0]
    assert listed["active"] is False


def test_unreachable_receiver_recorded(api, catalog, acme_key, local_targets, django_capture_on_commit_callbacks):
    # given: a port nothing listens on
    with WebhookReceiver() as receiver:
        closed_url = receiver.url
    subscribe(api, acme_key, closed_url, ["order.confirmed"])

    # when
    with django_capture_on_commit_callbacks(execute=True):
        api.call("POST", "/api/v1/orders/", acme_key, ORDER)

    # then
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.response_code is None
    assert all(attempt.response_code is None for attempt in WebhookAttempt.objects.all())
    assert "Connection refused" in WebhookAttempt.objects.first().error


def test_other_customers_events_not_sent(
    api, catalog, acme_key, globex_key, local_targets, django_capture_on_commit_callbacks
):
    with WebhookReceiver() as receiver:
        subscribe(api, globex_key, receiver.url, ["order.confirmed"])

        with django_capture_on_commit_callbacks(execute=True):
            api.call("POST", "/api/v1/orders/", acme_key, ORDER)

    assert receiver.received == []
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.10/hooks",
        "http://169.254.169.254/latest",
        "http://[::1]/hooks",
        "ftp://hooks.example.com/x",
        "https://user:pass@hooks.example.com/x",
    ],
)
def test_private_or_odd_target_rejected(api, acme_key, settings, url):
    settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS = False

    response = api.call("POST", "/api/v1/webhooks/", acme_key, {"url": url, "events": ["order.shipped"]})

    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_webhook_url", "invalid"}
    assert WebhookSubscription.objects.count() == 0


def test_send_rechecks_target_address(
    api, catalog, acme_key, local_targets, settings, django_capture_on_commit_callbacks
):
    # given: subscribed while local targets were allowed, then production rules apply
    with WebhookReceiver() as receiver:
        subscribe(api, acme_key, receiver.url, ["order.confirmed"])
        settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS = False

        # when
        with django_capture_on_commit_callbacks(execute=True):
            api.call("POST", "/api/v1/orders/", acme_key, ORDER)

    # then
    assert receiver.received == []
    assert "not a public internet address" in WebhookAttempt.objects.first().error


def test_public_target_accepted_and_deleted(api, acme_key, settings):
    # given
    settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    created = subscribe(api, acme_key, "https://hooks.example.com/orders", ["order.shipped", "order.invoiced"])

    # when
    read = api.call("GET", f"/api/v1/webhooks/{created['id']}/", acme_key)
    deleted = api.call("DELETE", f"/api/v1/webhooks/{created['id']}/", acme_key)
    gone = api.call("GET", f"/api/v1/webhooks/{created['id']}/", acme_key)

    # then
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["order.invoiced", "order.shipped"]
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert WebhookSubscription.objects.count() == 0


def test_pending_delivery_dropped_when_disabled(
    api, catalog, acme_key, local_targets, django_capture_on_commit_callbacks
):
    with WebhookReceiver() as receiver:
        # given: the event is queued, then staff disable the subscription before the worker sends it
        subscription = subscribe(api, acme_key, receiver.url, ["order.confirmed"])
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            api.call("POST", "/api/v1/orders/", acme_key, ORDER)
        WebhookSubscription.objects.filter(pk=subscription["id"]).update(is_active=False)

        # when
        for callback in callbacks:
            callback()

    # then
    assert receiver.received == []
    assert WebhookDelivery.objects.get().status == DeliveryStatus.CANCELLED
