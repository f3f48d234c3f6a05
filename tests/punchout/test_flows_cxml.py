import base64
import datetime as dt
import logging
import re
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.test import override_settings
from django.utils import timezone
from lxml import etree

from apps.core.xml import parse_xml
from apps.punchout import services
from apps.punchout.cxml.validation import validate_document
from apps.punchout.models import (
    BuyerConnection,
    BuyerPartNumber,
    BuyerUnit,
    HostPattern,
    LoginFailureWindow,
    PunchOutSession,
)
from tests.factories import ProductFactory, UnitOfMeasureFactory
from tests.punchout.support import (
    CXML_URL,
    SAMPLES,
    Catalog,
    browser_form_value,
    open_session,
    return_form,
    setup_document,
    start_page_path,
    status_of,
)

ESCAPE_TEXT = 'A&B <c> "d" Grüße Øre'


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    """Pages here are rendered, so static files come from the finders."""


@pytest.fixture
def catalog(db):
    return Catalog()


def _returned_document(client, base: str) -> bytes:
    response = client.post(base + "return/")
    assert response.status_code == 200, response.content
    name, value = return_form(response)["fields"][0]
    assert name == "cxml-urlencoded"
    return value.encode("utf-8")


def _items(document: bytes) -> list[tuple[str, str, str, str]]:
    root = parse_xml(document)
    return [
        (
            item.findtext("ItemID/SupplierPartID"),
            item.findtext("ItemID/SupplierPartAuxiliaryID"),
            item.get("quantity"),
            item.findtext("ItemDetail/UnitPrice/Money"),
        )
        for item in root.iterfind("Message/PunchOutOrderMessage/ItemIn")
    ]


# Create, edit, inspect ------------------------------------------------------


def test_create_edit_inspect_round_trip(client, catalog):
    # given a returned cart with two lines of the same product
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    client.post(base + "cart/", {"sku": "5555", "quantity": "2"})
    client.post(base + "cart/", {"sku": "4545321", "quantity": "1"})
    first = _returned_document(client, base)
    header = parse_xml(first).find("Message/PunchOutOrderMessage/PunchOutOrderMessageHeader")
    assert header.get("operationAllowed") == "edit"
    first_items = _items(first)
    assert [item[0] for item in first_items] == ["5555", "4545321"]
    assert all(re.fullmatch(r"cartline-\d+", item[1]) for item in first_items)

    # when the buyer edits it with the 5555 line split in two and an old price
    edited_lines = [
        ("5555", first_items[0][1], "1", "120.00"),
        ("5555", first_items[0][1], "4", "120.00"),
        ("4545321", first_items[1][1], "1", "72.00"),
    ]
    edit_base = open_session(client, catalog.connection, operation="edit", items_out=edited_lines, selected=False)
    cart = client.get(edit_base + "cart/")

    # then the lines stay apart, are priced from the contract and show the old price
    edit_session = PunchOutSession.objects.get(operation="edit")
    assert list(edit_session.lines.values_list("product__sku", "quantity", "line_number")) == [
        ("5555", Decimal("1.000"), 1),
        ("5555", Decimal("4.000"), 2),
        ("4545321", Decimal("1.000"), 3),
    ]
    assert cart.content.count(b"was 120.00 EUR") == 2
    assert b'id="return-cart"' in cart.content

    # when the user changes the second 5555 line only and returns the cart
    client.post(edit_base + "cart/", {"sku": "5555", "line": "2", "quantity": "10"})
    second = _returned_document(client, edit_base)

    # then the returned cart keeps three lines at current contract prices
    assert [(sku, quantity, price) for sku, _aux, quantity, price in _items(second)] == [
        ("5555", "1", "99.50"),
        ("5555", "10", "89.00"),
        ("4545321", "1", "72.00"),
    ]

    # when the buyer inspects that cart
    inspect_lines = [(sku, aux, quantity, price) for sku, aux, quantity, price in _items(second)]
    inspect_base = open_session(
        client, catalog.connection, operation="inspect", items_out=inspect_lines, selected=False
    )
    inspect_cart = client.get(inspect_base + "cart/")

    # then it is shown read-only, without a return button or quantity forms
    assert inspect_cart.status_code == 200
    assert b"It cannot be changed or returned here" in inspect_cart.content
    assert b'id="return-cart"' not in inspect_cart.content
    assert b'name="quantity"' not in inspect_cart.content
    assert b"10" in inspect_cart.content


