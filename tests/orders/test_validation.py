from decimal import Decimal

import pytest
from django.test import override_settings

from apps.catalog.models import StockLevel
from apps.exceptions.models import CaseKind, CaseState, ExceptionCase
from apps.exceptions.services import case_dismiss, case_resolve
from apps.orders import validation
from apps.orders.models import LineStatus, OrderStatus
from tests.factories import CustomerFactory, OrderFactory, UnitOfMeasureFactory, UserFactory


def line(sku="CHAIR-1", quantity="2", unit_price="99.50", number="1", unit="EA"):
    return {"line_number": number, "sku": sku, "quantity": quantity, "unit_price": unit_price, "unit": unit}


@pytest.fixture
def resolver(db):
    return UserFactory(username="resolver", is_superuser=True)


def only_case(order):
    cases = list(ExceptionCase.objects.filter(object_id=str(order.pk)))
    assert len(cases) == 1
    return cases[0]


def test_unknown_sku_holds_until_line_cancelled(place, chair, resolver):
    # given
    result = place([line(), line(sku="NOPE-9", number="2")])
    order = result.order
    order.refresh_from_db()
    case = only_case(order)

    # then
    assert order.status == OrderStatus.ON_HOLD
    assert case.kind == "unknown_product"
    assert case.cause_key == "line:2:product"
    assert case.facts["sku"] == "NOPE-9"

    # when
    case_resolve(case=case, action="cancel_line", note="not ours", actor=resolver)

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert order.lines.get(position=2).status == LineStatus.CANCELLED
    assert order.total == Decimal("199.00")


def test_price_difference_holds_until_buyer_price_accepted(place, chair, resolver):
    # given
    order = place([line(unit_price="90.00")]).order
    order.refresh_from_db()
    case = only_case(order)
    assert order.status == OrderStatus.ON_HOLD
    assert case.kind == "price_mismatch"
    assert case.facts["buyer_price"] == "90.00"
    assert case.facts["our_price"] == "99.5000"

    # when
    case_resolve(case=case, action="use_buyer_price", note="", actor=resolver)

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert order.lines.get().unit_price == Decimal("90.0000")
    assert order.total == Decimal("180.00")


@override_settings(ORDER_PRICE_TOLERANCE_PERCENT="2")
def test_price_within_tolerance_passes_at_buyer_price(place, chair):
    # when
    order = place([line(unit_price="98.00")]).order

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert order.lines.get().unit_price == Decimal("98.0000")


def test_unit_other_than_product_unit_opens_case(place, chair, resolver):
    # given
    UnitOfMeasureFactory(code="BX", name="box")

    # when
    order = place([line(unit="BX")]).order

    # then
    order.refresh_from_db()
    case = only_case(order)
    assert order.status == OrderStatus.ON_HOLD
    assert case.kind == "unit_of_measure"
    assert case.facts["unit_received"] == "BX"
    assert case.facts["product_unit"] == "EA"

    # when
    case_resolve(case=case, action="accept_product_unit", note="", actor=resolver)

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED


def test_short_stock_holds_until_backordered(place, chair, desk, resolver):
    # given
    order = place([line(), line(sku="DESK-1", quantity="5", unit_price="400.00", number="2")]).order
    order.refresh_from_db()
    case = only_case(order)
    assert order.status == OrderStatus.ON_HOLD
    assert case.kind == "out_of_stock"
    assert case.facts["needed"] == "5"
    assert case.facts["available"] == "3.000"

    # when
    case_resolve(case=case, action="backorder_line", note="", actor=resolver)

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert order.lines.get(position=2).status == LineStatus.BACKORDERED
    assert order.lines.get(position=2).quantity_allocated == 0
    assert StockLevel.objects.get(product=desk).reserved == 0


def test_credit_hold_holds_until_released(place, chair, customer, resolver):
    # given
    customer.credit_hold = True
    customer.save()

    # when
    order = place([line()]).order

    # then
    order.refresh_from_db()
    case = only_case(order)
    assert order.status == OrderStatus.ON_HOLD
    assert case.kind == "credit"
    assert case.cause_key == "order:credit_hold"

    # when
    case_resolve(case=case, action="release_credit_hold", note="paid up", actor=resolver)

    # then
    order.refresh_from_db()
    customer.refresh_from_db()
    assert customer.credit_hold is False
    assert order.status == OrderStatus.ALLOCATED


def test_exposure_counts_other_open_orders(place, chair, customer):
    # given
    OrderFactory(customer=customer, status=OrderStatus.CONFIRMED, total=Decimal("9900.00"))

    # when
    order = place([line()]).order

    # then
    order.refresh_from_db()
    case = only_case(order)
    assert case.kind == "credit"
    assert case.facts["open_exposure"] == "9900.00"
    assert case.facts["order_total"] == "199.00"
    assert order.status == OrderStatus.ON_HOLD


def test_dismissing_last_case_also_moves_order_on(place, chair, resolver):
    # given
    order = place([line(unit_price="90.00")]).order
    case = only_case(order)

    # when
    case_dismiss(case=case, reason="agreed by phone", actor=resolver)

    # then
    order.refresh_from_db()
    assert case.__class__.objects.get(pk=case.pk).state == CaseState.DISMISSED
    assert order.status == OrderStatus.ALLOCATED


def test_po_reused_with_other_content_opens_duplicate_case(place, chair):
    # given
    first = place([line()]).order

    # when
    second = place([line(quantity="3")], document_id="doc-2")

    # then
    assert second.status == 409
    case = only_case(first)
    assert case.kind == "duplicate_order"
    assert case.facts["document_id"] == "doc-2"


def test_test_orders_keep_po_numbers_apart(place, chair):
    # given
    place([line()], is_test=True)

    # when
    result = place([line()], document_id="doc-2")

    # then
    assert result.status == 200
    result.order.refresh_from_db()
    assert result.order.status == OrderStatus.ALLOCATED


def test_other_customer_may_use_same_po(place, chair, contract):
    # given
    place([line()])
    other = CustomerFactory(account_number="OTHER-1")

    # when
    result = place([line()], document_id="doc-2", customer=other)

    # then
    assert result.status == 200


def test_pending_cases_of_same_cause_open_once(customer):
    # given: checks of an unsaved order that found the same cause twice
    order = OrderFactory.build(customer=customer, po_number="PO-PENDING-1")
    for summary in ("first finding", "second finding"):
        validation._open(order, CaseKind.TAX_MISMATCH, check="tax", summary=summary, facts={})
    order.save()

    # when
    cases = validation.open_pending_cases(order)

    # then
    assert len(cases) == 2
    assert cases[0].pk == cases[1].pk
    assert ExceptionCase.objects.filter(object_id=str(order.pk)).count() == 1
