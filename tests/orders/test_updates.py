"""A buyer's update replaces the order image: stale cases are dismissed, the checks run again, the order moves on."""

from decimal import Decimal

from apps.exceptions.models import CaseState, ExceptionCase
from apps.orders.models import LineStatus, OrderStatus
from tests.factories import OrderFactory


def line(sku="CHAIR-1", quantity="2", unit_price="99.50", number="1"):
    return {"line_number": number, "sku": sku, "quantity": quantity, "unit_price": unit_price, "unit": "EA"}


def update(place, lines, document_id="doc-2"):
    return place(lines, document_id=document_id, operation="update", refers_to="doc-1", po_number="PO-1")


def cases_of(order):
    return {case.cause_key: case for case in ExceptionCase.objects.filter(object_id=str(order.pk))}


def test_removed_line_case_is_dismissed_and_order_allocated(place, chair):
    # given an order held by an unknown SKU on line 2
    order = place([line(), line(sku="NOPE-9", number="2")]).order
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD

    # when the buyer sends the order again without line 2
    result = update(place, [line()])

    # then
    assert result.status == 200
    case = cases_of(order)["line:2:product"]
    assert case.state == CaseState.DISMISSED
    assert case.resolved_by is None
    assert case.resolution_note == "Superseded by the buyer's update doc-2: the line is no longer in the order."
    assert case.history.first().history_change_reason.startswith("Superseded: Superseded by the buyer's update")
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert order.lines.get(position=2).status == LineStatus.CANCELLED


def test_fixed_price_case_is_dismissed(place, chair):
    # given an order held by a price the contract does not give
    order = place([line(unit_price="90.00")]).order

    # when the update sends the contract price
    update(place, [line(unit_price="99.50")])

    # then
    case = cases_of(order)["line:1:price"]
    assert case.state == CaseState.DISMISSED
    assert case.resolution_note == (
        "Superseded by the buyer's update doc-2: the checks on the changed order no longer find this problem."
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert order.total == Decimal("199.00")


def test_problem_still_present_keeps_its_case(place, chair):
    # given
    order = place([line(unit_price="90.00")]).order
    first_case = cases_of(order)["line:1:price"]

    # when the update changes the quantity but keeps the wrong price
    update(place, [line(quantity="3", unit_price="90.00")])

    # then
    case = cases_of(order)["line:1:price"]
    assert case.pk == first_case.pk
    assert case.state == CaseState.OPEN
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    assert order.lines.get().quantity == Decimal("3")


def test_one_fixed_one_remaining_keeps_order_held(place, chair):
    # given a wrong price on line 1 and an unknown SKU on line 2
    order = place([line(unit_price="90.00"), line(sku="NOPE-9", number="2")]).order

    # when the update fixes the price only
    update(place, [line(), line(sku="NOPE-9", number="2")])

    # then
    cases = cases_of(order)
    assert cases["line:1:price"].state == CaseState.DISMISSED
    assert cases["line:2:product"].state == CaseState.OPEN
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD


def test_credit_case_dismissed_when_update_fits_limit(place, chair, customer):
    # given other open orders use most of the credit limit
    OrderFactory(customer=customer, status=OrderStatus.CONFIRMED, total=Decimal("9700.00"))
    order = place([line(quantity="4")]).order
    assert cases_of(order)["order:credit_limit"].state == CaseState.OPEN

    # when the update orders fewer
    update(place, [line(quantity="2")])

    # then
    assert cases_of(order)["order:credit_limit"].state == CaseState.DISMISSED
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED


def test_case_of_new_problem_opens_on_update(place, chair):
    # given a clean order
    order = place([line()]).order

    # when the update adds an unknown SKU
    update(place, [line(), line(sku="NOPE-9", number="2")])

    # then
    assert cases_of(order)["line:2:product"].state == CaseState.OPEN
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
