import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from apps.catalog.models import StockLevel
from apps.exceptions.models import ExceptionCase
from apps.orders.errors import OrderActionNotPermitted, OrderStateConflict
from apps.orders.models import LineStatus, OrderStatus, OutboxEvent
from apps.orders.services import (
    invoice_record,
    order_cancel,
    order_transition,
    payment_record,
    shipment_record,
)
from tests.factories import UserFactory


def line(sku="CHAIR-1", quantity="2", unit_price="99.50", number="1"):
    return {"line_number": number, "sku": sku, "quantity": quantity, "unit_price": unit_price, "unit": "EA"}


def staff_with(*codenames):
    user = UserFactory(username="staff-" + "-".join(codenames or ("none",)))
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="orders", codename__in=codenames))
    return user


def test_cancel_without_permission_changes_nothing(place, chair):
    # given
    order = place([line()]).order
    user = staff_with()

    # when
    with pytest.raises(OrderActionNotPermitted) as error:
        order_cancel(order=order, actor=user)

    # then
    assert str(error.value) == f"{user.username} lacks the permission to have order {order.number} cancelled."
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert StockLevel.objects.get(product=chair, warehouse__code="FRA").reserved == Decimal("2")


def test_cancel_with_permission_releases_stock(place, chair):
    # given
    order = place([line()]).order
    user = staff_with("cancel_order")

    # when
    order_transition(order=order, name="cancel", actor=user, reason="buyer phoned")

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert StockLevel.objects.get(product=chair, warehouse__code="FRA").reserved == Decimal("0")
    assert order.history.first().history_user == user
    assert order.history.first().history_change_reason == "buyer phoned"
    assert OutboxEvent.objects.filter(order=order).values_list("event", flat=True).last() == "order.cancelled"


def test_confirm_from_wrong_state_is_refused(place, chair):
    # given
    order = place([line()]).order
    user = staff_with("confirm_order")

    # when
    with pytest.raises(OrderStateConflict) as error:
        order_transition(order=order, name="confirm", actor=user)

    # then
    assert str(error.value) == f"Order {order.number} is allocated; it cannot be confirmed now."


def test_confirm_with_open_case_is_refused(place, chair):
    # given
    order = place([line(unit_price="1.00")]).order
    user = staff_with("confirm_order")

    # when
    with pytest.raises(OrderStateConflict) as error:
        order_transition(order=order, name="confirm", actor=user)

    # then
    assert "has open blocking exception cases" in str(error.value)
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD


def test_update_replaces_image_and_cancels_missing_lines(place, chair, desk):
    # given
    first = place([line(), line(sku="DESK-1", quantity="1", unit_price="400.00", number="2")]).order

    # when
    result = place([line(quantity="4")], document_id="doc-2", operation="update", refers_to="doc-1", po_number="PO-1")

    # then
    assert result.status == 200
    order = result.order
    order.refresh_from_db()
    assert order.pk == first.pk
    assert order.status == OrderStatus.ALLOCATED
    assert order.payload_id == "doc-2"
    assert [(ln.line_number, ln.quantity, ln.status) for ln in order.lines.order_by("position")] == [
        ("1", Decimal("4.000"), LineStatus.OPEN),
        ("2", Decimal("1.000"), LineStatus.CANCELLED),
    ]
    assert StockLevel.objects.get(product=desk).reserved == 0
    assert sum(level.reserved for level in StockLevel.objects.filter(product=chair)) == Decimal("4")


def test_update_of_unknown_document_is_refused(place, chair):
    # when
    result = place([line()], operation="update", refers_to="never-sent")

    # then
    assert result.status == 400
    assert result.code == "unknown_order_document"
    assert result.message == "No order came from document 'never-sent'; check the payloadID in DocumentReference."


def test_delete_cancels_order(place, chair):
    # given
    place([line()])

    # when
    result = place([], document_id="doc-2", operation="delete", refers_to="doc-1")

    # then
    assert result.status == 200
    result.order.refresh_from_db()
    assert result.order.status == OrderStatus.CANCELLED


def test_delete_after_shipping_is_refused_with_case(place, chair):
    # given
    order = place([line()]).order
    shipment_record(order=order, shipment_id="S-1", lines=[("1", "2")], carrier="DHL", tracking_number="JD01")

    # when
    result = place([], document_id="doc-2", operation="delete", refers_to="doc-1")

    # then
    assert result.status == 409
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    case = ExceptionCase.objects.get(object_id=str(order.pk))
    assert case.kind == "integration_conflict"
    assert case.cause_key == "late_cancel"


def test_ship_invoice_pay_walks_the_states(place, chair):
    # given
    order = place([line(quantity="3")]).order

    # when
    shipment_record(order=order, shipment_id="S-1", lines=[("1", "1")], carrier="DHL", tracking_number="JD 01")
    order.refresh_from_db()
    partial_status = order.status
    shipment_record(order=order, shipment_id="S-2", lines=[("1", "2")])
    shipment_record(order=order, shipment_id="S-2", lines=[("1", "2")])
    invoice = invoice_record(order=order, number="INV-1", lines=[("1", "3")], tax="0", due_date=dt.date(2027, 1, 31))
    payment_record(invoice=invoice, payment_id="P-1", amount="298.50")

    # then
    order.refresh_from_db()
    assert partial_status == OrderStatus.PARTIALLY_SHIPPED
    assert order.status == OrderStatus.PAID
    assert invoice.total == Decimal("298.50")
    levels = {level.warehouse.code: level for level in StockLevel.objects.filter(product=chair)}
    assert levels["FRA"].on_hand == Decimal("17")
    assert levels["FRA"].reserved == Decimal("0")
    assert list(OutboxEvent.objects.filter(order=order).values_list("event", flat=True)) == [
        "order.confirmed",
        "order.shipped",
        "order.shipped",
        "order.invoiced",
        "order.paid",
    ]
