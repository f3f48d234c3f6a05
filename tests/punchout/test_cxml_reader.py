"""Tests for apps.punchout.cxml.reader: inbound cXML read leniently into dataclasses."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from apps.core.xml import parse_xml
from apps.punchout.cxml.documents import Credential
from apps.punchout.cxml.reader import (
    CXMLBadRequest,
    ItemOutLine,
    read_header,
    read_punchout_setup_request,
    request_type,
)
from tests.standards import SAMPLES

HEADER = """
  <Header>
    <From><Credential domain="NetworkID"><Identity>AN01</Identity></Credential></From>
    <To><Credential domain="DUNS"><Identity>123456789</Identity></Credential></To>
    <Sender>
      <Credential domain="NetworkID"><Identity>AN01</Identity><SharedSecret>s3cr3t</SharedSecret></Credential>
      <UserAgent>Coupa Procurement 1.0</UserAgent>
    </Sender>
  </Header>
"""


def _sample(name: str):
    return parse_xml((SAMPLES / name).read_bytes())


def _document(body: str, *, header: str = HEADER, attributes: str = 'payloadID="p-1@buyer.example"') -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><cXML {attributes} timestamp="2026-01-02T03:04:05+01:00">{header}{body}</cXML>'.encode()  # noqa: E501


def _setup_request(inner: str, *, operation: str = "create", request_attributes: str = "") -> bytes:
    return _document(
        f'<Request {request_attributes}><PunchOutSetupRequest operation="{operation}">{inner}'
        "</PunchOutSetupRequest></Request>"
    )


def _bad_request(data: bytes, reader=read_punchout_setup_request) -> CXMLBadRequest:
    with pytest.raises(CXMLBadRequest) as caught:
        reader(parse_xml(data))
    assert caught.value.code == "bad_request"
    return caught.value


def test_setup_request_sample_fully_read():
    # given the create request with Extrinsic, ShipTo, SelectedItem and two ItemOut lines
    root = _sample("cxml-posr-create-shipto-selecteditem-itemout.xml")

    # when it is read
    setup = read_punchout_setup_request(root)

    # then every part comes out
    assert setup.header.from_credentials == (Credential("NetworkId", "inbound@prominate-platform.com"),)
    assert setup.header.to_credentials == (Credential("NetworkId", "supplier@supplier.com"),)
    assert setup.header.sender == Credential("NetworkId", "inbound@prominate-platform.com", "s3cr3t")
    assert setup.header.user_agent == "Workchairs cXML Application"
    assert setup.header.payload_id == "933695160890"
    assert setup.header.timestamp == datetime(2023, 1, 23, 16, 0, 6, tzinfo=timezone(timedelta(hours=-1)))
    assert setup.header.deployment_mode == "test"
    assert setup.header.version == "1.2.050"
    assert setup.operation == "create"
    assert setup.buyer_cookie == "550bce3e592023b2e7b015307f965133"
    assert setup.browser_form_post_url == "https://prominate-platform.com/hook-url"
    assert setup.supplier_setup_url == "http://workchairs.com/cxml"
    assert setup.extrinsics == {"UserEmail": "john-doe@domain.com"}
    assert setup.user_email == "john-doe@domain.com"
    assert setup.ship_to == {
        "address_id": "",
        "name": "Acme",
        "deliver_to": ["Joe Smith", "Mailstop M-543"],
        "street_lines": ["123 Anystreet"],
        "city": "Sunnyvale",
        "state": "CA",
        "postal_code": "90489",
        "country_code": "US",
        "country_name": "United States",
        "email": "",
    }
    assert setup.selected_item_part_id == "4545321"
    assert setup.items_out == (
        ItemOutLine(
            supplier_part_id="5555",
            supplier_part_auxiliary_id="",
            quantity=Decimal("2"),
            line_number="10",
            unit_price=Decimal("763.20"),
            currency="EUR",
            description="Excelsior Desk Chair",
            unit_of_measure="EA",
        ),
        ItemOutLine(
            supplier_part_id="6666",
            supplier_part_auxiliary_id="",
            quantity=Decimal("1"),
            line_number="20",
            unit_price=Decimal("764.20"),
            currency="EUR",
            description="22Excelsior Desk Chair",
            unit_of_measure="EA",
        ),
    )


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("cxml-posr-create-shipto-selecteditem-itemout.xml", "PunchOutSetupRequest"),
        ("cxml-orderrequest-new-2items.xml", "OrderRequest"),
        ("cxml-orderrequest-new-builder.xml", "OrderRequest"),
        ("cxml-orderrequest-new-coupa-2020.xml", "OrderRequest"),
        ("cxml-orderrequest-new-coupa-2008.xml", "OrderRequest"),
        ("cxml-profilerequest.xml", "ProfileRequest"),
        ("cxml-statusupdaterequest.xml", "StatusUpdateRequest"),
        ("cxml-poom-create-2items.xml", "PunchOutOrderMessage"),
    ],
)
def test_request_type_of_inbound_samples(sample, expected):
    # given an inbound sample read through parse_xml
    root = _sample(sample)

    # then its payload is named and its header reads without error
    assert request_type(root) == expected
    assert read_header(root).payload_id == root.get("payloadID")


def test_header_keeps_coupa_2008_domains():
    # given the 2008 Coupa order with lower- and mixed-case DUNS domains and no shared secret
    header = read_header(_sample("cxml-orderrequest-new-coupa-2008.xml"))

    # then domains are kept as sent and match ignoring case
    assert header.from_credentials == (Credential("duns", "dell"),)
    assert header.to_credentials == (Credential("Duns", "128293714"),)
    assert header.sender == Credential("duns", "dell")
    assert header.sender.shared_secret is None
    assert header.sender.matches("DUNS", "dell")
    assert header.to_credentials[0].matches("DUNS", "128293714")
    assert header.deployment_mode == "production"
    assert header.user_agent == "Coupa Procurement 1.0"
    assert header.timestamp == datetime(2008, 1, 7, 9, 14, 50, tzinfo=timezone(timedelta(hours=-8)))
    assert header.version == "1.2.014"


def test_header_keeps_negative_offset():
    header = read_header(_sample("cxml-orderrequest-new-builder.xml"))

    assert header.timestamp.utcoffset() == timedelta(hours=-8)
    assert header.timestamp == datetime(2021, 1, 9, 7, 0, 6, tzinfo=UTC)


def test_header_of_profile_request_without_doctype():
    # given the ProfileRequest that has no DOCTYPE and no version attribute
    root = _sample("cxml-profilerequest.xml")

    # when its header is read
    header = read_header(root)

    # then the version is unknown and the rest reads normally
    assert root.getroottree().docinfo.doctype == ""
    assert header.version == ""
    assert header.payload_id == "payload-id"
    assert header.timestamp == datetime(2000, 1, 1, tzinfo=UTC)
    assert header.sender == Credential("AribaNetworkUserId", "sysadmin@buyer.com", "abracadabra")
    assert header.user_agent == "Network Hub 1.1"


def test_header_keeps_typographic_apostrophe():
    header = read_header(_sample("cxml-statusupdaterequest.xml"))

    assert header.user_agent == "Supplier\u2019s Super Order Processor"


def test_header_version_attribute_wins_over_doctype():
    # given a version attribute that differs from the DOCTYPE's version directory
    data = _document("<Request><ProfileRequest/></Request>", attributes='payloadID="p-1" version="1.2.060"').replace(
        b"<cXML", b'<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.050/cXML.dtd"><cXML', 1
    )

    # when the header is read
    header = read_header(parse_xml(data))

    # then the attribute is the version
    assert header.version == "1.2.060"


def test_setup_request_children_in_any_order():
    # given Coupa-style order: ItemOut first, BuyerCookie last, with unknown elements and comments
    data = _setup_request(
        """
        <ItemOut quantity="9" lineNumber="2">
          <ItemDetail>
            <Extrinsic name="LineType">Quantity</Extrinsic>
            <UnitOfMeasure>EA</UnitOfMeasure>
            <Description xml:lang="en">Pimento Cheese</Description>
            <UnitPrice><Money currency="usd">8.1</Money></UnitPrice>
          </ItemDetail>
          <ItemID>
            <SupplierPartAuxiliaryID>product-requisition:6235</SupplierPartAuxiliaryID>
            <SupplierPartID> product:4884 </SupplierPartID>
          </ItemID>
        </ItemOut>
        <CoupaCustomField>ignored</CoupaCustomField>
        <BrowserFormPost><URL>https://buyer.example/return</URL></BrowserFormPost>
        <!-- a comment between children -->
        <Extrinsic name="legacy_po"></Extrinsic>
        <Extrinsic name="User">jdoe</Extrinsic>
        <Extrinsic name="useremail">jdoe@buyer.example</Extrinsic>
        <BuyerCookie>cookie-42</BuyerCookie>
        """,
        operation="Edit",
    )

    # when it is read
    setup = read_punchout_setup_request(parse_xml(data))

    # then every part is found by name
    assert setup.operation == "edit"
    assert setup.buyer_cookie == "cookie-42"
    assert setup.browser_form_post_url == "https://buyer.example/return"
    assert setup.supplier_setup_url is None
    assert setup.extrinsics == {"legacy_po": "", "User": "jdoe", "useremail": "jdoe@buyer.example"}
    assert setup.user_email == "jdoe@buyer.example"
    assert setup.ship_to is None
    assert setup.selected_item_part_id is None
    assert setup.items_out == (
        ItemOutLine(
            supplier_part_id="product:4884",
            supplier_part_auxiliary_id="product-requisition:6235",
            quantity=Decimal("9"),
            line_number="2",
            unit_price=Decimal("8.1"),
            currency="USD",
            description="Pimento Cheese",
            unit_of_measure="EA",
        ),
    )
    assert str(setup.items_out[0].unit_price) == "8.1"


def test_setup_request_minimal_parts():
    # given only the BuyerCookie, no Extrinsic, no ItemOut, and a Contact e-mail
    data = _setup_request(
        '<BuyerCookie>c</BuyerCookie><Contact role="endUser"><Name xml:lang="en">J</Name>'
        "<Email>j@buyer.example</Email></Contact>"
    )

    # when it is read
    setup = read_punchout_setup_request(parse_xml(data))

    # then optional parts are empty and the Contact e-mail is the user e-mail
    assert setup.extrinsics == {}
    assert setup.items_out == ()
    assert setup.browser_form_post_url is None
    assert setup.user_email == "j@buyer.example"
    assert setup.header.deployment_mode == "production"
    assert setup.header.version == ""


def test_setup_request_ship_to_from_address_attributes():
    # given a ShipTo whose country code sits on Address, as Coupa sends it
    data = _setup_request(
        "<BuyerCookie>c</BuyerCookie>"
        '<ShipTo><Address isoCountryCode="us" addressID="3119"><Name xml:lang="en">Dock 4</Name>'
        "<PostalAddress><Street>333 East Hill Dr</Street><Street>Suite 2</Street><City>San Leandro</City>"
        "<Country>United States</Country></PostalAddress><Email>dock@buyer.example</Email></Address></ShipTo>"
    )

    # when it is read
    setup = read_punchout_setup_request(parse_xml(data))

    # then the address ID and country code are taken from Address
    assert setup.ship_to == {
        "address_id": "3119",
        "name": "Dock 4",
        "deliver_to": [],
        "street_lines": ["333 East Hill Dr", "Suite 2"],
        "city": "San Leandro",
        "state": "",
        "postal_code": "",
        "country_code": "US",
        "country_name": "United States",
        "email": "dock@buyer.example",
    }


def test_setup_request_description_short_name_only():
    data = _setup_request(
        '<BuyerCookie>c</BuyerCookie><ItemOut quantity="1"><ItemID><SupplierPartID>A</SupplierPartID></ItemID>'
        '<ItemDetail><Description xml:lang="en"><ShortName>Short</ShortName></Description></ItemDetail></ItemOut>'
    )

    line = read_punchout_setup_request(parse_xml(data)).items_out[0]

    assert line.description == "Short"
    assert line.unit_price is None
    assert line.currency is None
    assert line.unit_of_measure == ""


def test_setup_request_keeps_auxiliary_id_verbatim():
    data = _setup_request(
        '<BuyerCookie>c</BuyerCookie><ItemOut quantity="1"><ItemID><SupplierPartID>A</SupplierPartID>'
        "<SupplierPartAuxiliaryID> 1005379527029\\1 </SupplierPartAuxiliaryID></ItemID></ItemOut>"
    )

    line = read_punchout_setup_request(parse_xml(data)).items_out[0]

    assert line.supplier_part_auxiliary_id == " 1005379527029\\1 "


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            '<ItemOut quantity="two" lineNumber="10"><ItemID><SupplierPartID>A</SupplierPartID></ItemID></ItemOut>',
            "The quantity of ItemOut 1 (lineNumber 10) is 'two', which is not a decimal number such as 12.50.",
        ),
        (
            '<ItemOut quantity="1,5"><ItemID><SupplierPartID>A</SupplierPartID></ItemID></ItemOut>',
            "The quantity of ItemOut 1 is '1,5', which is not a decimal number such as 12.50.",
        ),
        (
            '<ItemOut quantity="Infinity"><ItemID><SupplierPartID>A</SupplierPartID></ItemID></ItemOut>',
            "The quantity of ItemOut 1 is 'Infinity', which is not a finite number.",
        ),
        (
            '<ItemOut quantity="-1"><ItemID><SupplierPartID>A</SupplierPartID></ItemID></ItemOut>',
            "The quantity of ItemOut 1 is -1; it must be greater than zero.",
        ),
        (
            "<ItemOut><ItemID><SupplierPartID>A</SupplierPartID></ItemID></ItemOut>",
            "ItemOut 1 has no quantity attribute.",
        ),
        (
            '<ItemOut quantity="1"><ItemID><SupplierPartID> </SupplierPartID></ItemID></ItemOut>',
            "ItemOut 1 has no ItemID/SupplierPartID.",
        ),
        (
            '<ItemOut quantity="1" lineNumber="3"><ItemID><SupplierPartID>A</SupplierPartID></ItemID>'
            '<ItemDetail><UnitPrice><Money currency="USD">8.1O</Money></UnitPrice></ItemDetail></ItemOut>',
            "The unit price of ItemOut 1 (lineNumber 3) is '8.1O', which is not a decimal number such as 12.50.",
        ),
    ],
)
def test_setup_request_rejects_bad_item_out(item, message):
    error = _bad_request(_setup_request("<BuyerCookie>c</BuyerCookie>" + item))

    assert error.message == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _setup_request('<Extrinsic name="UserEmail">a@b.example</Extrinsic>'),
            "The PunchOutSetupRequest has no BuyerCookie; it is echoed back with the cart.",
        ),
        (
            _setup_request("<BuyerCookie>c</BuyerCookie>", operation="delete"),
            "PunchOutSetupRequest operation 'delete' is missing or unknown; use one of create, edit, inspect, source.",
        ),
        (
            _setup_request("<BuyerCookie>c</BuyerCookie>", request_attributes='deploymentMode="staging"'),
            "deploymentMode 'staging' is unknown; use production or test.",
        ),
        (
            _document("<Request><OrderRequest/></Request>"),
            "The cXML request is OrderRequest, not the expected PunchOutSetupRequest.",
        ),
        (
            _document("<Request><ProfileRequest/></Request>", header=""),
            "The cXML document has no Header; it needs From, To and Sender credentials.",
        ),
        (
            _document("<Request><ProfileRequest/></Request>", attributes=""),
            "The cXML element has no payloadID attribute; every cXML document needs a unique one.",
        ),
        (
            _document(
                "<Request><ProfileRequest/></Request>",
                header=HEADER.replace('<Sender>\n      <Credential domain="NetworkID">', "<Sender><Ignored>").replace(
                    "</SharedSecret></Credential>", "</SharedSecret></Ignored>"
                ),
            ),
            "The cXML Header has no Sender credential; Header/Sender/Credential is required.",
        ),
        (
            _document(
                "<Request><ProfileRequest/></Request>",
                header=HEADER.replace('<Credential domain="DUNS">', "<Credential>"),
            ),
            "Header To credential 1 lacks a domain attribute or an Identity; both are required.",
        ),
        (
            b"<Response><Status code='200' text='OK'/></Response>",
            "The document's root element is <Response>, not <cXML>.",
        ),
    ],
)
def test_setup_request_names_missing_part(data, message):
    error = _bad_request(data)

    assert error.message == message


def test_request_type_without_request():
    error = _bad_request(_document('<Response><Status code="200" text="OK"/></Response>'), reader=request_type)

    assert error.message == "The cXML document has no Request element; send a cXML request such as OrderRequest."


def test_request_type_of_empty_request():
    error = _bad_request(_document("<Request> <!-- nothing --> </Request>"), reader=request_type)

    assert error.message == "The cXML Request element is empty; it must contain a request such as OrderRequest."


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05.250-05:00", datetime(2026, 1, 2, 8, 4, 5, 250000, tzinfo=UTC)),
        ("yesterday", None),
    ],
)
def test_header_timestamp_forms(timestamp, expected):
    data = _document("<Request><ProfileRequest/></Request>").replace(
        b'timestamp="2026-01-02T03:04:05+01:00"', f'timestamp="{timestamp}"'.encode()
    )

    header = read_header(parse_xml(data))

    assert header.timestamp == expected


@pytest.mark.parametrize("quantity", ["1E999999999", "1E-999999999", "1E18"])
def test_item_quantity_out_of_range_rejected(quantity):
    # given a setup request whose ItemOut quantity has a huge exponent
    root = parse_xml((SAMPLES / "cxml-posr-create-shipto-selecteditem-itemout.xml").read_bytes())
    root.find(".//ItemOut").set("quantity", quantity)

    # when
    with pytest.raises(CXMLBadRequest) as error:
        read_punchout_setup_request(root)

    # then
    assert "out of range" in str(error.value)
