"""Tests for the cXML builders and DTD validation in apps.punchout.cxml."""

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from lxml import etree

from apps.core.xml import parse_xml
from apps.punchout.cxml.documents import (
    CXML_VERSION,
    CartItem,
    Credential,
    CXMLBuildError,
    build_punchout_order_message,
    build_punchout_setup_response,
    build_status_response,
    new_payload_id,
)
from apps.punchout.cxml.reader import read_punchout_setup_request
from apps.punchout.cxml.validation import CXMLInvalid, dtd_name_for, validate_document
from tests.standards import SAMPLES

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
PROLOG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.069/cXML.dtd">\n'
)
PAYLOAD_ID = re.compile(r"^\d{13}\.\d+\.[0-9a-f]{16}@testserver$")

BUYER = Credential(domain="NetworkId", identity="AN01000000001")
SUPPLIER = Credential(domain="DUNS", identity="123456789", shared_secret="supplier-secret")


def _item(**overrides) -> CartItem:
    values = {
        "supplier_part_id": "CH-100",
        "supplier_part_auxiliary_id": "cart-line:1",
        "quantity": Decimal("3"),
        "unit_price": Decimal("763.20"),
        "currency": "USD",
        "description": "Excelsior Desk Chair",
        "unit_of_measure": "EA",
        "classification_code": "56101504",
    }
    values.update(overrides)
    return CartItem(**values)


def _poom(items, **overrides) -> bytes:
    arguments = {
        "buyer_cookie": "1CX3L4843PPZO",
        "from_credential": SUPPLIER,
        "to_credential": BUYER,
        "sender_credential": SUPPLIER,
        "items": items,
        "currency": "USD",
    }
    arguments.update(overrides)
    return build_punchout_order_message(**arguments)


def _tag_paths(root: etree._Element) -> list[str]:
    """Return the slash-joined tag path of every element, in document order, without comments."""
    paths = []
    for element in root.iter(etree.Element):
        names = [ancestor.tag for ancestor in reversed(list(element.iterancestors()))] + [element.tag]
        paths.append("/".join(names))
    return paths


def test_status_response_prolog_and_envelope():
    # when a status response is built
    document = build_status_response(code=400, text="Bad Request", message="The BuyerCookie is missing.")
    root = parse_xml(document)

    # then it starts with the exact declaration and DOCTYPE, and carries a full envelope
    assert document.startswith(PROLOG)
    assert PAYLOAD_ID.match(root.get("payloadID"))
    assert datetime.fromisoformat(root.get("timestamp")).utcoffset() is not None
    assert root.get(XML_LANG) == "en"
    assert _tag_paths(root) == ["cXML", "cXML/Response", "cXML/Response/Status"]
    status = root.find("Response/Status")
    assert status.attrib == {"code": "400", "text": "Bad Request", XML_LANG: "en"}
    assert status.text == "The BuyerCookie is missing."
    validate_document(document)


def test_status_response_without_message_is_empty():
    root = parse_xml(build_status_response(code=200, text="OK"))

    status = root.find("Response/Status")
    assert status.attrib == {"code": "200", "text": "OK"}
    assert status.text is None


def test_payload_ids_unique_and_spaceless():
    payload_ids = {new_payload_id() for _ in range(1000)}

    assert len(payload_ids) == 1000
    assert all(PAYLOAD_ID.match(payload_id) for payload_id in payload_ids)


def test_setup_response_escapes_start_page_url():
    # given a start page URL with query separators
    url = "https://shop.example.com/punchout/session/abc/?a=1&b=2;c=3"

    # when the setup response is built
    document = build_punchout_setup_response(start_page_url=url)
    root = parse_xml(document)

    # then Status 200 precedes the StartPage URL, which round-trips
    assert b"a=1&amp;b=2;c=3" in document
    assert _tag_paths(root) == [
        "cXML",
        "cXML/Response",
        "cXML/Response/Status",
        "cXML/Response/PunchOutSetupResponse",
        "cXML/Response/PunchOutSetupResponse/StartPage",
        "cXML/Response/PunchOutSetupResponse/StartPage/URL",
    ]
    assert root.find("Response/Status").attrib == {"code": "200", "text": "OK"}
    assert root.findtext("Response/PunchOutSetupResponse/StartPage/URL") == url
    validate_document(document)


