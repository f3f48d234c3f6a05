import base64
import datetime as dt
import logging
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.urls import reverse
from lxml import etree

from apps.contracts.models import Contract
from apps.core.xml import parse_xml
from apps.orders.models import Order
from apps.punchout import services
from apps.punchout.cxml.validation import validate_document
from apps.punchout.models import CartLine, PunchOutSession
from tests.factories import (
    BuyerConnectionFactory,
    CategoryFactory,
    ContractFactory,
    ContractPriceFactory,
    CustomerFactory,
    ProductFactory,
)
from tests.punchout.support import CXML_URL, setup_document, status_of

SAMPLE_BUYER_COOKIE = "550bce3e592023b2e7b015307f965133"


@pytest.fixture
def connection(db):
    customer = CustomerFactory(account_number="ACME-001")
    chairs = CategoryFactory(code="CHAIRS", name="Chairs")
    contract = ContractFactory(
        customer=customer, valid_from=dt.date(2020, 1, 1), valid_to=None, assortment=Contract.Assortment.SELECTED
    )
    contract.categories.add(chairs)
    fixed = ProductFactory(sku="5555", name="Excelsior Desk Chair", category=chairs, list_price=Decimal("120.00"))
    ContractPriceFactory(contract=contract, product=fixed, price=Decimal("99.50"))
    ProductFactory(sku="4545321", name="Task chair", category=chairs, list_price=Decimal("80.00"))
    ProductFactory(sku="6666", name="Standing desk", category=CategoryFactory(code="DESKS"))
    return BuyerConnectionFactory(
        customer=customer,
        from_identity="AN01000000001",
        allowed_return_hosts="localhost\n127.0.0.1\nprominate-platform.com",
    )


def test_setup_request_opens_session(client, connection):
    # given the sample setup request with the connection's credentials
    document = setup_document(connection)

    # when it is posted as the request body
    response = client.post(CXML_URL, data=document, content_type="text/xml")

    # then the answer is a valid PunchOutSetupResponse pointing to the session's start page
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    validate_document(response.content)
    assert status_of(response) == (200, "")
    url = parse_xml(response.content).findtext("Response/PunchOutSetupResponse/StartPage/URL")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == settings.PUBLIC_BASE_URL
    assert parts.path.startswith("/punchout/session/")
    assert parts.query == ""
    session = PunchOutSession.objects.get()
    assert session.connection == connection
    assert session.buyer_cookie == SAMPLE_BUYER_COOKIE
    assert session.browser_form_post_url == "https://prominate-platform.com/hook-url"
    assert session.deployment_mode == "test"
    assert session.user_email == "john-doe@domain.com"
    assert session.selected_item_part_id == "4545321"
    assert session.request_payload_id == "933695160890"
    assert session.state == PunchOutSession.State.OPEN
    assert session.token_hash is None
    assert session.start_token_hash not in url


def test_setup_request_loads_visible_item_out_lines(client, connection):
    client.post(CXML_URL, data=setup_document(connection), content_type="text/xml")

    # the sample's ItemOut 5555 is in the assortment, 6666 is not
    lines = list(CartLine.objects.values_list("product__sku", "quantity", "line_number"))
    assert lines == [("5555", Decimal("2.000"), 1)]


def test_start_page_url_reads_public_base_url_at_call_time(client, connection, settings):
    settings.PUBLIC_BASE_URL = "https://b2b.example.com"

    response = client.post(CXML_URL, data=setup_document(connection), content_type="text/xml")

    url = parse_xml(response.content).findtext("Response/PunchOutSetupResponse/StartPage/URL")
    assert url.startswith("https://b2b.example.com/punchout/session/")


