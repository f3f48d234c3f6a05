from decimal import Decimal

import pytest

from apps.exceptions.models import ExceptionCase
from apps.orders.models import InboundDocument, Order, OrderStatus


def line(sku="CHAIR-1", quantity="2", unit_price="99.50", number="1", unit="EA"):
    return {"line_number": number, "sku": sku, "quantity": quantity, "unit_price": unit_price, "unit": unit}


def test_clean_order_is_confirmed_and_allocated(place, chair):
    # when
    result = place([line()])

    # then
    assert result.status == 200
    order = result.order
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert order.total == Decimal("199.00")
    assert order.warehouse.code == "FRA"
    assert ExceptionCase.objects.count() == 0


def test_same_document_twice_makes_one_order(place, chair):
    # given
    first = place([line()])

    # when
    second = place([line()])

    # then
    assert second.replayed is True
    assert second.order.pk == first.order.pk
    assert Order.objects.count() == 1
    assert InboundDocument.objects.count() == 1


def test_po_number_reuse_is_refused_with_update_hint(place, chair):
    # given
    first = place([line()])

    # when
    second = place([line()], document_id="doc-2")

    # then
    assert second.status == 409
    assert second.code == "duplicate_po_number"
    assert "send an OrderRequest of type update" in second.message
    assert Order.objects.count() == 1
    assert ExceptionCase.objects.count() == 0
    first.order.refresh_from_db()
    assert first.order.status == OrderStatus.ALLOCATED


@pytest.mark.parametrize(
    ("quantity", "reason"),
    [
        ("1e3", "Line 1: the quantity '1e3' uses scientific notation; write it out, such as 1000 for 1e3."),
        ("2,5", "Line 1: the quantity '2,5' uses a decimal comma; use a decimal point, such as 2.50."),
        ("0", "Line 1: the quantity '0' is not greater than zero."),
    ],
)
def test_bad_quantity_is_refused_with_line_reason(place, chair, quantity, reason):
    # when
    result = place([line(quantity=quantity)])

    # then
    assert result.status == 400
    assert result.reasons == [reason]
    assert result.order.status == OrderStatus.REJECTED
    assert result.order.lines.count() == 0


def test_yen_amount_with_decimals_is_refused(place, chair):
    # when
    result = place([line(unit_price="100.5")], currency="JPY")

    # then
    assert result.status == 400
    assert result.reasons == ["Line 1: the unit price '100.5' has more decimals than JPY allows (no decimals)."]
