"""The OrderRequest handler with every OrderRequest sample, dispatched the way the cXML endpoint does."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from lxml import etree

from apps.catalog.models import Product
from apps.core.xml import parse_xml
from apps.exceptions.models import ExceptionCase
from apps.orders.models import InboundDocument, Order, OrderStatus
from apps.punchout import services
from apps.punchout.cxml.documents import build_status_response
from apps.punchout.cxml.reader import read_header, request_type
from apps.punchout.cxml.validation import validate_document
from apps.punchout.errors import PunchOutError
from apps.punchout.models import CartLine, PunchOutSession
from apps.punchout.order_handlers import handle_order_request, handle_status_update_request
from tests.factories import (
    BuyerConnectionFactory,
    ContractFactory,
    ContractPriceFactory,
    CustomerFactory,
    ProductFactory,
    StockLevelFactory,
    WarehouseFactory,
)
from tests.standards import SAMPLES

HANDLERS = {"OrderRequest": handle_order_request, "StatusUpdateRequest": handle_status_update_request}


def post(data: bytes) -> tuple[str, str, etree._Element]:
    """Dispatch a document as the endpoint does; return the answer's Status code, its text content and root."""
    root = parse_xml(data)
    header = read_header(root)
    try:
        connection = services.authenticate_cxml_sender(header=header, client_address="192.0.2.10")
    except PunchOutError as error:
        answer = build_status_response(code=error.cxml_status, text="Unauthorized", message=error.message)
    else:
        kind = request_type(root)
        if kind == "OrderRequest":
            answer = handle_order_request(root=root, header=header, connection=connection, body=data)
        else:
            answer = HANDLERS[kind](root=root, header=header, connection=connection)
    validate_document(answer)
    answered = parse_xml(answer)
    status = answered.find("Response/Status")
    return status.get("code"), (status.text or ""), answered


def sample(name: str, *, shared_secret: str | None = None) -> bytes:
    data = (SAMPLES / name).read_bytes()
    if shared_secret is None:
        return data
    root = parse_xml(data)
    credential = root.find("Header/Sender/Credential")
    secret = etree.SubElement(credential, "SharedSecret")
    secret.text = shared_secret
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def priced_products(contract, warehouse, prices: dict[str, str], currency: str):
    for sku, price in prices.items():
        product = ProductFactory(sku=sku, currency=currency, list_price=Decimal(price))
        ContractPriceFactory(contract=contract, product=product, price=Decimal(price))
        StockLevelFactory(product=product, warehouse=warehouse, on_hand=Decimal("100"))


@pytest.fixture
def warehouse(db):
    return WarehouseFactory(code="RTM", country="NL")


def buyer(account: str, currency: str, **credentials):
    customer = CustomerFactory(account_number=account, currency=currency, credit_limit=Decimal("1000000"))
    contract = ContractFactory(customer=customer, valid_from=dt.date(2000, 1, 1), valid_to=None)
    connection = BuyerConnectionFactory(customer=customer, **credentials)
    return customer, contract, connection


@pytest.fixture
def prominate(warehouse):
    """The buyer of the two cxml-php samples, whose Sender sends SharedSecret "coyote"."""
    customer, contract, connection = buyer(
        "PROMINATE-1",
        "EUR",
        from_domain="NetworkId",
        from_identity="inbound@prominate-platform.com",
        sender_domain="NetworkId",
        sender_identity="inbound@prominate-platform.com",
        to_domain="NetworkId",
        to_identity="supplier@supplier.com",
        shared_secret="coyote",
    )
    return customer, contract, connection


def test_two_item_test_order_is_kept_apart(prominate, warehouse):
    # given
    _, contract, _ = prominate
    priced_products(contract, warehouse, {"1233244": "2.10", "1233245": "3.20"}, "EUR")

    # when
    code, text, _ = post(sample("cxml-orderrequest-new-2items.xml"))

    # then
    assert code == "200"
    assert "test mode" in text
    order = Order.objects.get()
    assert order.is_test is True
    assert order.status == OrderStatus.CONFIRMED
    assert order.po_number == "DO1234"
    assert order.payload_id == "1625586002.193314.7293@dev"
    assert order.total == Decimal("85.00")
    assert order.ship_to["deliver_to"] == ["Joe Smith", "Mailstop M-543"]
    assert order.bill_to["country_code"] == "DE"
    assert order.comments == "Attachment: delivery-note.pdf"
    lines = list(order.lines.order_by("position"))
    assert [(line.sku, line.quantity, line.buyer_unit_price) for line in lines] == [
        ("1233244", Decimal("10.000"), Decimal("2.1000")),
        ("1233245", Decimal("20.000"), Decimal("3.2000")),
    ]
    assert lines[1].comments == "Test comment"
    assert sum(line.quantity_allocated for line in lines) == 0
    stored = InboundDocument.objects.get().body
    assert stored.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE cXML SYSTEM')
    assert "<!-- The buying marketplace and member organization. -->" in stored


def test_builder_order_with_negative_offset_is_allocated(prominate, warehouse):
    # given
    customer, contract, _ = prominate
    customer.currency = "USD"
    customer.save()
    contract.currency = "USD"
    contract.save()
    priced_products(contract, warehouse, {"5555": "763.20", "666": "226.20"}, "USD")

    # when
    code, _, _ = post(sample("cxml-orderrequest-new-builder.xml", shared_secret="coyote"))

    # then
    assert code == "200"
    order = Order.objects.get()
    assert order.status == OrderStatus.ALLOCATED
    assert order.is_test is False
    assert order.currency == "USD"
    assert order.total == Decimal("3420.60")
    assert order.buyer_total == Decimal("3420.60")
    assert order.order_date == dt.datetime(2022, 9, 14, 16, 12, 13, tzinfo=dt.UTC)
    assert order.warehouse == warehouse