def test_inspect_session_refuses_changes_and_return(client, catalog):
    base = open_session(
        client, catalog.connection, operation="inspect", items_out=[("5555", "", "2", "99.50")], selected=False
    )
    session = PunchOutSession.objects.get()

    change = client.post(base + "cart/", {"sku": "5555", "quantity": "7"})
    added = client.post(base + "cart/", {"sku": "4545321", "quantity": "1"})
    returned = client.post(base + "return/")

    assert change.status_code == 403
    assert added.status_code == 403
    assert returned.status_code == 403
    assert b"open for viewing only" in returned.content
    session.refresh_from_db()
    assert session.state == PunchOutSession.State.OPEN
    assert list(session.lines.values_list("product__sku", "quantity")) == [("5555", Decimal("2.000"))]


def test_edit_with_unknown_part_shows_notice(client, catalog):
    base = open_session(
        client,
        catalog.connection,
        operation="edit",
        items_out=[("NO-SUCH-PART", "cartline-999999", "1", "5.00"), ("5555", "", "1", "99.50")],
        selected=False,
    )

    page = client.get(base)

    assert b"Line 1 (product NO-SUCH-PART) is not in your catalog any more and was left out." in page.content
    assert list(PunchOutSession.objects.get().lines.values_list("product__sku", flat=True)) == ["5555"]


def test_second_setup_opens_separate_session(client, catalog):
    first = open_session(client, catalog.connection, items_out=[], selected=False)
    client.post(first + "cart/", {"sku": "5555", "quantity": "3"})

    second = open_session(client, catalog.connection, items_out=[], selected=False)
    cart = client.get(second + "cart/")

    assert first != second
    assert b"The cart is empty." in cart.content
    assert PunchOutSession.objects.count() == 2


def test_operation_allowed_is_create_without_edit(client, catalog):
    BuyerConnection.objects.filter(pk=catalog.connection.pk).update(allow_edit_inspect=False)
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    client.post(base + "cart/", {"sku": "5555", "quantity": "1"})

    document = _returned_document(client, base)

    header = parse_xml(document).find("Message/PunchOutOrderMessage/PunchOutOrderMessageHeader")
    assert header.get("operationAllowed") == "create"


def test_buyer_part_number_and_unit_are_returned(client, catalog):
    BuyerPartNumber.objects.create(connection=catalog.connection, product=catalog.fixed, buyer_part_id="ACME-CHAIR-7")
    BuyerUnit.objects.create(connection=catalog.connection, unit=catalog.fixed.unit, buyer_code="PCE")
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    client.post(base + "cart/", {"sku": "5555", "quantity": "1"})

    document = _returned_document(client, base)

    validate_document(document)
    item = parse_xml(document).find("Message/PunchOutOrderMessage/ItemIn")
    assert item.findtext("ItemID/BuyerPartID") == "ACME-CHAIR-7"
    assert item.findtext("ItemDetail/UnitOfMeasure") == "PCE"
    assert item.findtext("ItemDetail/ManufacturerPartID") == "EX-CH-01"
    assert item.findtext("ItemDetail/LeadTime") == "3"
    assert item.find("ItemDetail/Classification").get("domain") == "UNSPSC"
    assert item.find("ItemDetail/Description").get("{http://www.w3.org/XML/1998/namespace}lang") == "en"


# Start page, expiry ----------------------------------------------------------


def test_start_page_url_works_once(client, catalog):
    response = client.post(CXML_URL, data=setup_document(catalog.connection), content_type="text/xml")
    start = start_page_path(response)

    first = client.get(start)
    second = client.get(start)

    assert first.status_code == 303
    assert first["Referrer-Policy"] == "no-referrer"
    assert not first["Location"].startswith(start)
    assert second.status_code == 404
    assert b"unknown or was used already" in second.content