def test_setup_response_rejects_empty_url():
    with pytest.raises(CXMLBuildError) as caught:
        build_punchout_setup_response(start_page_url="  ")

    assert caught.value.code == "invalid_cxml_value"


def test_poom_shape_and_values():
    # given two cart lines, one with every optional field
    items = [
        _item(
            manufacturer_name="Excelsior Inc.",
            manufacturer_part_id="EX-1",
            lead_time_days=5,
            line_number=1,
        ),
        _item(
            supplier_part_id="CH-200",
            supplier_part_auxiliary_id="",
            quantity=Decimal("5.000"),
            unit_price=Decimal("226.2"),
            description="Other Desk Chair",
            classification_code="",
        ),
    ]

    # when the cart is built
    document = _poom(items, operation_allowed="create")
    root = parse_xml(document)

    # then the envelope, header and message follow the DTD
    assert document.startswith(PROLOG)
    validate_document(document)
    assert root.findtext("Header/From/Credential/Identity") == "123456789"
    assert root.find("Header/To/Credential").get("domain") == "NetworkId"
    assert root.findtext("Header/Sender/UserAgent") == "Supplier back office"
    assert root.find("Message").attrib == {}
    message = root.find("Message/PunchOutOrderMessage")
    assert message.findtext("BuyerCookie") == "1CX3L4843PPZO"
    assert message.find("PunchOutOrderMessageHeader").get("operationAllowed") == "create"
    assert message.find("PunchOutOrderMessageHeader/Total/Money").attrib == {"currency": "USD"}
    assert message.findtext("PunchOutOrderMessageHeader/Total/Money") == "3420.60"

    first, second = message.findall("ItemIn")
    assert first.attrib == {"quantity": "3", "lineNumber": "1"}
    assert [child.tag for child in first.find("ItemID")] == ["SupplierPartID", "SupplierPartAuxiliaryID"]
    assert first.findtext("ItemID/SupplierPartAuxiliaryID") == "cart-line:1"
    assert [child.tag for child in first.find("ItemDetail")] == [
        "UnitPrice",
        "Description",
        "UnitOfMeasure",
        "Classification",
        "ManufacturerPartID",
        "ManufacturerName",
        "LeadTime",
    ]
    assert first.findtext("ItemDetail/UnitPrice/Money") == "763.20"
    assert first.find("ItemDetail/Description").get(XML_LANG) == "en"
    assert first.findtext("ItemDetail/Classification") == "56101504"
    assert first.findtext("ItemDetail/ManufacturerPartID") == "EX-1"
    assert first.findtext("ItemDetail/ManufacturerName") == "Excelsior Inc."
    assert first.findtext("ItemDetail/LeadTime") == "5"

    assert second.attrib == {"quantity": "5"}
    assert [child.tag for child in second.find("ItemID")] == ["SupplierPartID"]
    assert second.findtext("ItemDetail/UnitPrice/Money") == "226.20"
    assert second.find("ItemDetail/Classification").attrib == {"domain": "UNSPSC"}
    assert second.find("ItemDetail/Classification").text is None


def test_poom_never_contains_shared_secret():
    # given credentials that carry a shared secret
    secretive = Credential(domain="DUNS", identity="1", shared_secret="do-not-send")

    # when the cart is built with them everywhere
    document = _poom([_item()], from_credential=secretive, to_credential=secretive, sender_credential=secretive)

    # then no SharedSecret element or value is written
    assert b"SharedSecret" not in document
    assert b"do-not-send" not in document


def test_poom_matches_golden_sample_shape():
    # given the builder golden sample without the parts our cart does not send
    golden = parse_xml((SAMPLES / "cxml-poom-create-builder.xml").read_bytes())
    for path in ("Message/PunchOutOrderMessage/PunchOutOrderMessageHeader/ShipTo",
                 "Message/PunchOutOrderMessage/PunchOutOrderMessageHeader/SupplierOrderInfo",
                 "Message/PunchOutOrderMessage/ItemIn/ItemID/BuyerPartID"):  # fmt: skip
        for element in golden.findall(path):
            element.getparent().remove(element)
    items = [
        _item(supplier_part_auxiliary_id="", quantity=Decimal(3)),
        _item(supplier_part_id="666", supplier_part_auxiliary_id="", quantity=Decimal(5)),
    ]

    # when our builder makes the same two-line cart
    ours = parse_xml(_poom(items, operation_allowed="create"))

    # then elements and attribute names come in the same order
    assert _tag_paths(ours) == _tag_paths(golden)
    for our_element, golden_element in zip(ours.iter(etree.Element), golden.iter(etree.Element), strict=True):
        if our_element.tag != "cXML":
            assert sorted(our_element.attrib) == sorted(golden_element.attrib), our_element.tag


