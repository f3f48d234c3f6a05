"""Every channel writes its documents to the log, with the demo secrets masked in bodies and log lines."""

import base64
import io
import json

import pytest
from django.test import Client
from django.urls import reverse

from apps.catalog.imports.service import import_file
from apps.catalog.models import ImportJob, Product
from apps.core.xml import parse_xml
from apps.integrations.models import Channel, Direction, DocumentLog, Outcome
from apps.orders.models import Order
from apps.punchout.models import PunchOutSession
from tests.api.receiver import WebhookReceiver
from tests.integrations.documents import (
    DEMO_SECRETS,
    order_request_from_cart,
    profile_request,
    setup_request,
    staff_login,
)
from tests.punchout.support import CXML_URL, OCI_URL, return_form, session_path, start_page_path

pytestmark = pytest.mark.django_db


def _open_cxml_session(client, **headers) -> str:
    response = client.post(CXML_URL, data=setup_request(), content_type="text/xml", **headers)
    return session_path(client.get(start_page_path(response))["Location"])


def _first_sku(client, base: str) -> str:
    return client.get(base).content.split(b'<tr data-sku="')[1].split(b'"')[0].decode()


def _returned_document(response) -> bytes:
    name, value = return_form(response)["fields"][0]
    return value.encode() if name == "cxml-urlencoded" else base64.b64decode(value)


def _order_from_cart(client, capture, *, po_number: str, payload_id: str):
    """Open a demo session, return a two-piece cart and send its OrderRequest; on-commit work runs at once."""
    base = _open_cxml_session(client)
    client.post(base + "cart/", {"sku": _first_sku(client, base), "quantity": "2"})
    cart = _returned_document(client.post(base + "return/"))
    with capture(execute=True):
        return client.post(
            CXML_URL,
            data=order_request_from_cart(cart, po_number=po_number, payload_id=payload_id),
            content_type="text/xml",
        )


def _stored_texts() -> list[str]:
    texts = []
    for row in DocumentLog.objects.all():
        texts += [row.request_text, row.response_text, row.message, row.url]
    return texts


def test_cxml_setup_profile_and_order_are_logged(client, demo_connection, buyer, django_capture_on_commit_callbacks):
    # given a demo buyer that asked for our profile
    client.post(CXML_URL, data=profile_request(), content_type="text/xml")

    # when it opens a session, returns the cart and sends the purchase order
    answer = _order_from_cart(
        client, django_capture_on_commit_callbacks, po_number="PO-LOG-1", payload_id="order-1@buyer.test"
    )

    # then each inbound request has its row, with the order's numbers on the OrderRequest
    assert parse_xml(answer.content).find("Response/Status").get("code") == "200"
    order = Order.objects.get(po_number="PO-LOG-1")
    inbound = DocumentLog.objects.filter(channel=Channel.CXML).order_by("created_at", "pk")
    assert [row.document_type for row in inbound] == ["ProfileRequest", "PunchOutSetupRequest", "OrderRequest"]
    assert {row.connection_id for row in inbound} == {demo_connection.pk}
    assert {row.outcome for row in inbound} == {Outcome.SUCCEEDED}
    assert {row.cxml_status for row in inbound} == {"200"}
    order_row = inbound.get(document_type="OrderRequest")
    assert order_row.payload_id == "order-1@buyer.test"
    assert order_row.po_number == "PO-LOG-1"
    assert order_row.order_id == order.pk
    assert order_row.order_number == order.number
    assert order_row.customer_id == demo_connection.customer_id
    assert "<SharedSecret>********</SharedSecret>" in order_row.request_text
    assert order_row.response_text.startswith("<?xml")
    assert order_row.duration_ms is not None


def test_cart_return_is_logged_as_outbound_message(client, demo_connection):
    # given a demo PunchOut session with one line
    base = _open_cxml_session(client)
    client.post(base + "cart/", {"sku": _first_sku(client, base), "quantity": "1"})

    # when the cart is returned
    document = _returned_document(client.post(base + "return/"))

    # then the PunchOutOrderMessage is in the log with its payloadID
    row = DocumentLog.objects.get(channel=Channel.CART_RETURN)
    assert row.direction == Direction.OUTBOUND
    assert row.document_type == "PunchOutOrderMessage"
    assert row.payload_id == parse_xml(document).get("payloadID")
    assert row.connection_id == demo_connection.pk
    assert "PunchOutOrderMessage" in row.request_text
    assert row.url == "http://127.0.0.1:9000/punchout/return"


def test_cart_return_failure_is_logged(client, demo_connection):
    # given a session whose cart was already returned
    base = _open_cxml_session(client)
    client.post(base + "cart/", {"sku": _first_sku(client, base), "quantity": "1"})
    client.post(base + "return/")

    # when it is returned again
    client.post(base + "return/")

    # then the second return is a failed row
    rows = list(DocumentLog.objects.filter(channel=Channel.CART_RETURN).order_by("pk"))
    assert [row.outcome for row in rows] == [Outcome.SUCCEEDED, Outcome.FAILED]
    assert rows[1].message