def test_sender_domain_matches_case_insensitively(client, connection):
    response = client.post(
        CXML_URL, data=setup_document(connection, sender_domain="networkid"), content_type="text/xml"
    )

    assert status_of(response)[0] == 200
    assert PunchOutSession.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"secret": "wrong-secret"},
        {"secret": ""},
        {"from_identity": "AN09999999999"},
        {"to_identity": "111111111"},
    ],
    ids=["wrong secret", "empty secret", "other From", "other To"],
)
def test_bad_credentials_answer_401_and_create_nothing(client, connection, change, caplog):
    caplog.set_level(logging.WARNING, logger="apps.punchout.services")

    response = client.post(CXML_URL, data=setup_document(connection, **change), content_type="text/xml")

    assert response.status_code == 200
    assert status_of(response) == (401, "The Sender credential, shared secret, From or To credential is invalid.")
    assert PunchOutSession.objects.count() == 0
    assert CartLine.objects.count() == 0
    assert "wrong-secret" not in caplog.text
    assert "test-shared-secret" not in caplog.text


def test_unknown_sender_answers_401(client, connection):
    other = BuyerConnectionFactory.build(from_identity="AN05555555555")

    response = client.post(CXML_URL, data=setup_document(other), content_type="text/xml")

    assert status_of(response)[0] == 401
    assert PunchOutSession.objects.count() == 0


def test_inactive_connection_answers_401(client, connection):
    connection.is_active = False
    connection.save()

    response = client.post(CXML_URL, data=setup_document(connection), content_type="text/xml")

    assert status_of(response)[0] == 401
    assert PunchOutSession.objects.count() == 0


def test_entity_declaration_answers_400_and_creates_nothing(client, connection):
    document = (
        setup_document(connection)
        .replace(b'cXML.dtd">', b'cXML.dtd" [<!ENTITY cookie "expanded">]>')
        .replace(SAMPLE_BUYER_COOKIE.encode(), b"&cookie;")
    )

    response = client.post(CXML_URL, data=document, content_type="text/xml")

    assert response.status_code == 200
    code, _ = status_of(response)
    assert code == 400
    assert "ENTITY" in parse_xml(response.content).findtext("Response/Status")
    assert PunchOutSession.objects.count() == 0


def test_malformed_document_answers_400(client, connection):
    response = client.post(CXML_URL, data=b"<cXML><Header>", content_type="application/xml")

    assert status_of(response)[0] == 400
    validate_document(response.content)


def test_form_post_cxml_urlencoded_opens_session(client, connection):
    body = urlencode({"cxml-urlencoded": setup_document(connection).decode("utf-8")})

    response = client.post(CXML_URL, data=body, content_type="application/x-www-form-urlencoded")

    assert status_of(response)[0] == 200
    assert PunchOutSession.objects.get().buyer_cookie == SAMPLE_BUYER_COOKIE


def test_form_post_cxml_base64_opens_session(client, connection):
    encoded = base64.b64encode(setup_document(connection)).decode("ascii")

    response = client.post(CXML_URL, data={"cxml-base64": encoded})

    assert status_of(response)[0] == 200
    assert PunchOutSession.objects.get().buyer_cookie == SAMPLE_BUYER_COOKIE


def test_form_post_with_invalid_base64_answers_400(client, connection):
    response = client.post(CXML_URL, data={"cxml-base64": "not base64!"})

    assert status_of(response) == (
        400,
        "The cxml-base64 field is not valid Base64; encode the cXML document with Base64.",
    )


def test_form_post_without_cxml_field_answers_400(client, connection):
    response = client.post(CXML_URL, data={"other": "x"})

    code, message = status_of(response)
    assert code == 400
    assert "cxml-urlencoded or cxml-base64" in message


def test_unsupported_content_type_answers_400(client, connection):
    response = client.post(CXML_URL, data=setup_document(connection), content_type="application/json")

    code, message = status_of(response)
    assert code == 400
    assert "'application/json'" in message
    assert PunchOutSession.objects.count() == 0


def test_return_host_not_allowed_answers_400(client, connection):
    document = setup_document(connection, form_post_url="https://evil.example.net/steal")

    response = client.post(CXML_URL, data=document, content_type="text/xml")

    code, message = status_of(response)
    assert code == 400
    assert "evil.example.net:443" in message
    assert PunchOutSession.objects.count() == 0


