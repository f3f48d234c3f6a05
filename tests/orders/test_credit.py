"""Credit exposure: open orders not yet invoiced plus unpaid invoices, at intake and on finance's pages."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.catalog.imports.service import import_rows
from apps.catalog.models import ImportKind
from apps.contracts.models import Customer
from apps.exceptions.models import ExceptionCase
from apps.orders.credit import exposure_detail, exposure_of
from apps.orders.models import OrderStatus
from apps.orders.services import invoice_record, payment_record, shipment_record
from tests.factories import CustomerFactory, OrderFactory, UserFactory

DUE = dt.date(2027, 1, 31)


def line(quantity="2"):
    return {"line_number": "1", "sku": "CHAIR-1", "quantity": quantity, "unit_price": "99.50", "unit": "EA"}


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Serve admin pages without the collectstatic manifest, which tests do not build."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def history(place, chair, customer):
    """One allocated order (199.00), one invoiced and partly paid (398.00, 100.00 paid), one cancelled."""
    open_order = place([line()], document_id="doc-open", po_number="PO-OPEN").order
    billed = place([line("4")], document_id="doc-billed", po_number="PO-BILLED").order
    shipment_record(order=billed, shipment_id="S-1", lines=[("1", "4")])
    invoice_record(order=billed, number="INV-1", lines=[("1", "4")], tax="0", due_date=DUE)
    payment_record(invoice="INV-1", payment_id="P-1", amount="100.00")
    cancelled = OrderFactory(customer=customer, status=OrderStatus.CANCELLED, total=Decimal("5000"))
    OrderFactory(customer=customer, status=OrderStatus.RECEIVED, total=Decimal("7000"), is_test=True)
    OrderFactory(customer=CustomerFactory(), status=OrderStatus.RECEIVED, total=Decimal("9000"))
    return open_order, billed, cancelled


def test_exposure_open_orders_plus_unpaid_invoices(history, customer):
    exposure = exposure_detail(customer)

    assert exposure.open_orders == Decimal("199.00")
    assert exposure.unpaid_invoices == Decimal("298.00")
    assert exposure.total == Decimal("497.00")
    assert exposure.currency == "EUR"


def test_exposure_leaves_out_the_order_checked(history, customer):
    open_order, _billed, _cancelled = history

    assert exposure_of(customer, excluding=open_order) == Decimal("298.00")


def test_exposure_of_paid_up_customer_is_zero(history, customer):
    payment_record(invoice="INV-1", payment_id="P-2", amount="298.00")
    open_order, _billed, _cancelled = history
    shipment_record(order=open_order, shipment_id="S-2", lines=[("1", "2")])
    invoice_record(order=open_order, number="INV-2", lines=[("1", "2")], tax="0", due_date=DUE)
    payment_record(invoice="INV-2", payment_id="P-3", amount="199.00")

    assert exposure_detail(customer).total == Decimal("0.00")


def _currency_row(account, currency, updated_at):
    return {"account": account, "name": "Renamed", "currency": currency, "updated_at": updated_at.isoformat()}


def test_currency_change_with_exposure_rejected(history, customer):
    later = timezone.now() + dt.timedelta(minutes=1)

    job = import_rows(ImportKind.CUSTOMERS, [_currency_row(customer.account_number, "USD", later)])

    customer.refresh_from_db()
    assert (customer.currency, job.rejected_count, job.updated_count) == ("EUR", 1, 0)
    [error] = job.row_errors.all()
    assert (error.line, error.column, error.value) == (1, "currency", "USD")
    assert error.message == (
        f"Customer {customer.account_number} has 1 open order(s) and 1 unpaid invoice(s) in EUR; its currency "
        "can change to USD once they are paid or cancelled, because credit exposure has no exchange rates"
    )


def test_currency_change_without_exposure_applies(history, customer):
    other = CustomerFactory(currency="EUR")
    later = timezone.now() + dt.timedelta(minutes=1)
    rows = [_currency_row(other.account_number, "USD", later), _currency_row(customer.account_number, "EUR", later)]

    job = import_rows(ImportKind.CUSTOMERS, rows)

    other.refresh_from_db()
    customer.refresh_from_db()
    assert (job.rejected_count, job.updated_count) == (0, 2)
    assert other.currency == "USD"
    assert customer.name == "Renamed"


def test_stale_currency_change_left_to_stale_check(history, customer):
    Customer.objects.filter(pk=customer.pk).update(source_updated_at=timezone.now())
    earlier = timezone.now() - dt.timedelta(days=1)

    job = import_rows(ImportKind.CUSTOMERS, [_currency_row(customer.account_number, "USD", earlier)])

    assert (job.rejected_count, job.stale_count) == (0, 1)


def test_intake_credit_check_uses_exposure(history, customer, place):
    # given 497.00 exposure
    customer.credit_limit = Decimal("600.00")
    customer.save()

    # when 199.00 more would make 696.00
    order = place([line()], document_id="doc-new", po_number="PO-NEW").order

    # then
    case = ExceptionCase.objects.get(object_id=str(order.pk), kind="credit")
    assert case.facts["open_exposure"] == "497.00"
    assert case.facts["order_total"] == "199.00"


def test_credit_case_page_shows_current_exposure(client, history, customer, place):
    # given a credit case opened at 497.00 exposure
    customer.credit_limit = Decimal("600.00")
    customer.save()
    order = place([line()], document_id="doc-new", po_number="PO-NEW").order
    case = ExceptionCase.objects.get(object_id=str(order.pk), kind="credit")
    # and a payment since
    payment_record(invoice="INV-1", payment_id="P-2", amount="298.00")
    client.force_login(UserFactory(username="root", is_superuser=True))

    # when
    response = client.get(reverse("admin:exceptions_exceptioncase_change", args=[case.pk]))

    # then the stored facts keep 497.00 and "now" shows 199.00 with room left for the order
    assert response.status_code == 200
    page = response.content.decode()
    assert "Open orders not invoiced" in page
    assert "Unpaid invoices" in page
    assert "Room left" in page
    assert "202.00" in page
    assert "497.00" in page


def test_customer_admin_shows_exposure(client, history, customer):
    client.force_login(UserFactory(username="root", is_superuser=True))

    change = client.get(reverse("admin:contracts_customer_change", args=[customer.pk]))
    changelist = client.get(reverse("admin:contracts_customer_changelist"))

    assert change.status_code == 200
    assert "Open orders not invoiced" in change.content.decode()
    assert "497.00 EUR" in change.content.decode()
    assert changelist.status_code == 200
    assert "497.00 EUR" in changelist.content.decode()