def test_start_page_url_expires_after_minutes(client, catalog):
    response = client.post(CXML_URL, data=setup_document(catalog.connection), content_type="text/xml")
    PunchOutSession.objects.update(start_expires_at=timezone.now() - dt.timedelta(seconds=1))

    opened = client.get(start_page_path(response))

    assert opened.status_code == 410
    assert b"valid for 5 minutes and has expired" in opened.content
    assert PunchOutSession.objects.get().token_hash is None


@override_settings(PUNCHOUT_START_PAGE_MINUTES=1, PUNCHOUT_SESSION_IDLE_MINUTES=30)
def test_start_and_idle_minutes_come_from_settings(client, catalog):
    client.post(CXML_URL, data=setup_document(catalog.connection), content_type="text/xml")

    session = PunchOutSession.objects.get()

    assert dt.timedelta(seconds=55) <= session.start_expires_at - session.created_at <= dt.timedelta(minutes=1)
    assert dt.timedelta(minutes=29) <= session.expires_at - session.created_at <= dt.timedelta(minutes=30)


def test_idle_session_expires_and_shows_restart_page(client, catalog):
    base = open_session(client, catalog.connection)
    PunchOutSession.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    page = client.get(base)

    assert page.status_code == 410
    assert b"start a new one from your procurement system" in page.content
    assert PunchOutSession.objects.get().state == PunchOutSession.State.EXPIRED


def test_shopping_moves_idle_deadline(client, catalog):
    base = open_session(client, catalog.connection)
    soon = timezone.now() + dt.timedelta(minutes=5)
    PunchOutSession.objects.update(expires_at=soon)

    client.get(base + "search/", {"q": "chair"})

    assert PunchOutSession.objects.get().expires_at > soon + dt.timedelta(minutes=100)


def test_idle_sessions_expire_in_bulk(catalog):
    fresh, _ = services.punchout_session_open(connection=catalog.connection, request=_setup(catalog))
    stale, _ = services.punchout_session_open(connection=catalog.connection, request=_setup(catalog))
    PunchOutSession.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))

    count = services.punchout_sessions_expire_idle()

    assert count == 1
    states = dict(PunchOutSession.objects.values_list("pk", "state"))
    assert states == {fresh.pk: "open", stale.pk: "expired"}
    assert PunchOutSession.objects.get(pk=stale.pk).start_token_hash is None


def _setup(catalog):
    from apps.punchout.cxml.reader import read_punchout_setup_request

    return read_punchout_setup_request(parse_xml(setup_document(catalog.connection)))


# ProfileRequest and the samples ---------------------------------------------


def _with_credentials(sample: str, connection: BuyerConnection, *, keep_secret: bool = False) -> bytes:
    """Return a sample with the connection's credentials in From, To and Sender (the secret only if it has one)."""
    root = parse_xml((SAMPLES / sample).read_bytes())
    header = root.find("Header")
    for section, domain, identity in [
        ("From", connection.from_domain, connection.from_identity),
        ("To", connection.to_domain, connection.to_identity),
        ("Sender", connection.sender_domain, connection.sender_identity),
    ]:
        credential = header.find(f"{section}/Credential")
        credential.set("domain", domain)
        credential.find("Identity").text = identity
    secret = header.find("Sender/Credential/SharedSecret")
    if not keep_secret:
        if secret is None:
            secret = etree.SubElement(header.find("Sender/Credential"), "SharedSecret")
        secret.text = "test-shared-secret"
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def test_profile_request_answers_profile_response(client, catalog):
    document = _with_credentials("cxml-profilerequest.xml", catalog.connection)

    response = client.post(CXML_URL, data=document, content_type="text/xml")

    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    validate_document(response.content)
    root = parse_xml(response.content)
    assert root.find("Response/Status").get("code") == "200"
    transactions = {
        element.get("requestName"): element.findtext("URL")
        for element in root.iterfind("Response/ProfileResponse/Transaction")
    }
    assert transactions == {
        "ProfileRequest": "http://testserver/punchout/cxml/",
        "PunchOutSetupRequest": "http://testserver/punchout/cxml/",
        "OrderRequest": "http://testserver/punchout/cxml/",
        "StatusUpdateRequest": "http://testserver/punchout/cxml/",
    }
    assert root.find("Response/ProfileResponse").get("effectiveDate").endswith("+00:00")