def test_poom_total_rounds_each_line():
    # given three lines of 0.005 each, which round half up to 0.01 per line
    items = [_item(supplier_part_id=f"P{n}", quantity=Decimal(1), unit_price=Decimal("0.005")) for n in range(3)]

    # when the cart is built
    root = parse_xml(_poom(items))

    # then the total is the sum of rounded lines, not the rounded sum (0.02)
    assert root.findtext("Message/PunchOutOrderMessage/PunchOutOrderMessageHeader/Total/Money") == "0.03"
    assert root.findtext("Message/PunchOutOrderMessage/ItemIn/ItemDetail/UnitPrice/Money") == "0.005"


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (Decimal("2.000"), "2"),
        (Decimal("1E+1"), "10"),
        (Decimal("100"), "100"),
        (Decimal("0.50"), "0.5"),
        (Decimal("1234567.125"), "1234567.125"),
        (Decimal("1E-7"), "0.0000001"),
    ],
)
def test_poom_quantity_plain_decimal(quantity, expected):
    root = parse_xml(_poom([_item(quantity=quantity)]))

    assert root.find("Message/PunchOutOrderMessage/ItemIn").get("quantity") == expected


def test_poom_empty_cart_is_valid():
    # when an empty cart is returned
    document = _poom([])
    root = parse_xml(document)

    # then it has a zero total and no ItemIn, and still validates
    validate_document(document)
    assert root.findtext("Message/PunchOutOrderMessage/PunchOutOrderMessageHeader/Total/Money") == "0.00"
    assert root.findall("Message/PunchOutOrderMessage/ItemIn") == []


def test_poom_zero_decimal_currency_total():
    root = parse_xml(_poom([_item(currency="JPY", unit_price=Decimal("1500"))], currency="jpy"))

    assert root.find("Message/PunchOutOrderMessage/PunchOutOrderMessageHeader/Total/Money").attrib == {
        "currency": "JPY"
    }
    assert root.findtext("Message/PunchOutOrderMessage/PunchOutOrderMessageHeader/Total/Money") == "4500"


def test_poom_test_deployment_mode():
    root = parse_xml(_poom([_item()], deployment_mode="test"))

    assert root.find("Message").attrib == {"deploymentMode": "test"}


def test_poom_buyer_cookie_round_trips_byte_exact():
    # given a setup request whose BuyerCookie has markup characters, quotes, edge spaces and non-ASCII
    cookie = "  <cart id=\"7\"> & 'x' caf\u00e9 \u2019\ttab \r\n end  "
    request_root = parse_xml((SAMPLES / "cxml-posr-create-shipto-selecteditem-itemout.xml").read_bytes())
    request_root.find("Request/PunchOutSetupRequest/BuyerCookie").text = cookie
    request_bytes = etree.tostring(request_root, encoding="UTF-8", xml_declaration=True)

    # when the request is read and the cookie is echoed in a cart
    setup = read_punchout_setup_request(parse_xml(request_bytes))
    cart = parse_xml(_poom([_item()], buyer_cookie=setup.buyer_cookie))

    # then the cookie comes back byte for byte
    echoed = cart.findtext("Message/PunchOutOrderMessage/BuyerCookie")
    assert setup.buyer_cookie == cookie
    assert echoed.encode("utf-8") == cookie.encode("utf-8")