def test_oci_calls_logged_password_masked(client, demo):
    # given the demo OCI connection's credentials
    credentials = {"USERNAME": "acme-oci", "PASSWORD": "demo-oci-secret"}

    # when it logs in by POST and GET, checks a quantity, fails a login and returns a cart
    login = client.post(OCI_URL, {**credentials, "HOOK_URL": "http://localhost:9000/hook?x=1"})
    base = session_path(client.get(login["Location"])["Location"])
    sku = _first_sku(client, base)
    client.post(base + "cart/", {"sku": sku, "quantity": "1"})
    client.post(base + "return/")
    client.get(OCI_URL, {**credentials, "HOOK_URL": "http://localhost:9000/hook"})
    client.post(OCI_URL, {**credentials, "FUNCTION": "QUANTITYCHECK", "EXT_PRODUCT_ID": sku, "QUANTITY": "1"})
    client.post(OCI_URL, {"USERNAME": "acme-oci", "PASSWORD": "wrong-password", "HOOK_URL": "http://localhost/"})

    # then every call is a row, the failed login failed, and no password is stored
    rows = list(DocumentLog.objects.filter(channel=Channel.OCI).order_by("pk"))
    assert [row.document_type for row in rows] == ["OCI login", "OCI login", "OCI QUANTITYCHECK", "OCI login"]
    assert [row.outcome for row in rows] == [Outcome.SUCCEEDED] * 3 + [Outcome.FAILED]
    assert rows[3].connection_id is None
    assert "PASSWORD=********" in rows[0].request_text
    assert "wrong-password" not in rows[3].request_text
    assert json.loads(rows[2].response_text)["EXT_PRODUCT_ID"] == sku
    returned = DocumentLog.objects.get(channel=Channel.CART_RETURN)
    assert returned.document_type == "OCI NEW_ITEM"
    assert f"NEW_ITEM-EXT_PRODUCT_ID[1]={sku}" in returned.request_text


def test_rejected_cxml_login_is_a_failed_row(client, demo_connection):
    # when a setup request carries a wrong SharedSecret
    client.post(CXML_URL, data=setup_request(shared_secret="not-the-secret"), content_type="text/xml")

    # then the row failed with the cXML status 401 and no connection
    row = DocumentLog.objects.get(channel=Channel.CXML)
    assert row.outcome == Outcome.FAILED
    assert row.cxml_status == "401"
    assert row.connection_id is None
    assert row.http_status == 200
    assert "not-the-secret" not in row.request_text


def test_outbound_order_document_is_logged(client, demo_connection, buyer, django_capture_on_commit_callbacks):
    # when a purchase order is taken in and its first status document is sent on commit
    _order_from_cart(
        client, django_capture_on_commit_callbacks, po_number="PO-OUT-1", payload_id="order-out@buyer.test"
    )

    # then the document the buyer received is in the log, with our SharedSecret masked
    sent = parse_xml(buyer.received[0])
    row = DocumentLog.objects.get(channel=Channel.ORDER_STATUS)
    assert row.direction == Direction.OUTBOUND
    assert row.payload_id == sent.get("payloadID")
    assert row.po_number == "PO-OUT-1"
    assert row.connection_id == demo_connection.pk
    assert row.http_status == 200
    assert row.cxml_status == "200"
    assert row.outcome == Outcome.SUCCEEDED
    assert row.url == buyer.url
    assert row.document_type in {"ConfirmationRequest", "StatusUpdateRequest"}
    assert "<SharedSecret>********</SharedSecret>" in row.request_text
    assert row.outbox_event_id is not None


def test_catalog_import_job_is_logged(demo):
    # given a catalog file with one good and one bad row
    header = "sku,name,description,manufacturer,manufacturer_part_number,category_code,category_name,unspsc,uom,"
    header += "list_price,currency,lead_time_days,active,updated_at\n"
    good = "LOG-1,Log pen,,,,PENS,Pens,,EA,1.50,EUR,2,1,2026-01-01T00:00:00+00:00\n"
    bad = "LOG-2,Bad pen,,,,PENS,Pens,,EA,not-a-price,EUR,2,1,2026-01-01T00:00:00+00:00\n"

    # when it is imported
    job = import_file(io.BytesIO((header + good + bad).encode()), kind="catalog", source="command", file_name="f.csv")

    # then the job's row carries its counts
    row = DocumentLog.objects.get(channel=Channel.CATALOG_IMPORT, import_job=job)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert row.outcome == Outcome.SUCCEEDED
    assert row.document_type == "catalog import (command)"
    assert row.url == "f.csv"
    summary = json.loads(row.request_text)
    assert summary["created"] == 1
    assert summary["rejected"] == 1


