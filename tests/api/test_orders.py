"""Orders through the API: placing with idempotency keys, listing, reading and cancelling."""

import json
import threading
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.orders.models import InboundDocument, Order, OrderStatus
from apps.orders.services import shipment_record
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

ORDER = {"po_number": "PO-100", "lines": [{"sku": "CHAIR-1", "quantity": "2"}, {"sku": "DESK-1", "quantity": 1}]}


def test_place_order_allocates(api, catalog, acme_key):
    # when
    response = api.call("POST", "/api/v1/orders/", acme_key, ORDER, HTTP_IDEMPOTENCY_KEY="key-1")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get(number=body["number"])
    assert body["status"] == OrderStatus.ALLOCATED == order.status
    assert body["customer"] == "ACME-001"
    assert body["channel"] == "api"
    assert body["total"] == "599.00"
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in body["lines"]] == [
        ("CHAIR-1", "2", "99.50"),
        ("DESK-1", "1", "400.00"),
    ]
    assert "Idempotent-Replayed" not in response


def test_same_key_and_body_replays(api, catalog, acme_key):
    # given
    first = api.call("POST", "/api/v1/orders/", acme_key, ORDER, HTTP_IDEMPOTENCY_KEY="key-1")

    # when
    again = api.call("POST", "/api/v1/orders/", acme_key, ORDER, HTTP_IDEMPOTENCY_KEY="key-1")

    # then
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["number"] == first.json()["number"]
    assert Order.objects.count() == 1


def test_same_key_other_body_409(api, catalog, acme_key):
    # given
    api.call("POST", "/api/v1/orders/", acme_key, ORDER, HTTP_IDEMPOTENCY_KEY="key-1")
    other = {**ORDER, "lines": [{"sku": "CHAIR-1", "quantity": "3"}]}

    # when
    response = api.call("POST", "/api/v1/orders/", acme_key, other, HTTP_IDEMPOTENCY_KEY="key-1")

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1
    assert Order.objects.get().lines.count() == 2


def test_same_key_other_partner_is_separate(api, catalog, acme, make_key, acme_key):
    # given
    other_key = make_key(acme)
    api.call("POST", "/api/v1/orders/", acme_key, ORDER, HTTP_IDEMPOTENCY_KEY="key-1")

    # when
    response = api.call(
        "POST", "/api/v1/orders/", other_key, {**ORDER, "po_number": "PO-101"}, HTTP_IDEMPOTENCY_KEY="key-1"
    )

    # then
    assert response.status_code == 201
    assert Order.objects.count() == 2


def test_order_without_key_is_new_each_time(api, catalog, acme_key):
    first = api.call("POST", "/api/v1/orders/", acme_key, ORDER)
    second = api.call("POST", "/api/v1/orders/", acme_key, ORDER)

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["code"] == "duplicate_po_number"
    assert Order.objects.count() == 1


def test_invalid_idempotency_key_400(api, catalog, acme_key):
    response = api.call("POST", "/api/v1/orders/", acme_key, ORDER, HTTP_IDEMPOTENCY_KEY="has space")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert Order.objects.count() == 0


def test_unreadable_order_is_400_with_reasons(api, catalog, acme_key):
    # when
    body = {"po_number": "PO-7", "lines": [{"sku": "CHAIR-1", "quantity": "1e3"}]}
    response = api.call("POST", "/api/v1/orders/", acme_key, body, HTTP_IDEMPOTENCY_KEY="bad-1")
    replay = api.call("POST", "/api/v1/orders/", acme_key, body, HTTP_IDEMPOTENCY_KEY="bad-1")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_order"
    assert "scientific notation" in response.json()["reasons"][0]
    assert Order.objects.get().status == OrderStatus.REJECTED
    assert replay.status_code == 400
    assert replay["Idempotent-Replayed"] == "true"


def test_price_mismatch_holds_order(api, catalog, acme_key):
    body = {"po_number": "PO-8", "lines": [{"sku": "CHAIR-1", "quantity": "1", "unit_price": "80.00"}]}

    response = api.call("POST", "/api/v1/orders/", acme_key, body)

    assert response.status_code == 201
    assert response.json()["status"] == OrderStatus.ON_HOLD
    assert response.json()["lines"][0]["buyer_unit_price"] == "80.00"


