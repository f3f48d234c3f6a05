"""The ERP's messages about orders: acknowledgement, pull feed, shipments, invoices and payments, each applied once."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.api.models import Scope
from apps.core.xml import parse_xml
from apps.exceptions.models import CaseKind, ExceptionCase
from apps.orders.models import (
    ErpMessage,
    ErpOrderReport,
    Invoice,
    Order,
    OrderStatus,
    OutboundEndpoint,
    OutboxEvent,
    Payment,
    Shipment,
)
from apps.punchout.cxml.validation import validate_document
from apps.punchout.order_request import connection_source
from tests.factories import CustomerFactory
from tests.orders.buyer_server import BuyerServer
from tests.punchout.support import create_order_connection, place_order

pytestmark = pytest.mark.django_db

SENDERS = {"cxml": "apps.punchout.outbound"}
SHIPMENT = {
    "shipment_id": "SHP-1",
    "lines": [{"line_number": "1", "quantity": "1"}],
    "carrier": "DHL",
    "tracking_number": "JD 0146",
    "shipped_at": "2026-12-05T08:00:00Z",
}
# CHAIR-1 costs 99.50 under the connection's contract; two are ordered.
INVOICE = {
    "invoice_number": "INV-1",
    "lines": [{"line_number": "1", "quantity": "2"}],
    "tax": "37.81",
    "total": "236.81",
    "due_date": "2027-01-31",
}
PAYMENT = {"payment_id": "PAY-1", "amount": "236.81", "paid_on": "2026-12-01"}


@pytest.fixture
def connection(db):
    return create_order_connection()


@pytest.fixture
def order(connection):
    placed = place_order(connection).order
    assert placed.status == OrderStatus.ALLOCATED
    return placed


@pytest.fixture
def erp_key(make_key):
    return make_key(all_customers=True, scopes=[Scope.ERP_WRITE, Scope.ORDERS_READ], name="ERP")


def path(order, message: str) -> str:
    return f"/api/v1/orders/{order.number}/{message}/"


def counts() -> dict:
    """Count every row an ERP message can write, to show that a replay or a rejection wrote nothing."""
    return {
        "shipments": Shipment.objects.count(),
        "invoices": Invoice.objects.count(),
        "payments": Payment.objects.count(),
        "outbox": OutboxEvent.objects.count(),
        "messages": ErpMessage.objects.count(),
        "order_history": Order.history.count(),
        "report_history": ErpOrderReport.history.count(),
        "cases": ExceptionCase.objects.count(),
    }


def test_acknowledgement_stores_reference_once(api, order, erp_key):
    # when
    first = api.call("POST", path(order, "erp-ack"), erp_key, {"erp_reference": "ERP-4711"})
    before_replay = counts()
    replay = api.call("POST", path(order, "erp-ack"), erp_key, {"erp_reference": "ERP-4711"})

    # then
    assert first.status_code == 201
    assert first.json()["erp_reference"] == "ERP-4711"
    assert first.json()["order"] == order.number
    order.refresh_from_db()
    assert order.erp_reference == "ERP-4711"
    assert order.erp_acknowledged_at is not None
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert counts() == before_replay
    assert ErpOrderReport.objects.get(order=order).erp_reference == "ERP-4711"


def test_second_reference_for_acknowledged_order_conflicts(api, order, erp_key):
    # given
    api.call("POST", path(order, "erp-ack"), erp_key, {"erp_reference": "ERP-4711"})
    before = counts()

    # when
    response = api.call("POST", path(order, "erp-ack"), erp_key, {"erp_reference": "ERP-9999"})

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "erp_reference_conflict"
    assert "'ERP-4711'" in response.json()["detail"]
    order.refresh_from_db()
    assert order.erp_reference == "ERP-4711"
    assert counts() == before


def test_acknowledgement_of_held_order_conflicts(api, connection, erp_key):
    # given an order held by a price mismatch
    held = place_order(connection, unit_price="80.00").order
    assert held.status == OrderStatus.ON_HOLD

    # when
    response = api.call("POST", path(held, "erp-ack"), erp_key, {"erp_reference": "ERP-1"})

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "order_state_conflict"
    held.refresh_from_db()
    assert held.erp_reference == ""
    assert not ErpMessage.objects.exists()


def test_pull_feed_lists_unacknowledged_confirmed_orders(api, connection, erp_key):
    # given two allocated orders, one acknowledged, and one held order
    waiting = place_order(connection).order
    acknowledged = place_order(connection, document_id="po-doc-2@buyer", po_number="PO-78").order
    held = place_order(connection, document_id="po-doc-3@buyer", po_number="PO-79", unit_price="80.00").order
    api.call("POST", path(acknowledged, "erp-ack"), erp_key, {"erp_reference": "ERP-2"})

    # when
    unacknowledged = api.call("GET", "/api/v1/orders/?status=confirmed&erp_acknowledged=false", erp_key)
    done = api.call("GET", "/api/v1/orders/?erp_acknowledged=true", erp_key)
    exact = api.call("GET", "/api/v1/orders/?status=confirmed", erp_key)
    invalid = api.call("GET", "/api/v1/orders/?erp_acknowledged=maybe", erp_key)

    # then
    assert [row["number"] for row in unacknowledged.json()["results"]] == [waiting.number]
    assert unacknowledged.json()["results"][0]["erp_acknowledged_at"] is None
    assert [row["number"] for row in done.json()["results"]] == [acknowledged.number]
    assert done.json()["results"][0]["erp_reference"] == "ERP-2"
    assert exact.json()["results"] == []
    assert held.number not in unacknowledged.content.decode()
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "invalid_filter"


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS)
def test_each_message_replayed_changes_nothing(api, connection, erp_key, django_capture_on_commit_callbacks):
    # given an order whose documents go to a buyer system on 127.0.0.1
    with BuyerServer() as buyer:
        OutboundEndpoint.objects.create(source=connection_source(connection), url=buyer.url)
        with django_capture_on_commit_callbacks(execute=True):
            order = place_order(connection).order
        steps = [
            (path(order, "erp-ack"), {"erp_reference": "ERP-1"}, OrderStatus.ALLOCATED),
            (path(order, "shipments"), SHIPMENT, OrderStatus.PARTIALLY_SHIPPED),
            (path(order, "shipments"), {**SHIPMENT, "shipment_id": "SHP-2"}, OrderStatus.SHIPPED),
            (path(order, "invoices"), INVOICE, OrderStatus.INVOICED),
            ("/api/v1/invoices/INV-1/payments/", PAYMENT, OrderStatus.PAID),
        ]

        for url, body, status in steps:
            # when the message is sent, then sent again
            with django_capture_on_commit_callbacks(execute=True):
                first = api.call("POST", url, erp_key, body)
            after_first = counts()
            with django_capture_on_commit_callbacks(execute=True) as replay_callbacks:
                replay = api.call("POST", url, erp_key, body)

            # then the replay returns the first result and writes nothing
            assert first.status_code == 201, (url, first.json())
            assert "Idempotent-Replayed" not in first
            assert replay.status_code == 201, url
            assert replay.json() == first.json(), url
            assert replay["Idempotent-Replayed"] == "true"
            assert counts() == after_first, url
            assert replay_callbacks == [], url
            order.refresh_from_db()
            assert order.status == status, url

    # and the buyer got one valid document per step, the payment's as a status update
    assert buyer.payload_names() == [
        "ConfirmationRequest",
        "ShipNoticeRequest",
        "ShipNoticeRequest",
        "InvoiceDetailRequest",
        "StatusUpdateRequest",
    ]
    for body in buyer.received:
        validate_document(body)
    assert parse_xml(buyer.received[1]).find(".//ShipNoticeHeader").get("shipmentID") == "SHP-1"
    assert parse_xml(buyer.received[3]).findtext(".//InvoiceDetailSummary/NetAmount/Money") == "236.81"
    line = order.lines.get()
    assert (line.quantity_shipped, line.quantity_invoiced) == (2, 2)
    assert Invoice.objects.get().paid_amount == Decimal("236.81")
    report = ErpOrderReport.objects.get(order=order)
    assert report.shipped == {"1": "2"}
    assert report.invoices == {"INV-1": {"total": "236.81", "tax": "37.81", "lines": {"1": "2"}}}
    assert report.payments == {"PAY-1": {"invoice": "INV-1", "amount": "236.81"}}


def test_replay_with_equal_numbers_matches(api, order, erp_key):
    # given
    api.call("POST", path(order, "shipments"), erp_key, SHIPMENT)

    # when the same shipment comes with the quantity as a JSON number with decimals
    replay = api.call(
        "POST", path(order, "shipments"), erp_key, {**SHIPMENT, "lines": [{"line_number": "1", "quantity": 1.0}]}
    )

    # then
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert Shipment.objects.count() == 1


@pytest.mark.parametrize(
    ("message", "first", "changed"),
    [
        ("shipments", SHIPMENT, {**SHIPMENT, "lines": [{"line_number": "1", "quantity": "2"}]}),
        ("payments", PAYMENT, {**PAYMENT, "amount": "100.00"}),
    ],
)
def test_same_id_with_other_body_conflicts(api, order, erp_key, message, first, changed):
    # given
    if message == "payments":
        whole = {**SHIPMENT, "lines": [{"line_number": "1", "quantity": 2}]}
        api.call("POST", path(order, "shipments"), erp_key, whole)
        api.call("POST", path(order, "invoices"), erp_key, INVOICE)
        url = "/api/v1/invoices/INV-1/payments/"
    else:
        url = path(order, message)
    assert api.call("POST", url, erp_key, first).status_code == 201
    before = counts()

    # when
    response = api.call("POST", url, erp_key, changed)

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "erp_message_conflict"
    assert "another body" in response.json()["detail"]
    assert counts() == before


def test_over_shipment_rejected(api, order, erp_key):
    # given
    before = counts()

    # when
    response = api.call(
        "POST", path(order, "shipments"), erp_key, {**SHIPMENT, "lines": [{"line_number": "1", "quantity": "3"}]}
    )

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "over_shipment"
    assert "reports 3 of line 1" in response.json()["detail"]
    assert "ordered 2" in response.json()["detail"]
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert order.lines.get().quantity_shipped == 0
    case = ExceptionCase.objects.get()
    assert case.kind == CaseKind.INTEGRATION_CONFLICT
    assert case.team.name == "finance"
    assert case.concerning == order
    assert case.facts["code"] == "over_shipment"
    assert case.facts["id"] == "SHP-1"
    assert counts() == {**before, "cases": before["cases"] + 1}

    # and the corrected shipment with the same id is applied
    corrected = api.call("POST", path(order, "shipments"), erp_key, SHIPMENT)
    assert corrected.status_code == 201
    assert corrected.json()["status"] == OrderStatus.PARTIALLY_SHIPPED


def test_shipment_dated_in_future_rejected(api, order, erp_key):
    # given
    before = counts()
    next_year = (timezone.now() + dt.timedelta(days=365)).replace(microsecond=0)

    # when
    response = api.call("POST", path(order, "shipments"), erp_key, {**SHIPMENT, "shipped_at": next_year.isoformat()})

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "date_in_future"
    assert response.json()["detail"].startswith("Shipment SHP-1: shipped_at ")
    assert "is in the future" in response.json()["detail"]
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    case = ExceptionCase.objects.get()
    assert case.facts["code"] == "date_in_future"
    assert counts() == {**before, "cases": before["cases"] + 1}


def test_invoice_total_mismatch_rejected(api, order, erp_key):
    # given
    api.call("POST", path(order, "shipments"), erp_key, {**SHIPMENT, "lines": [{"line_number": "1", "quantity": "2"}]})
    before = counts()

    # when
    response = api.call("POST", path(order, "invoices"), erp_key, {**INVOICE, "total": "250.00"})

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invoice_total_mismatch"
    assert "250.00" in response.json()["detail"]
    assert "236.81" in response.json()["detail"]
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    assert not Invoice.objects.exists()
    case = ExceptionCase.objects.get()
    assert (case.kind, case.team.name, case.reference) == (CaseKind.INTEGRATION_CONFLICT, "finance", order.number)
    assert case.facts["body"]["total"] == "250"
    assert counts() == {**before, "cases": before["cases"] + 1}


def test_payment_for_unknown_invoice_rejected(api, order, erp_key):
    # given
    before = counts()

    # when
    response = api.call("POST", "/api/v1/invoices/INV-404/payments/", erp_key, PAYMENT)
    again = api.call("POST", "/api/v1/invoices/INV-404/payments/", erp_key, PAYMENT)

    # then
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_invoice"
    assert "'INV-404'" in response.json()["detail"]
    assert again.json() == response.json()
    case = ExceptionCase.objects.get()
    assert (case.kind, case.team.name, case.reference) == (CaseKind.INTEGRATION_CONFLICT, "finance", "INV-404")
    assert case.concerning is None
    assert counts() == {**before, "cases": before["cases"] + 1}


def test_other_customers_orders_and_invoices_are_not_found(api, order, erp_key, make_key):
    # given an invoice of the order, and a key with erp:write for another customer only
    api.call("POST", path(order, "shipments"), erp_key, {**SHIPMENT, "lines": [{"line_number": "1", "quantity": "2"}]})
    api.call("POST", path(order, "invoices"), erp_key, INVOICE)
    other_key = make_key(CustomerFactory(account_number="OTHER-1"), scopes=[Scope.ERP_WRITE])
    before = counts()

    # when
    responses = [
        api.call("POST", path(order, "erp-ack"), other_key, {"erp_reference": "X"}),
        api.call("POST", path(order, "shipments"), other_key, {**SHIPMENT, "shipment_id": "SHP-X"}),
        api.call("POST", path(order, "invoices"), other_key, {**INVOICE, "invoice_number": "INV-X"}),
        api.call("POST", "/api/v1/invoices/INV-1/payments/", other_key, PAYMENT),
    ]

    # then
    assert [response.status_code for response in responses] == [404, 404, 404, 404]
    assert [response.json()["code"] for response in responses] == ["not_found"] * 3 + ["unknown_invoice"]
    assert Invoice.objects.get().paid_amount == 0
    order.refresh_from_db()
    assert order.erp_reference == ""
    assert counts()["payments"] == before["payments"]
    assert counts()["shipments"] == before["shipments"]


def test_replay_by_other_customers_key_not_found(api, order, erp_key, make_key):
    # given messages applied through the ERP's key
    bodies = [
        (path(order, "erp-ack"), {"erp_reference": "ERP-1"}),
        (path(order, "shipments"), {**SHIPMENT, "lines": [{"line_number": "1", "quantity": "2"}]}),
        (path(order, "invoices"), INVOICE),
        ("/api/v1/invoices/INV-1/payments/", PAYMENT),
    ]
    first = [api.call("POST", url, erp_key, body) for url, body in bodies]
    assert [response.status_code for response in first] == [201] * 4
    other_key = make_key(CustomerFactory(account_number="OTHER-1"), scopes=[Scope.ERP_WRITE])
    before = counts()

    # when a key of another customer sends the same messages again
    replays = [api.call("POST", url, other_key, body) for url, body in bodies]

    # then none gets the kept result, and only the unknown invoice's case for finance is new
    assert [response.status_code for response in replays] == [404] * 4
    assert all("Idempotent-Replayed" not in response for response in replays)
    assert counts() == {**before, "cases": before["cases"] + 1}


def test_invoice_replay_under_other_order_not_replayed(api, connection, order, erp_key):
    # given an invoice applied for the order, and a second order of the same customer
    api.call("POST", path(order, "shipments"), erp_key, {**SHIPMENT, "lines": [{"line_number": "1", "quantity": "2"}]})
    assert api.call("POST", path(order, "invoices"), erp_key, INVOICE).status_code == 201
    second = place_order(connection, po_number="PO-2", document_id="doc-2").order

    # when the same invoice body arrives under the second order's URL, and under an unknown order
    under_second = api.call("POST", path(second, "invoices"), erp_key, INVOICE)
    under_unknown = api.call("POST", "/api/v1/orders/SO-UNKNOWN/invoices/", erp_key, INVOICE)

    # then the second is decided by the order service as before, and the unknown order is not found
    assert under_second.status_code == 201
    assert under_second.json()["order"] == order.number
    assert under_unknown.status_code == 404


def test_messages_need_erp_write_scope(api, order, make_key, connection):
    # given a key of the order's customer without erp:write
    key = make_key(connection.customer, scopes=[Scope.ORDERS_READ, Scope.ORDERS_WRITE])

    # when
    response = api.call("POST", path(order, "shipments"), key, SHIPMENT)

    # then
    assert response.status_code == 403
    assert not Shipment.objects.exists()


def test_invalid_message_body_names_the_field(api, order, erp_key):
    # when
    response = api.call(
        "POST", path(order, "shipments"), erp_key, {**SHIPMENT, "lines": [{"line_number": "1", "quantity": "-1"}]}
    )

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "lines.0.quantity" in response.json()["fields"]
    assert not ExceptionCase.objects.exists()