@pytest.mark.parametrize(
    ("overrides", "item_overrides", "message"),
    [
        ({"currency": "EURO"}, {}, "The cart currency is invalid: Currency 'EURO' is not an ISO 4217 code"),
        ({"operation_allowed": "delete"}, {}, "operationAllowed 'delete' is not one of create, inspect, edit."),
        ({"deployment_mode": "staging"}, {}, "deploymentMode 'staging' is not one of production, test."),
        ({}, {"currency": "EUR"}, "The currency of cart line 1 (part 'CH-100') is EUR, but the cart is in USD."),
        ({}, {"quantity": Decimal(0)}, "The quantity of cart line 1 (part 'CH-100') is 0; it must be greater"),
        ({}, {"quantity": Decimal("NaN")}, "The quantity of cart line 1 (part 'CH-100') is invalid"),
        ({}, {"supplier_part_id": " "}, "Cart line 1 has an empty supplier part ID."),
        ({}, {"unit_of_measure": ""}, "The unit of measure of cart line 1 (part 'CH-100') is empty"),
        ({}, {"lead_time_days": -1}, "The lead time of cart line 1 (part 'CH-100') is -1 days"),
        ({}, {"description": "bell\x07"}, "The value 'bell\\x07' or an attribute of <Description> contains"),
    ],
)
def test_poom_rejects_invalid_values(overrides, item_overrides, message):
    with pytest.raises(CXMLBuildError) as caught:
        _poom([_item(**item_overrides)], **overrides)

    assert caught.value.code == "invalid_cxml_value"
    assert caught.value.message.startswith(message)


def test_credential_repr_hides_shared_secret():
    assert repr(SUPPLIER) == "Credential(domain='DUNS', identity='123456789')"


def test_credential_matches_domain_ignoring_case():
    credential = Credential(domain="duns", identity="dell")

    assert credential.matches("DUNS", "dell")
    assert credential.matches(" Duns ", "dell")
    assert not credential.matches("DUNS", "Dell")
    assert not credential.matches("NetworkId", "dell")


def test_cxml_version_is_bundled_dtd_version():
    assert CXML_VERSION == "1.2.069"


@pytest.mark.parametrize("sample", sorted(path.name for path in SAMPLES.glob("*.xml")))
def test_every_sample_validates_against_its_dtd(sample):
    # given a sample document, read through the hardened parser
    root = parse_xml((SAMPLES / sample).read_bytes())

    # then it validates against the bundled DTD chosen by its payload
    validate_document(root)


@pytest.mark.parametrize(
    ("sample", "dtd_name"),
    [
        ("cxml-quotemessage-accept.xml", "Quote.dtd"),
        ("cxml-shipnoticerequest.xml", "Fulfill.dtd"),
        ("cxml-invoicedetailrequest-tax-at-line.xml", "InvoiceDetail.dtd"),
        ("cxml-poom-create-2items.xml", "cXML.dtd"),
        ("cxml-profilerequest.xml", "cXML.dtd"),
        ("cxml-posres-400-failure.xml", "cXML.dtd"),
    ],
)
def test_dtd_chosen_by_payload_not_doctype(sample, dtd_name):
    root = parse_xml((SAMPLES / sample).read_bytes())

    assert dtd_name_for(root) == dtd_name


def test_validate_document_lists_dtd_errors():
    # given a setup response with Status moved after the payload
    root = parse_xml(build_punchout_setup_response(start_page_url="https://shop.example.com/s/1/"))
    response = root.find("Response")
    response.append(response.find("Status"))

    # when it is validated
    with pytest.raises(CXMLInvalid) as caught:
        validate_document(root)

    # then the DTD error names the element and the line
    assert caught.value.code == "invalid_cxml"
    assert caught.value.dtd_name == "cXML.dtd"
    assert caught.value.errors == (
        "line 4: Element Response content does not follow the DTD, "
        "expecting (Status , (ProfileResponse | PunchOutSetupResponse | ProviderSetupResponse | GetPendingResponse "
        "| SubscriptionListResponse | SubscriptionContentResponse | SupplierListResponse | SupplierDataResponse "
        "| AuthResponse | DataResponse | OrganizationDataResponse)?), got (PunchOutSetupResponse Status )",
    )
    assert caught.value.message.startswith("The cXML document is not valid against cXML.dtd 1.2.069: line 4:")


def test_validate_document_rejects_other_root():
    with pytest.raises(CXMLInvalid) as caught:
        validate_document(b"<Response><Status code='200' text='OK'/></Response>")

    assert caught.value.message == "The document's root element is <Response>, not <cXML>."


def test_quote_sample_fails_against_cxml_dtd_alone():
    # given the quote sample, whose DOCTYPE names cXML.dtd although QuoteMessage needs Quote.dtd
    root = parse_xml((SAMPLES / "cxml-quotemessage-accept.xml").read_bytes())
    cxml_dtd = etree.DTD(str(Path(settings.BASE_DIR) / "apps/punchout/cxml/dtd/1.2.069/cXML.dtd"))

    # then only the payload-chosen DTD accepts it
    assert cxml_dtd.validate(root) is False
    validate_document(root)