def test_order_body_missing_fields_named(api, catalog, acme_key):
    response = api.call("POST", "/api/v1/orders/", acme_key, {"lines": [{"quantity": "1"}]})

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"po_number", "lines.0.sku"}
    assert Order.objects.count() == 0


def test_orders_list_filters_and_scoping(api, acme, globex, acme_key):
    # given
    OrderFactory(customer=acme, po_number="A-1")
    OrderFactory(customer=acme, po_number="A-2", status=OrderStatus.CANCELLED)
    OrderFactory(customer=globex, po_number="G-1")

    # when
    everything = api.call("GET", "/api/v1/orders/", acme_key).json()["results"]
    cancelled = api.call("GET", "/api/v1/orders/?status=cancelled", acme_key).json()["results"]
    by_po = api.call("GET", "/api/v1/orders/?po_number=A-1", acme_key).json()["results"]
    bad = api.call("GET", "/api/v1/orders/?status=lost", acme_key)

    # then
    assert [row["po_number"] for row in everything] == ["A-2", "A-1"]
    assert [row["po_number"] for row in cancelled] == ["A-2"]
    assert [row["po_number"] for row in by_po] == ["A-1"]
    assert bad.status_code == 400


def test_order_detail_shows_shipments(api, catalog, acme_key):
    # given
    number = api.call("POST", "/api/v1/orders/", acme_key, ORDER).json()["number"]
    shipment_record(
        order=Order.objects.get(number=number),
        shipment_id="SHP-1",
        lines=[("1", "2")],
        carrier="DHL",
        tracking_number="TRK-1",
    )

    # when
    body = api.call("GET", f"/api/v1/orders/{number}/", acme_key).json()

    # then
    assert body["status"] == OrderStatus.PARTIALLY_SHIPPED
    assert body["shipments"][0]["shipment_id"] == "SHP-1"
    assert body["shipments"][0]["tracking_number"] == "TRK-1"
    assert body["shipments"][0]["lines"] == [{"line_number": "1", "quantity": "2"}]
    assert body["lines"][0]["quantity_shipped"] == "2"


def test_cancel_order_releases_stock(api, catalog, acme_key):
    # given
    number = api.call("POST", "/api/v1/orders/", acme_key, ORDER).json()["number"]

    # when
    response = api.call("POST", f"/api/v1/orders/{number}/cancel/", acme_key, {"reason": "Ordered twice"})
    again = api.call("POST", f"/api/v1/orders/{number}/cancel/", acme_key)

    # then
    assert response.status_code == 200
    assert response.json()["status"] == OrderStatus.CANCELLED
    assert "Ordered twice" in response.json()["status_reason"]
    assert again.status_code == 200
    chair_reserved = sum(level.reserved for level in catalog["chair"].stock_levels.all())
    assert chair_reserved == Decimal("2")


def test_cancel_shipped_order_409(api, catalog, acme_key):
    # given
    number = api.call("POST", "/api/v1/orders/", acme_key, ORDER).json()["number"]
    shipment_record(order=Order.objects.get(number=number), shipment_id="S-1", lines=[("1", "2"), ("2", "1")])

    # when
    response = api.call("POST", f"/api/v1/orders/{number}/cancel/", acme_key)

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "order_state_conflict"
    assert Order.objects.get(number=number).status == OrderStatus.SHIPPED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_same_key_makes_one_order(catalog, acme_key):
    """Two threads send the same key and body at once; PostgreSQL's unique index lets one create the order."""
    barrier = threading.Barrier(2)
    responses = [None, None]

    def place(index: int) -> None:
        client = APIClient()
        try:
            barrier.wait(timeout=30)
            responses[index] = client.post(
                "/api/v1/orders/",
                data=json.dumps(ORDER),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {acme_key}",
                HTTP_IDEMPOTENCY_KEY="race-1",
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [response.status_code for response in responses] == [201, 201]
    assert responses[0].json()["number"] == responses[1].json()["number"]
    assert sorted(response.get("Idempotent-Replayed", "") for response in responses) == ["", "true"]
    assert Order.objects.count() == 1
    assert InboundDocument.objects.filter(document_id="race-1").count() == 1
