"""Order lines in a unit other than the product's: converted when the conversion is exact, else a unit case."""

from decimal import Decimal

import pytest
from django.test import override_settings

from apps.catalog.models import StockLevel, UnitOfMeasure
from apps.core.xml import parse_xml
from apps.exceptions.models import ExceptionCase
from apps.orders.models import OrderStatus, OutboundEndpoint
from apps.punchout.cxml.validation import validate_document
from apps.punchout.order_request import connection_source
from tests.factories import BuyerConnectionFactory, ContractPriceFactory, ProductFactory, StockLevelFactory
from tests.orders.buyer_server import BuyerServer


def line(sku="CHAIR-1", quantity="2", unit_price="99.50", unit="EA", number="1"):
    return {"line_number": number, "sku": sku, "quantity": quantity, "unit_price": unit_price, "unit": unit}


def unit(code):
    return UnitOfMeasure.objects.get(code=code)


@pytest.fixture
def pens(contract, warehouses):
    """Pens sold by the box of 12, at 12.00 a box, 10 boxes in stock."""
    product = ProductFactory(sku="PEN-12", unit=unit("XBX"), attributes={"pack_size": 12}, list_price=Decimal("15"))
    ContractPriceFactory(contract=contract, product=product, price=Decimal("12.00"))
    StockLevelFactory(product=product, warehouse=warehouses["FRA"], on_hand=Decimal("10"))
    return product


@pytest.fixture
def flour(contract, warehouses):
    """Flour sold by the kilogram at 2.00, 100 kg in stock."""
    product = ProductFactory(sku="FLOUR", unit=unit("KGM"), list_price=Decimal("2.50"))
    ContractPriceFactory(contract=contract, product=product, price=Decimal("2.00"))
    StockLevelFactory(product=product, warehouse=warehouses["FRA"], on_hand=Decimal("100"))
    return product


def test_dozen_converts_to_each(place, chair):
    # when
    order = place([line(quantity="2", unit="DZN", unit_price="1194.00")]).order

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    order_line = order.lines.get()
    assert order_line.quantity == Decimal("24")
    assert order_line.unit.code == "EA"
    assert order_line.unit_text == "DZN"
    assert order_line.ordered_quantity == Decimal("2")
    assert order_line.ordered_unit_price == Decimal("1194.00")
    assert order_line.unit_factor == Decimal("12")
    assert order_line.buyer_unit_price == Decimal("99.50")
    assert order_line.conversion == "2 DZN = 24 EA"
    assert order_line.quantity_allocated == Decimal("24")
    assert order.total == Decimal("2388.00")
    assert ExceptionCase.objects.count() == 0


def test_each_converts_to_boxes_by_pack_size(place, pens):
    # when
    order = place([line(sku="PEN-12", quantity="24", unit="EA", unit_price="1.00")]).order

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    order_line = order.lines.get()
    assert order_line.quantity == Decimal("2")
    assert order_line.unit.code == "XBX"
    assert order_line.buyer_unit_price == Decimal("12.0000")
    assert order_line.conversion == "24 EA = 2 XBX"
    assert StockLevel.objects.get(product=pens).reserved == Decimal("2")


def test_part_of_a_box_opens_unit_case(place, pens):
    # when
    order = place([line(sku="PEN-12", quantity="30", unit="EA", unit_price="1.00")]).order

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    case = ExceptionCase.objects.get(object_id=str(order.pk), kind="unit_of_measure")
    assert case.kind == "unit_of_measure"
    assert case.facts["reason"] == "30 EA is 2.5 XBX (12 items per XBX), and XBX is sold in whole numbers"
    order_line = order.lines.get()
    assert order_line.quantity == Decimal("30")
    assert order_line.unit_factor is None


def test_grams_convert_to_kilograms(place, flour):
    # when
    order = place([line(sku="FLOUR", quantity="2500", unit="GRM", unit_price="0.002")]).order

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    order_line = order.lines.get()
    assert order_line.quantity == Decimal("2.5")
    assert order_line.unit.code == "KGM"
    assert order_line.buyer_unit_price == Decimal("2.0000")
    assert order_line.conversion == "2500 GRM = 2.5 KGM"
    assert order.total == Decimal("5.00")


def test_pound_with_too_many_decimals_opens_case(place, flour):
    # when
    order = place([line(sku="FLOUR", quantity="1", unit="LBR", unit_price="0.90")]).order

    # then
    order.refresh_from_db()
    case = ExceptionCase.objects.get(object_id=str(order.pk), kind="unit_of_measure")
    assert case.kind == "unit_of_measure"
    assert case.facts["reason"] == (
        "1 LBR is 0.453592 KGM (UN/CEFACT Recommendation 20 factors), which has more than 3 decimals"
    )


def test_inconvertible_unit_opens_case(place, chair):
    # when
    order = place([line(unit="KGM")]).order

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    case = ExceptionCase.objects.get(object_id=str(order.pk))
    assert case.kind == "unit_of_measure"
    assert case.facts["unit_resolved"] == "KGM"
    assert case.facts["reason"] == "no conversion from KGM to EA is known"
    assert order.lines.get().unit.code == "KGM"


def test_converted_price_difference_opens_price_case(place, chair):
    # when
    order = place([line(quantity="1", unit="DZN", unit_price="1000.00")]).order

    # then
    case = ExceptionCase.objects.get(object_id=str(order.pk))
    assert case.kind == "price_mismatch"
    assert case.facts["buyer_price"] == "83.3333"
    assert case.facts["our_price"] == "99.5000"


@override_settings(ORDER_OUTBOX_SENDERS={"cxml": "apps.punchout.outbound"})
def test_confirmation_shows_conversion(place, chair, customer, django_capture_on_commit_callbacks):
    # given
    connection = BuyerConnectionFactory(customer=customer, from_identity="AN01000000001")
    source = connection_source(connection)

    with BuyerServer() as buyer:
        OutboundEndpoint.objects.create(source=source, url=buyer.url)

        # when
        with django_capture_on_commit_callbacks(execute=True):
            place([line(quantity="2", unit="DZN", unit_price="1194.00")], channel="cxml", source=source)

    # then
    (document,) = buyer.received
    validate_document(document)
    confirmation = parse_xml(document)
    assert confirmation.find(".//ConfirmationHeader").get("type") == "detail"
    item = confirmation.find(".//ConfirmationItem")
    assert item.get("quantity") == "2"
    assert item.findtext("UnitOfMeasure") == "DZN"
    status = item.find("ConfirmationStatus")
    assert status.get("type") == "detail"
    assert status.get("quantity") == "24"
    assert status.findtext("UnitOfMeasure") == "EA"
    assert status.findtext("UnitPrice/Money") == "99.50"
    assert status.findtext("Comments") == "Converted: 2 DZN = 24 EA."
