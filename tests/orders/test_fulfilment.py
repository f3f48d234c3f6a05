"""Shipments, invoices over one or several orders, payments, and the credit exposure they leave."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.exceptions.models import ExceptionCase
from apps.orders.credit import exposure_of
from apps.orders.errors import InvalidFulfilmentInput, OrderStateConflict, PaymentConflict, UnknownInvoice
from apps.orders.models import Invoice, InvoiceLine, OrderStatus, OutboxEvent, Payment
from apps.orders.services import invoice_record, payment_record, shipment_record
from tests.factories import CustomerFactory, OrderFactory

DUE = dt.date(2027, 1, 31)


def line(sku="CHAIR-1", quantity="2", unit_price="99.50", number="1"):
    return {"line_number": number, "sku": sku, "quantity": quantity, "unit_price": unit_price, "unit": "EA"}


@pytest.fixture
def shipped(place, chair):
    """Place and fully ship one order per PO number given; return the orders."""

    def _shipped(*po_numbers, quantity="2"):
        orders = []
        for po_number in po_numbers:
            order = place([line(quantity=quantity)], document_id=f"doc-{po_number}", po_number=po_number).order
            shipment_record(order=order, shipment_id=f"S-{po_number}", lines=[("1", quantity)])
            order.refresh_from_db()
            assert order.status == OrderStatus.SHIPPED
            orders.append(order)
        return orders

    return _shipped


def test_invoice_over_two_orders_invoices_both(shipped):
    # given
    first, second = shipped("PO-A", "PO-B")

    # when
    invoice = invoice_record(
        number="INV-7",
        lines=[(first.number, "1", "2"), (second.number, "1", "2")],
        tax="0",
        total="398.00",
        due_date=DUE,
    )

    # then
    assert invoice.customer_id == first.customer_id
    assert set(invoice.orders.values_list("number", flat=True)) == {first.number, second.number}
    assert invoice.subtotal == Decimal("398.00")
    assert list(InvoiceLine.objects.filter(invoice=invoice).values_list("amount", flat=True)) == [
        Decimal("199.00"),
        Decimal("199.00"),
    ]
    for order in (first, second):
        order.refresh_from_db()
        assert order.status == OrderStatus.INVOICED
        assert order.lines.get().quantity_invoiced == Decimal("2")
    events = OutboxEvent.objects.filter(event="order.invoiced")
    assert [event.payload["order_ids"] for event in events] == [[first.pk, second.pk]]


def test_partly_invoiced_order_stays_shipped(shipped):
    # given
    (order,) = shipped("PO-A", quantity="3")

    # when
    invoice_record(order=order, number="INV-1", lines=[("1", "1")], tax="0", due_date=DUE)

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    assert order.lines.get().quantity_invoiced == Decimal("1")

    # when
    invoice_record(order=order, number="INV-2", lines=[("1", "2")], tax="0", due_date=DUE)

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.INVOICED
    assert order.invoices.count() == 2


def test_invoice_number_again_changes_nothing(shipped):
    # given
    (order,) = shipped("PO-A")
    first = invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)

    # when
    again = invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)

    # then
    assert again.pk == first.pk
    assert Invoice.objects.count() == 1
    assert order.lines.get().quantity_invoiced == Decimal("2")


def test_invoice_beyond_shipped_quantity_is_rejected(place, chair):
    # given
    order = place([line(quantity="3")]).order
    shipment_record(order=order, shipment_id="S-1", lines=[("1", "1")])

    # when
    with pytest.raises(InvalidFulfilmentInput) as error:
        invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)

    # then
    assert error.value.message == (
        f"Line 1 of order {order.number} has 1.000 shipped and not invoiced; invoice INV-1 reports 2."
    )
    assert Invoice.objects.count() == 0


def test_invoice_with_wrong_total_is_rejected(shipped):
    # given
    (order,) = shipped("PO-A")

    # when
    with pytest.raises(InvalidFulfilmentInput) as error:
        invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="10.00", total="200.00", due_date=DUE)

    # then
    assert "states a total of 200.00 EUR, but its lines come to 199.00" in error.value.message
    assert Invoice.objects.count() == 0
    order.refresh_from_db()
    assert order.lines.get().quantity_invoiced == 0


def test_invoice_over_two_customers_is_rejected(shipped, chair):
    # given
    (order,) = shipped("PO-A")
    other = OrderFactory(customer=CustomerFactory(), status=OrderStatus.SHIPPED, currency="EUR")

    # when
    with pytest.raises(InvalidFulfilmentInput) as error:
        invoice_record(order=order, number="INV-1", lines=[("1", "2"), (other.number, "1", "1")], tax="0", due_date=DUE)

    # then
    assert "an invoice bills one customer" in error.value.message
    assert Invoice.objects.count() == 0


def test_invoice_of_unshipped_order_is_rejected(place, chair):
    # given
    order = place([line()]).order

    # when
    with pytest.raises(OrderStateConflict) as error:
        invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)

    # then
    assert error.value.message == f"Order {order.number} is allocated; invoice its lines once they have shipped."


def test_invoice_naming_unknown_order_is_rejected(shipped):
    # given
    (order,) = shipped("PO-A")

    # when
    with pytest.raises(InvalidFulfilmentInput) as error:
        invoice_record(order=order, number="INV-1", lines=[("SO-NOPE", "1", "1")], tax="0", due_date=DUE)

    # then
    assert error.value.message == "Invoice INV-1 names unknown orders SO-NOPE."


def test_partial_payments_then_order_paid(shipped):
    # given
    (order,) = shipped("PO-A")
    invoice = invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)

    # when
    payment_record(invoice=invoice, payment_id="P-1", amount="100.00", paid_on=dt.date(2026, 12, 1))

    # then
    invoice.refresh_from_db()
    order.refresh_from_db()
    assert invoice.paid_amount == Decimal("100.00")
    assert invoice.paid_at is None
    assert order.status == OrderStatus.INVOICED

    # when
    payment_record(invoice="INV-1", payment_id="P-2", amount="99.00")

    # then
    invoice.refresh_from_db()
    order.refresh_from_db()
    assert invoice.paid_amount == Decimal("199.00")
    assert invoice.paid_at is not None
    assert order.status == OrderStatus.PAID
    assert OutboxEvent.objects.filter(order=order, event="order.paid").count() == 1


def test_repeated_payment_report_counts_once(shipped):
    # given
    (order,) = shipped("PO-A")
    invoice = invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)
    first = payment_record(invoice=invoice, payment_id="P-1", amount="100.00")

    # when
    again = payment_record(invoice=invoice, payment_id="P-1", amount="100.00")

    # then
    assert again.pk == first.pk
    assert Payment.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.paid_amount == Decimal("100.00")
    assert invoice.history.count() == 2


def test_overpayment_kept_and_opens_finance_case(shipped):
    # given an invoice of 199.00 EUR, paid 150.00 EUR
    (order,) = shipped("PO-A")
    invoice = invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)
    payment_record(invoice=invoice, payment_id="P-1", amount="150.00")
    assert not ExceptionCase.objects.filter(reference="INV-1").exists()

    # when the ERP reports a second payment of 100.00 EUR
    payment_record(invoice="INV-1", payment_id="P-2", amount="100.00")

    # then the payment counts, the order is paid, and finance gets a case naming the excess
    invoice.refresh_from_db()
    order.refresh_from_db()
    assert invoice.paid_amount == Decimal("250.00")
    assert invoice.open_amount == Decimal("0")
    assert order.status == OrderStatus.PAID
    [case] = ExceptionCase.objects.filter(reference="INV-1")
    assert case.team.name == "finance"
    assert case.concerning == invoice
    assert case.facts["overpaid_by"] == "51.00"
    assert case.facts["payment_id"] == "P-2"
    assert case.summary == (
        "Payment P-2 took invoice INV-1 to 250.00 EUR paid against a total of 199.00; "
        "refund or credit the 51.00 EUR overpaid."
    )

    # when the same payment is reported again, no second case opens
    payment_record(invoice="INV-1", payment_id="P-2", amount="100.00")
    assert ExceptionCase.objects.filter(reference="INV-1").count() == 1


def test_invoice_and_payment_dated_in_future_rejected(shipped):
    (order,) = shipped("PO-A")
    next_month = timezone.now() + dt.timedelta(days=30)

    with pytest.raises(InvalidFulfilmentInput) as invoice_error:
        invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE, invoice_date=next_month)
    invoice = invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)
    with pytest.raises(InvalidFulfilmentInput) as payment_error:
        payment_record(invoice=invoice, payment_id="P-1", amount="199.00", paid_on=next_month.date())

    assert invoice_error.value.code == "date_in_future"
    assert invoice_error.value.message.startswith("Invoice INV-1: invoice_date ")
    assert payment_error.value.code == "date_in_future"
    assert payment_error.value.message == (
        f"Payment P-1: paid_on {next_month.date().isoformat()} is in the future; send the date on which it happened."
    )
    assert not Payment.objects.exists()


def test_payment_dated_tomorrow_accepted(shipped):
    (order,) = shipped("PO-A")
    invoice = invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)

    payment = payment_record(
        invoice=invoice, payment_id="P-1", amount="199.00", paid_on=timezone.localdate() + dt.timedelta(days=1)
    )

    assert payment.paid_on == timezone.localdate() + dt.timedelta(days=1)


def test_payment_id_with_other_amount_conflicts(shipped):
    # given
    (order,) = shipped("PO-A")
    invoice = invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)
    payment_record(invoice=invoice, payment_id="P-1", amount="100.00")

    # when
    with pytest.raises(PaymentConflict) as error:
        payment_record(invoice=invoice, payment_id="P-1", amount="150.00")

    # then
    assert error.value.message == (
        "Payment P-1 was recorded as 100.0000 EUR for invoice INV-1; a payment id names one payment, "
        "so send a new id for another payment."
    )
    invoice.refresh_from_db()
    assert invoice.paid_amount == Decimal("100.00")


def test_payment_for_unknown_invoice_is_rejected(db):
    # when
    with pytest.raises(UnknownInvoice) as error:
        payment_record(invoice="INV-404", payment_id="P-1", amount="1.00")

    # then
    assert error.value.status == 404
    assert error.value.message == "No invoice has the number 'INV-404'; record the invoice before its payments."


@pytest.mark.parametrize("amount", ["0", "-5", "1e2", "12,50"])
def test_payment_amount_must_be_plain_positive(shipped, amount):
    # given
    (order,) = shipped("PO-A")
    invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)

    # when
    with pytest.raises(InvalidFulfilmentInput) as error:
        payment_record(invoice="INV-1", payment_id="P-1", amount=amount)

    # then
    assert error.value.message.startswith("Payment P-1: the amount")
    assert Payment.objects.count() == 0


def test_paying_shared_invoice_pays_both_orders(shipped):
    # given
    first, second = shipped("PO-A", "PO-B")
    invoice_record(number="INV-7", lines=[(first.number, "1", "2"), (second.number, "1", "2")], tax="0", due_date=DUE)

    # when
    payment_record(invoice="INV-7", payment_id="P-1", amount="398.00")

    # then
    for order in (first, second):
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID


def test_exposure_counts_unpaid_invoice_rest(shipped, customer):
    # given
    (order,) = shipped("PO-A")
    invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)
    payment_record(invoice="INV-1", payment_id="P-1", amount="150.00")
    probe = OrderFactory(customer=customer, status=OrderStatus.RECEIVED, total=Decimal("0"))

    # when
    exposure = exposure_of(customer, excluding=probe)

    # then
    assert exposure == Decimal("49.00")


def test_exposure_counts_partly_invoiced_order_once(shipped, customer):
    # given
    (order,) = shipped("PO-A", quantity="3")
    invoice_record(order=order, number="INV-1", lines=[("1", "1")], tax="0", due_date=DUE)
    payment_record(invoice="INV-1", payment_id="P-1", amount="50.00")
    probe = OrderFactory(customer=customer, status=OrderStatus.RECEIVED, total=Decimal("0"))

    # when
    exposure = exposure_of(customer, excluding=probe)

    # then the uninvoiced 2 x 99.50 of the order and the 49.50 still open on the invoice
    assert exposure == Decimal("248.50")


def test_partly_paid_invoice_opens_credit_case(shipped, customer, place):
    # given
    (order,) = shipped("PO-A")
    invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=DUE)
    payment_record(invoice="INV-1", payment_id="P-1", amount="100.00")
    customer.credit_limit = Decimal("250.00")
    customer.save()

    # when
    new_order = place([line()], document_id="doc-2", po_number="PO-2").order

    # then 99.00 still open on the invoice plus 199.00 for the new order is over 250.00
    new_order.refresh_from_db()
    case = ExceptionCase.objects.get(object_id=str(new_order.pk))
    assert case.kind == "credit"
    assert case.facts["open_exposure"] == "99.00"
    assert new_order.status == OrderStatus.ON_HOLD