def _sample_files():
    return sorted(path.name for path in SAMPLES.glob("*.xml"))


# The Status code each sample must get: requests this endpoint takes (an
# OrderRequest is accepted even when its lines open exception cases; a
# StatusUpdateRequest for a document we never sent is 400), requests it does
# not take (406), and responses or outbound documents, which are not
# requests at all (400).
SAMPLE_ANSWERS = {
    "cxml-posr-create-shipto-selecteditem-itemout.xml": 200,
    "cxml-profilerequest.xml": 200,
    "cxml-orderrequest-new-2items.xml": 200,
    "cxml-orderrequest-new-builder.xml": 200,
    "cxml-orderrequest-new-coupa-2020.xml": 200,
    # No SharedSecret in the Sender credential: authentication fails first.
    "cxml-orderrequest-new-coupa-2008.xml": 401,
    "cxml-statusupdaterequest.xml": 400,
    "cxml-invoicedetailrequest-mixed-po-backed.xml": 406,
    "cxml-invoicedetailrequest-multiple-pos.xml": 406,
    "cxml-invoicedetailrequest-tax-at-line.xml": 406,
    "cxml-invoicedetailrequest-tax-at-total.xml": 406,
    "cxml-shipnoticerequest.xml": 406,
    "cxml-quotemessage-accept.xml": 406,
    "cxml-poom-create-2items.xml": 406,
    "cxml-poom-create-builder.xml": 406,
    "cxml-orderresponse-200.xml": 400,
    "cxml-orderresponse-400.xml": 400,
    "cxml-posres-200-no-doctype.xml": 400,
    "cxml-posres-200-startpage.xml": 400,
    "cxml-posres-400-failure.xml": 400,
}


def test_sample_answers_cover_every_sample():
    assert sorted(SAMPLE_ANSWERS) == _sample_files()


@pytest.mark.parametrize("sample", _sample_files())
def test_every_sample_gets_its_cxml_answer(client, catalog, sample):
    root = parse_xml((SAMPLES / sample).read_bytes())
    if root.find("Header") is not None:
        document = _with_credentials(sample, catalog.connection, keep_secret=sample.endswith("coupa-2008.xml"))
    else:
        document = (SAMPLES / sample).read_bytes()

    response = client.post(CXML_URL, data=document, content_type="text/xml")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    validate_document(response.content)
    code, message = status_of(response)
    assert code == SAMPLE_ANSWERS[sample], message
    expected_sessions = 1 if sample.startswith("cxml-posr-") else 0
    assert PunchOutSession.objects.count() == expected_sessions