def test_return_url_with_other_scheme_answers_400(client, connection):
    document = setup_document(connection, form_post_url="javascript:alert(1)")

    response = client.post(CXML_URL, data=document, content_type="text/xml")

    assert status_of(response)[0] == 400
    assert PunchOutSession.objects.count() == 0


def _with_long_user_email(root):
    for extrinsic in root.iter("Extrinsic"):
        if extrinsic.get("name") == "UserEmail":
            extrinsic.text = "a" * 250 + "@example.com"
            return
    raise AssertionError("the sample has no UserEmail extrinsic")


def _with_long_payload_id(root):
    root.set("payloadID", "p" * 251)


def _with_long_selected_part(root):
    root.find("Request/PunchOutSetupRequest/SelectedItem/ItemID/SupplierPartID").text = "S" * 256


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_with_long_user_email, "The user's email address (UserEmail or Contact/Email) is 262 characters long"),
        (_with_long_payload_id, "The payloadID is 251 characters long"),
        (_with_long_selected_part, "SelectedItem's SupplierPartID is 256 characters long"),
    ],
)
def test_setup_request_with_overlong_value_answers_400(client, connection, change, named):
    root = parse_xml(setup_document(connection))
    change(root)

    response = client.post(CXML_URL, data=etree.tostring(root), content_type="text/xml")

    code, message = status_of(response)
    assert code == 400
    assert named in message
    assert PunchOutSession.objects.count() == 0


@pytest.mark.parametrize("operation", ["edit", "inspect"])
def test_edit_and_inspect_answer_406_when_not_allowed(client, connection, operation):
    connection.allow_edit_inspect = False
    connection.save()

    response = client.post(CXML_URL, data=setup_document(connection, operation=operation), content_type="text/xml")

    code, message = status_of(response)
    assert code == 406
    assert f"operation '{operation}' is not enabled for this buyer connection" in message
    assert PunchOutSession.objects.count() == 0


def test_order_request_goes_to_order_intake(client, connection):
    document = setup_document(connection, sample="cxml-orderrequest-new-2items.xml")

    response = client.post(CXML_URL, data=document, content_type="text/xml")

    assert status_of(response)[0] == 200
    assert Order.objects.filter(customer=connection.customer).count() == 1


def test_invoice_request_answers_406(client, connection):
    document = setup_document(connection, sample="cxml-invoicedetailrequest-tax-at-line.xml")

    response = client.post(CXML_URL, data=document, content_type="text/xml")

    code, message = status_of(response)
    assert code == 406
    assert message.startswith("InvoiceDetailRequest is not supported at this URL")


def test_order_request_with_wrong_secret_answers_401(client, connection):
    document = setup_document(connection, secret="nope", sample="cxml-orderrequest-new-2items.xml")

    response = client.post(CXML_URL, data=document, content_type="text/xml")

    assert status_of(response)[0] == 401


def test_get_answers_405_with_cxml_status(client, db):
    response = client.get(CXML_URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    assert response["Allow"] == "POST"
    assert status_of(response)[0] == 405
    validate_document(response.content)


def test_no_contract_in_force_answers_403(client, connection):
    Contract.objects.update(status=Contract.Status.SUSPENDED)

    response = client.post(CXML_URL, data=setup_document(connection), content_type="text/xml")

    code, message = status_of(response)
    assert code == 403
    assert "ACME-001 has no contract in force" in message
    assert PunchOutSession.objects.count() == 0


def test_unexpected_error_answers_500_and_logs(client, connection, monkeypatch, caplog):
    def fail(**kwargs):
        raise RuntimeError("database exploded")

    monkeypatch.setattr(services, "punchout_session_open", fail)

    response = client.post(CXML_URL, data=setup_document(connection), content_type="text/xml")

    assert response.status_code == 200
    code, message = status_of(response)
    assert code == 500
    assert "database exploded" not in message
    assert "cXML request failed unexpectedly" in caplog.text


def test_cxml_url_name_reverses():
    assert reverse("punchout:cxml") == CXML_URL