def test_coupa_2020_order_keeps_auxiliary_ids(warehouse):
    # given
    _, contract, _ = buyer(
        "COUPA-1",
        "USD",
        from_domain="NetworkID",
        from_identity="kasdflkjasdf",
        sender_domain="NetworkID",
        sender_identity="DAN_Coupa",
        to_domain="alksjflkasjdfasdf",
        to_identity="development@officeluv.com",
        shared_secret="alsdkfjalksdjflaksjdfklj",
    )
    priced_products(contract, warehouse, {"product:1861": "8.10", "product:4884": "9.29"}, "USD")

    # when
    code, _, _ = post(sample("cxml-orderrequest-new-coupa-2020.xml"))

    # then
    assert code == "200"
    order = Order.objects.get()
    assert order.status == OrderStatus.ALLOCATED
    assert order.po_number == "3309"
    assert order.total == Decimal("91.71")
    assert order.ship_to["address_id"] == "21444"
    assert order.extrinsics == {}
    assert order.order_date == dt.datetime(2020, 3, 31, 20, 39, 22, tzinfo=dt.UTC)
    lines = list(order.lines.order_by("position"))
    assert [line.supplier_part_auxiliary_id for line in lines] == [
        "product-requisition:6236",
        "product-requisition:6235",
    ]
    assert [line.unit_price for line in lines] == [Decimal("8.1000"), Decimal("9.2900")]
    assert lines[0].classification == {}
    assert lines[0].extrinsics == {"LineType": "Quantity"}


def test_coupa_2008_without_shared_secret_is_unauthorized(warehouse):
    # given
    buyer(
        "DELL-1",
        "USD",
        from_domain="DUNS",
        from_identity="dell",
        sender_domain="DUNS",
        sender_identity="dell",
        to_domain="DUNS",
        to_identity="128293714",
    )

    # when
    code, _, _ = post(sample("cxml-orderrequest-new-coupa-2008.xml"))

    # then
    assert code == "401"
    assert Order.objects.count() == 0
    assert InboundDocument.objects.count() == 0


def test_same_payload_twice_answers_first_result(prominate, warehouse):
    # given
    _, contract, _ = prominate
    priced_products(contract, warehouse, {"1233244": "2.10", "1233245": "3.20"}, "EUR")
    first = post(sample("cxml-orderrequest-new-2items.xml"))

    # when
    second = post(sample("cxml-orderrequest-new-2items.xml"))

    # then
    assert second[0] == first[0] == "200"
    assert second[1] == first[1]
    assert Order.objects.count() == 1


def test_scientific_quantity_is_refused_by_line(prominate, warehouse):
    # given
    _, contract, _ = prominate
    priced_products(contract, warehouse, {"1233244": "2.10", "1233245": "3.20"}, "EUR")
    root = parse_xml(sample("cxml-orderrequest-new-2items.xml"))
    root.find("Request/OrderRequest/ItemOut").set("quantity", "1E1")

    # when
    code, text, _ = post(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))

    # then
    assert code == "400"
    assert "Line 1: the quantity '1E1' uses scientific notation" in text
    assert Order.objects.get().status == OrderStatus.REJECTED


def cart_session(connection, contract, products, ship_to):
    session = PunchOutSession.objects.create(
        connection=connection,
        contract=contract,
        token_hash="c" * 64,
        operation="create",
        buyer_cookie="cookie",
        browser_form_post_url="http://localhost/return",
        expires_at=timezone.now(),
        ship_to=ship_to,
    )
    lines = [
        CartLine.objects.create(session=session, product=product, quantity=Decimal(quantity), line_number=number)
        for number, (product, quantity) in enumerate(products, start=1)
    ]
    return session, lines


def test_order_after_punchout_is_reconciled_with_cart(prominate, warehouse):
    # given
    _, contract, connection = prominate
    priced_products(contract, warehouse, {"1233244": "2.10", "1233245": "3.20"}, "EUR")
    first, second = Product.objects.get(sku="1233244"), Product.objects.get(sku="1233245")
    extra = ProductFactory(sku="EXTRA-1", currency="EUR")
    ContractPriceFactory(contract=contract, product=extra, price=Decimal("3.20"))
    _, cart_lines = cart_session(
        connection,
        contract,
        [(first, "10"), (extra, "1")],
        ship_to={"street_lines": ["1 Other Road"], "city": "Berlin", "postal_code": "10115", "country_code": "DE"},
    )
    root = parse_xml(sample("cxml-orderrequest-new-2items.xml"))
    items = root.findall("Request/OrderRequest/ItemOut")
    items[0].set("quantity", "12")
    for item, reference in ((items[0], cart_lines[0].auxiliary_id), (items[1], "")):
        element = etree.SubElement(item.find("ItemID"), "SupplierPartAuxiliaryID")
        element.text = reference

    # when
    code, _, _ = post(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))

    # then
    assert code == "200"
    order = Order.objects.get()
    assert order.status == OrderStatus.ON_HOLD
    assert [difference["change"] for difference in order.cart_differences] == [
        "quantity",
        "added",
        "removed",
        "ship_to",
    ]
    assert order.cart_differences[0]["cart_quantity"] == "10.000"
    assert order.cart_differences[0]["quantity"] == "12"
    assert order.cart_differences[1]["sku"] == second.sku
    assert order.cart_differences[2]["sku"] == "EXTRA-1"
    assert sorted(ExceptionCase.objects.values_list("cause_key", flat=True)) == [
        "line:2:cart_added",
        "order:cart_ship_to",
    ]
