"""End to end on a live server: a PunchOut cart becomes an order the buyer hears about at each step."""

from io import StringIO

import pytest
from django.core.management import call_command

from apps.core.xml import parse_xml
from apps.orders.models import Order, OrderStatus, OutboundEndpoint, OutboxEvent, OutboxStatus
from apps.punchout.cxml.validation import validate_document
from apps.punchout.models import BuyerConnection
from apps.punchout.order_request import connection_source
from tests.orders.buyer_server import BuyerServer
from tests.orders.round_trip import EXPECTED_DOCUMENTS, run_round_trip


@pytest.fixture
def demo(transactional_db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ORDER_OUTBOX_SENDERS = {"cxml": "apps.punchout.outbound"}
    # Production settings keep a manifest of collected static files, which tests do not build.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("seed_demo", stdout=StringIO())
    return BuyerConnection.objects.get(customer__account_number="ACME-001", protocol="cxml")


def test_cart_to_paid_order_sends_valid_documents(demo, live_server):
    # given a buyer system on 127.0.0.1 that the demo connection's documents go to
    with BuyerServer() as buyer:
        OutboundEndpoint.objects.create(source=connection_source(demo), url=buyer.url)

        # when
        trip = run_round_trip(base_url=live_server.url, buyer=buyer, po_number="PO-LIVE-1")

    # then
    assert trip.intake_status.startswith("200 ")
    assert buyer.payload_names() == EXPECTED_DOCUMENTS
    for body in trip.received:
        validate_document(body)
    confirmation, ship_notice, invoice, status_update = (parse_xml(body) for body in trip.received)
    order = Order.objects.get(number=trip.order_number)
    assert order.status == OrderStatus.PAID
    assert order.cart_differences == []
    assert confirmation.find(".//OrderReference").get("orderID") == "PO-LIVE-1"
    assert confirmation.find(".//ConfirmationHeader").get("type") == "accept"
    assert ship_notice.findtext(".//ShipmentIdentifier") == "JD014600006281"
    assert invoice.find(".//InvoiceDetailRequestHeader").get("invoiceID") == "INV-PO-LIVE-1"
    assert invoice.findtext(".//InvoiceDetailSummary/NetAmount/Money") == f"{order.total:.2f}"
    assert status_update.find(".//Status").get("text") == "Paid"
    line = order.lines.get()
    assert line.supplier_part_auxiliary_id.startswith("cartline-")
    assert line.quantity_shipped == line.quantity_invoiced == line.quantity
    assert set(OutboxEvent.objects.filter(order=order).values_list("status", flat=True)) == {OutboxStatus.DELIVERED}