# Hostile input ---------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE cXML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<cXML payloadID="x" timestamp="2024-01-01T00:00:00+00:00"><Header>&c;</Header></cXML>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE cXML [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<cXML payloadID="x" timestamp="2024-01-01T00:00:00+00:00"><Header>&secret;</Header></cXML>"""
PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE cXML [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<cXML payloadID="x" timestamp="2024-01-01T00:00:00+00:00"/>"""
DEEP_NESTING = b"<cXML>" + b"<a>" * 300 + b"</a>" * 300 + b"</cXML>"


@pytest.mark.parametrize(
    ("body", "content_type", "expected_text"),
    [
        (BILLION_LAUGHS, "text/xml", "declares an entity"),
        (EXTERNAL_ENTITY, "text/xml", "declares an entity"),
        (PARAMETER_ENTITY, "text/xml", "declares an entity"),
        (DEEP_NESTING, "text/xml", ""),
        (b"", "text/xml", ""),
        (b"this is not XML", "text/xml", ""),
        (b'{"json": true}', "application/json", "Content-Type 'application/json' is not supported"),
        (b"cxml-base64=%%%", "application/x-www-form-urlencoded", "not valid Base64"),
        (b"other=1", "application/x-www-form-urlencoded", "no cxml-urlencoded or cxml-base64 field"),
    ],
    ids=["billion-laughs", "external-entity", "parameter-entity", "deep", "empty", "not-xml", "json", "base64", "form"],
)
def test_hostile_body_answers_400_and_opens_nothing(client, catalog, body, content_type, expected_text):
    response = client.post(CXML_URL, data=body, content_type=content_type)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    validate_document(response.content)
    code, message = status_of(response)
    assert code == 400
    assert expected_text in message
    assert PunchOutSession.objects.count() == 0


def test_body_over_limit_answers_400(client, catalog, settings):
    document = setup_document(catalog.connection).replace(b"</cXML>", b"<!--" + b"x" * 4096 + b"--></cXML>")
    settings.XML_MAX_BYTES = 2048

    response = client.post(CXML_URL, data=document, content_type="text/xml")

    code, message = status_of(response)
    assert code == 400
    assert message == (
        f"The XML document has {len(document)} bytes, more than the limit of 2048 bytes; send a smaller document."
    )
    assert PunchOutSession.objects.count() == 0


def test_form_over_upload_limit_names_xml_limit(client, catalog, settings):
    # given Django's upload limit below the form body, so it trips before the XML limit is checked
    document = setup_document(catalog.connection).replace(b"</cXML>", b"<!--" + b"x" * 4096 + b"--></cXML>")
    body = urlencode({"cxml-urlencoded": document.decode("utf-8")})
    settings.XML_MAX_BYTES = 2048
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 3072

    # when the document is posted as a form field
    response = client.post(CXML_URL, data=body, content_type="application/x-www-form-urlencoded")

    # then the message names the cXML document limit, not Django's
    code, message = status_of(response)
    assert code == 400
    assert (
        message == "The request body is more than the limit of 2048 bytes for a cXML document; send a smaller document."
    )
    assert PunchOutSession.objects.count() == 0


def test_multipart_without_boundary_answers_400(client, catalog, caplog):
    # when a form post names multipart/form-data but carries no boundary
    response = client.post(CXML_URL, data=b"garbage", content_type="multipart/form-data")

    # then the answer is a cXML 400 naming the problem, and nothing is logged as an error
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    validate_document(response.content)
    code, message = status_of(response)
    assert code == 400
    assert message.startswith("The multipart/form-data body is malformed (Invalid boundary in multipart: None); ")
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert PunchOutSession.objects.count() == 0


@pytest.mark.parametrize("path", ["/punchout/cxml", "/punchout/cxml/other/", "/punchout/cxml/setup"])
def test_other_cxml_paths_answer_cxml_status(client, catalog, path):
    response = client.post(path, data=setup_document(catalog.connection), content_type="text/xml")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    validate_document(response.content)
    expected = 200 if path == "/punchout/cxml" else 404
    assert status_of(response)[0] == expected


@pytest.mark.parametrize(
    ("options", "expected_code", "expected_text"),
    [
        ({"secret": "wrong-secret"}, 401, "invalid"),
        ({"form_post_url": "https://evil.example.com/steal"}, 400, "host evil.example.com:443 is not allowed"),
        ({"form_post_url": "javascript:alert(1)"}, 400, "not an absolute http or https URL"),
        ({"form_post_url": "https://user:pw@127.0.0.1/x"}, 400, "contains user information"),
    ],
    ids=["wrong-secret", "unapproved-host", "javascript-url", "user-info"],
)
def test_bad_setup_answers_error_and_opens_nothing(client, catalog, options, expected_code, expected_text):
    response = client.post(CXML_URL, data=setup_document(catalog.connection, **options), content_type="text/xml")

    code, message = status_of(response)
    assert code == expected_code
    assert expected_text in message
    assert PunchOutSession.objects.count() == 0


def test_unknown_sender_answers_401(client, catalog):
    document = setup_document(catalog.connection).replace(b"AN01000000001", b"AN09999999999")

    response = client.post(CXML_URL, data=document, content_type="text/xml")

    assert status_of(response)[0] == 401
    assert PunchOutSession.objects.count() == 0


def test_failed_logins_are_rate_limited_per_client_address(client, catalog, settings):
    settings.PUNCHOUT_LOGIN_MAX_FAILURES = 3
    wrong = setup_document(catalog.connection, secret="wrong")
    right = setup_document(catalog.connection)

    answers = [status_of(client.post(CXML_URL, data=wrong, content_type="text/xml"))[0] for _ in range(3)]
    locked_code, locked_message = status_of(client.post(CXML_URL, data=right, content_type="text/xml"))

    assert answers == [401, 401, 401]
    assert locked_code == 401
    assert locked_message.startswith(
        "Too many failed login attempts for this buyer connection from your address; try again in "
    )
    assert PunchOutSession.objects.count() == 0

    LoginFailureWindow.objects.update(window_started_at=timezone.now() - dt.timedelta(seconds=301))
    assert status_of(client.post(CXML_URL, data=right, content_type="text/xml"))[0] == 200


def test_attacker_lockout_leaves_buyer_address_open(client, catalog, settings):
    # given an attacker who knows the public Sender identity and has used up the failures from its address
    settings.PUNCHOUT_LOGIN_MAX_FAILURES = 3
    wrong = setup_document(catalog.connection, secret="wrong")
    right = setup_document(catalog.connection)
    for _ in range(3):
        client.post(CXML_URL, data=wrong, content_type="text/xml", REMOTE_ADDR="203.0.113.66")

    # when the attacker and then the buyer's system send the right secret
    attacker_code, attacker_message = status_of(
        client.post(CXML_URL, data=right, content_type="text/xml", REMOTE_ADDR="203.0.113.66")
    )
    buyer_code, _ = status_of(client.post(CXML_URL, data=right, content_type="text/xml", REMOTE_ADDR="198.51.100.7"))

    # then only the attacker's address is locked, and the buyer's session opens
    assert attacker_code == 401
    assert attacker_message.startswith("Too many failed login attempts")
    assert buyer_code == 200
    assert PunchOutSession.objects.count() == 1
    assert list(LoginFailureWindow.objects.values_list("client_address", "failures")) == [("203.0.113.66", 3)]


def test_lockout_behind_proxy_counts_forwarded_address(client, catalog, settings):
    # given one trusted reverse proxy, so every request arrives from the proxy's address
    settings.PUNCHOUT_LOGIN_MAX_FAILURES = 2
    settings.PUNCHOUT_TRUSTED_PROXY_COUNT = 1
    wrong = setup_document(catalog.connection, secret="wrong")
    right = setup_document(catalog.connection)
    proxy = {"REMOTE_ADDR": "10.0.0.2"}

    # when an attacker fails twice, putting the buyer's address first in X-Forwarded-For to frame it
    for _ in range(2):
        client.post(
            CXML_URL,
            data=wrong,
            content_type="text/xml",
            HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.66",
            **proxy,
        )
    attacker_code, _ = status_of(
        client.post(CXML_URL, data=right, content_type="text/xml", HTTP_X_FORWARDED_FOR="203.0.113.66", **proxy)
    )
    buyer_code, _ = status_of(
        client.post(CXML_URL, data=right, content_type="text/xml", HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)
    )

    # then the failures count for the address the proxy saw, not the proxy's or the spoofed one
    assert attacker_code == 401
    assert buyer_code == 200
    assert list(LoginFailureWindow.objects.values_list("client_address", "failures")) == [("203.0.113.66", 2)]


def test_replayed_session_token_of_returned_cart_changes_nothing(client, catalog):
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    client.post(base + "cart/", {"sku": "5555", "quantity": "1"})
    client.post(base + "return/")

    replay = client.post(base + "return/")
    change = client.post(base + "cart/", {"sku": "5555", "quantity": "9"})

    assert replay.status_code == 409
    assert change.status_code == 409
    session = PunchOutSession.objects.get()
    assert session.return_count == 1
    assert list(session.lines.values_list("quantity", flat=True)) == [Decimal("1.000")]


# Escaping round trips ----------------------------------------------------------


@pytest.mark.parametrize("cart_field", ["cxml-urlencoded", "cxml-base64"])
def test_special_characters_survive_round_trip(client, catalog, cart_field):
    # given a product name and a BuyerCookie with characters that need escaping, and a CR
    BuyerConnection.objects.filter(pk=catalog.connection.pk).update(cart_field=cart_field)
    ProductFactory(sku="ESC-1", name=ESCAPE_TEXT, category=catalog.chairs, list_price=Decimal("10.00"))
    cookie = ESCAPE_TEXT + "\r\nline two"
    base = open_session(client, catalog.connection, buyer_cookie=cookie, items_out=[], selected=False)
    client.post(base + "cart/", {"sku": "ESC-1", "quantity": "1"})

    # when the cart is returned and the browser posts the field
    response = client.post(base + "return/")
    name, value = return_form(response)["fields"][0]
    # The browser sends the urlencoded field's line breaks as CRLF.
    posted = {
        "cxml-base64": lambda: base64.b64decode(value),
        "cxml-urlencoded": lambda: browser_form_value(value).encode(),
    }
    document = posted[cart_field]()

    # then the procurement system reads both back byte for byte
    assert name == cart_field
    validate_document(document)
    root = parse_xml(document)
    assert root.findtext("Message/PunchOutOrderMessage/BuyerCookie").encode() == cookie.encode()
    assert root.findtext("Message/PunchOutOrderMessage/ItemIn/ItemDetail/Description").encode() == ESCAPE_TEXT.encode()


def test_urlencoded_request_keeps_buyer_cookie(client, catalog):
    document = setup_document(catalog.connection, buyer_cookie=ESCAPE_TEXT, items_out=[], selected=False)
    from urllib.parse import urlencode

    response = client.post(
        CXML_URL,
        data=urlencode({"cxml-urlencoded": document.decode("utf-8")}),
        content_type="application/x-www-form-urlencoded",
    )

    assert status_of(response)[0] == 200
    assert PunchOutSession.objects.get().buyer_cookie == ESCAPE_TEXT


# Host patterns, framing --------------------------------------------------------


def test_ipv6_host_pattern_matches_and_frames():
    pattern = HostPattern.parse("[::1]:8080")

    assert pattern.matches("::1", 8080)
    assert pattern.matches("0:0:0:0:0:0:0:1", 8080)
    assert not pattern.matches("::1", 8081)
    assert not pattern.matches("localhost", 8080)
    assert pattern.as_csp_source() == "[::1]:8080"


def test_invalid_ipv6_pattern_is_rejected():
    with pytest.raises(ValueError, match="not a valid IPv6 address"):
        HostPattern.parse("[1::2::3]")


def test_ipv6_browser_form_post_is_allowed(client, catalog):
    response = client.post(
        CXML_URL,
        data=setup_document(catalog.connection, form_post_url="http://[::1]:3000/return"),
        content_type="text/xml",
    )

    assert status_of(response)[0] == 200


def test_shop_pages_allow_framing_only_by_approved_hosts(client, catalog):
    base = open_session(client, catalog.connection)

    page = client.get(base)

    directives = [part.strip() for part in page["Content-Security-Policy"].split(";")]
    assert "frame-ancestors 'self' localhost:* 127.0.0.1:* prominate-platform.com:* [::1]:*" in directives
    assert "X-Frame-Options" not in page


# Shop pages ----------------------------------------------------------------------


def test_product_page_shows_quantity_breaks_and_stock(client, catalog):
    base = open_session(client, catalog.connection, selected=False)

    page = client.get(base + "product/5555/")

    assert page.status_code == 200
    content = page.content.decode()
    assert "<h2>Quantity breaks</h2>" in content
    assert '<td>10</td><td class="number">89.00 EUR</td>' in content
    assert "12 in stock" in content
    assert 'name="quantity"' in content


def test_unknown_product_page_redirects_home(client, catalog):
    base = open_session(client, catalog.connection, selected=False)

    response = client.get(base + "product/6666/")
    home = client.get(response["Location"])

    assert response.status_code == 303
    assert b"Product 6666 is not in your catalog;" in home.content


@pytest.mark.parametrize("page", ["", "search/?q=chair", "product/5555/", "cart/"])
def test_shop_page_queries_ignore_cart_size(client, catalog, page, django_assert_max_num_queries):
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    client.post(base + "cart/", {"sku": "5555", "quantity": "1"})
    client.get(base + page)
    from django.db import connection as db_connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(db_connection) as small:
        client.get(base + page)
    for number in range(12):
        product = ProductFactory(sku=f"X-{number}", category=catalog.chairs, unit=UnitOfMeasureFactory())
        client.post(base + "cart/", {"sku": product.sku, "quantity": "1"})
    with CaptureQueriesContext(db_connection) as large:
        client.get(base + page)

    assert len(large.captured_queries) == len(small.captured_queries)


def test_expire_command_reports_count(catalog):
    from io import StringIO

    from django.core.management import call_command

    services.punchout_session_open(connection=catalog.connection, request=_setup(catalog))
    PunchOutSession.objects.update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    output = StringIO()

    call_command("expire_punchout_sessions", stdout=output)

    assert output.getvalue() == "1 PunchOut session expired.\n"
    assert PunchOutSession.objects.get().state == PunchOutSession.State.EXPIRED


def test_beat_task_expires_idle_sessions_only(catalog):
    from django.conf import settings

    from apps.punchout.tasks import expire_idle_sessions

    idle, _ = services.punchout_session_open(connection=catalog.connection, request=_setup(catalog))
    services.punchout_session_open(connection=catalog.connection, request=_setup(catalog))
    PunchOutSession.objects.filter(pk=idle.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))

    assert expire_idle_sessions.delay().get() == 1

    states = dict(PunchOutSession.objects.values_list("pk", "state"))
    assert states.pop(idle.pk) == PunchOutSession.State.EXPIRED
    assert list(states.values()) == [PunchOutSession.State.OPEN]
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "punchout.expire_idle_sessions" in scheduled


def test_catalog_pages_by_sku_without_total_count(client, catalog):
    for number in range(30):
        ProductFactory(sku=f"PAGE-{number:02d}", category=catalog.chairs)
    base = open_session(client, catalog.connection, selected=False)

    first = client.get(base)
    second = client.get(base, {"after": "PAGE-22"})
    back = client.get(base, {"before": "PAGE-23"})

    # 32 products: 4545321, 5555 and PAGE-00 to PAGE-29, in SKU order.
    assert first.content.count(b'<tr data-sku="') == 25
    assert b'href="?after=PAGE-22">Next</a>' in first.content
    assert b"Previous</a>" not in first.content
    assert second.content.count(b'<tr data-sku="') == 7
    assert b"Next</a>" not in second.content
    assert b'href="?before=PAGE-23">Previous</a>' in second.content
    assert back.content.count(b'<tr data-sku="') == 25
    assert b"Previous</a>" not in back.content
    assert b'href="?after=PAGE-22">Next</a>' in back.content


@pytest.mark.parametrize("assortment", ["selected", "all"])
def test_assortment_products_match_visible_products(catalog, assortment):
    from apps.catalog.models import Category
    from apps.contracts.selectors import visible_products
    from apps.punchout.selectors import assortment_products
    from tests.factories import CategoryFactory

    # given nested categories whose codes contain LIKE wildcards, and one product chosen by itself
    root = CategoryFactory(code="R_1%", name="Root")
    child = CategoryFactory(code="C_1", name="Child", parent=root)
    grandchild = CategoryFactory(code="G%1", name="Grandchild", parent=child)
    lookalike = CategoryFactory(code="R_10", name="Looks like root")
    for category in (root, child, grandchild, lookalike, None):
        ProductFactory(category=category)
    ProductFactory(category=grandchild, is_active=False)
    single = ProductFactory(category=lookalike)
    catalog.contract.assortment = assortment
    catalog.contract.save()
    catalog.contract.categories.add(Category.objects.get(pk=child.pk))
    catalog.contract.products.add(single)

    # when both selectors list the assortment
    ours = set(assortment_products(contract=catalog.contract).values_list("pk", flat=True))
    theirs = set(visible_products(customer=catalog.customer, contract=catalog.contract).values_list("pk", flat=True))

    # then they agree
    assert ours == theirs
    assert len(ours) > 2
