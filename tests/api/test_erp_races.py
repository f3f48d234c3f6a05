"""Two ERP messages with the same id at the same moment: PostgreSQL's locks let exactly one of them apply."""

import json
import threading
from decimal import Decimal

import pytest
from django.db import connection as database
from rest_framework.test import APIClient

from apps.exceptions.models import ExceptionCase
from apps.orders.models import ErpMessage, Invoice, Payment, Shipment
from tests.api.test_erp_orders import INVOICE, PAYMENT, SHIPMENT

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post_together(key: str, requests: list[tuple[str, dict]]) -> list:
    """Send each (path, body) from its own thread and database connection, released at once by a barrier."""
    barrier = threading.Barrier(len(requests))
    responses = [None] * len(requests)

    def send(index: int) -> None:
        path, body = requests[index]
        try:
            barrier.wait(timeout=30)
            responses[index] = APIClient().post(
                path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
            )
        finally:
            database.close()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


def test_concurrent_same_shipment_applies_once(allocated_order, erp_writer_key):
    path = f"/api/v1/orders/{allocated_order.number}/shipments/"

    responses = post_together(erp_writer_key, [(path, SHIPMENT), (path, SHIPMENT)])

    assert [response.status_code for response in responses] == [201, 201]
    assert sorted(response.get("Idempotent-Replayed", "") for response in responses) == ["", "true"]
    assert responses[0].json() == responses[1].json()
    assert Shipment.objects.filter(order=allocated_order, shipment_id="SHP-1").count() == 1
    assert ErpMessage.objects.filter(message_key=f"{allocated_order.number}/SHP-1").count() == 1


def test_concurrent_shipment_with_other_body_conflicts(allocated_order, erp_writer_key):
    path = f"/api/v1/orders/{allocated_order.number}/shipments/"
    other = {**SHIPMENT, "lines": [{"line_number": "1", "quantity": "2"}]}

    responses = post_together(erp_writer_key, [(path, SHIPMENT), (path, other)])

    assert sorted(response.status_code for response in responses) == [201, 409]
    conflict = next(response for response in responses if response.status_code == 409)
    assert conflict.json()["code"] == "erp_message_conflict"
    assert Shipment.objects.filter(order=allocated_order).count() == 1
    assert not ExceptionCase.objects.exists()


def test_concurrent_same_invoice_applies_once(allocated_order, erp_writer_key, api):
    shipped = {**SHIPMENT, "lines": [{"line_number": "1", "quantity": "2"}]}
    shipment = api.call("POST", f"/api/v1/orders/{allocated_order.number}/shipments/", erp_writer_key, shipped)
    assert shipment.status_code == 201
    path = f"/api/v1/orders/{allocated_order.number}/invoices/"

    responses = post_together(erp_writer_key, [(path, INVOICE), (path, INVOICE)])

    assert [response.status_code for response in responses] == [201, 201]
    assert sorted(response.get("Idempotent-Replayed", "") for response in responses) == ["", "true"]
    assert Invoice.objects.filter(number="INV-1").count() == 1


def test_concurrent_same_payment_counts_once(allocated_order, erp_writer_key, api):
    shipped = {**SHIPMENT, "lines": [{"line_number": "1", "quantity": "2"}]}
    shipment = api.call("POST", f"/api/v1/orders/{allocated_order.number}/shipments/", erp_writer_key, shipped)
    assert shipment.status_code == 201
    invoice = api.call("POST", f"/api/v1/orders/{allocated_order.number}/invoices/", erp_writer_key, INVOICE)
    assert invoice.status_code == 201
    path = "/api/v1/invoices/INV-1/payments/"

    responses = post_together(erp_writer_key, [(path, PAYMENT), (path, PAYMENT)])

    assert [response.status_code for response in responses] == [201, 201]
    assert sorted(response.get("Idempotent-Replayed", "") for response in responses) == ["", "true"]
    assert Payment.objects.filter(payment_id="PAY-1").count() == 1
    assert Invoice.objects.get(number="INV-1").paid_amount == Decimal("236.81")