def test_demo_secrets_never_stored_or_logged(
    client, demo_connection, buyer, json_log, caplog, django_capture_on_commit_callbacks
):
    # given every channel exercised with the demo credentials
    caplog.set_level("DEBUG")
    _order_from_cart(client, django_capture_on_commit_callbacks, po_number="PO-SECRET", payload_id="s@buyer.test")
    client.post(CXML_URL, data=profile_request(), content_type="text/xml")
    client.post(
        CXML_URL, data={"cxml-base64": base64.b64encode(setup_request()).decode()}, HTTP_X_REQUEST_ID="req-form-1"
    )
    client.get(OCI_URL, {"USERNAME": "acme-oci", "PASSWORD": "demo-oci-secret", "HOOK_URL": "http://localhost/h"})
    client.post(OCI_URL, {"USERNAME": "acme-oci", "PASSWORD": "demo-oci-secret", "FUNCTION": "NOPE"})
    client.get("/admin/login/?next=/admin/", {"password": "demo-pass-2026"})

    # when the stored bodies and the captured log output are read
    stored = "\n".join(_stored_texts())
    logged = json_log.getvalue() + caplog.text

    # then the documents are there and no demo secret is
    assert DocumentLog.objects.filter(channel=Channel.ORDER_STATUS).exists()
    assert DocumentLog.objects.filter(channel=Channel.OCI).count() == 2
    assert PunchOutSession.objects.count() == 3
    for secret in DEMO_SECRETS:
        assert secret not in stored, secret
        assert secret not in logged, secret
    assert '"request_id": "req-form-1"' in json_log.getvalue()


def test_order_found_in_admin_by_po_number(client, demo_connection, buyer, django_capture_on_commit_callbacks):
    # given an order sent by cXML and its response
    _order_from_cart(client, django_capture_on_commit_callbacks, po_number="PO-FIND-9", payload_id="f@buyer.test")
    order_row = DocumentLog.objects.get(document_type="OrderRequest")

    # when staff search the log for the PO number and open the order's row
    admin_client = staff_login(Client(), "admin")
    listing = admin_client.get(reverse("admin:integrations_documentlog_changelist"), {"q": "PO-FIND-9"})
    detail = admin_client.get(reverse("admin:integrations_documentlog_change", args=[order_row.pk]))

    # then the inbound order and the outbound status document are listed, and the row shows request and response
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == list(
        DocumentLog.objects.filter(po_number="PO-FIND-9").order_by("-created_at", "-id")
    )
    assert {row.channel for row in listing.context["cl"].result_list} == {Channel.CXML, Channel.ORDER_STATUS}
    assert detail.status_code == 200
    assert b"PO-FIND-9" in detail.content
    assert b"&lt;OrderRequestHeader" in detail.content
    assert b"Status code=&quot;200&quot;" in detail.content


def test_api_order_and_webhook_delivery_are_logged(client, demo, settings, django_capture_on_commit_callbacks):
    # given the demo partner key, subscribed to its order events at a receiver on 127.0.0.1
    settings.ORDER_EVENT_LISTENERS = ["apps.api.webhooks"]
    settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    auth = {"HTTP_AUTHORIZATION": "Bearer demo-partner-key-acme"}
    sku = Product.objects.filter(contract_prices__contract__customer__account_number="ACME-001").first().sku
    with WebhookReceiver() as receiver:
        client.post(
            "/api/v1/webhooks/",
            {"url": receiver.url, "events": ["order.confirmed", "order.on_hold"]},
            content_type="application/json",
            **auth,
        )

        # when the partner places an order with an idempotency key
        with django_capture_on_commit_callbacks(execute=True):
            placed = client.post(
                "/api/v1/orders/",
                {"customer": "ACME-001", "po_number": "PO-API-1", "lines": [{"sku": sku, "quantity": "1"}]},
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY="idem-log-1",
                **auth,
            )

    # then the order request and the webhook delivery are rows of the partner, with the key masked
    assert placed.status_code == 201, placed.content
    order_row = DocumentLog.objects.get(channel=Channel.API, payload_id="idem-log-1")
    assert order_row.partner_name
    assert order_row.partner_id is not None
    assert order_row.http_status == 201
    assert order_row.outcome == Outcome.SUCCEEDED
    request = json.loads(order_row.request_text)
    assert request["headers"]["Authorization"] == "********"
    assert request["body"]["po_number"] == "PO-API-1"
    assert json.loads(order_row.response_text)["po_number"] == "PO-API-1"
    webhook = DocumentLog.objects.get(channel=Channel.WEBHOOK)
    assert webhook.direction == Direction.OUTBOUND
    assert webhook.url == receiver.url
    assert webhook.http_status == 200
    assert webhook.partner_id == order_row.partner_id
    assert len(receiver.received) == 1
    assert "demo-partner-key-acme" not in "\n".join(_stored_texts())
