"""Orders, quotes and invoices taxed by the one tax service, and the order's tax checks."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings

from apps.exceptions.models import ExceptionCase
from apps.exceptions.services import case_resolve
from apps.orders.models import OrderStatus
from apps.orders.services import invoice_record, shipment_record
from apps.quotes.pricing import LineRequest
from apps.quotes.services import quote_create
from apps.tax.models import TaxClass, TaxExemption, TaxRate
from tests.factories import ContractPriceFactory, ProductFactory, StockLevelFactory, UserFactory


def line(sku="CHAIR-1", quantity="2", unit_price="99.50", number="1"):
    return {"line_number": number, "sku": sku, "quantity": quantity, "unit_price": unit_price, "unit": "EA"}


NL_ADDRESS = {"country_code": "NL", "city": "Utrecht"}


@pytest.fixture
def standard(db):
    return TaxClass.objects.create(code="standard", name="Standard", is_default=True)


@pytest.fixture
def reduced(db):
    return TaxClass.objects.create(code="reduced", name="Reduced")


@pytest.fixture
def nl_rates(standard, reduced):
    for tax_class, percent in ((standard, "21"), (reduced, "9")):
        TaxRate.objects.create(
            country="NL", tax_class=tax_class, rate_percent=Decimal(percent), valid_from=dt.date(2020, 1, 1)
        )


@pytest.fixture
def book(contract, warehouses, reduced):
    product = ProductFactory(sku="BOOK-1", name="Manual", list_price=Decimal("12.35"), tax_class=reduced)
    StockLevelFactory(product=product, warehouse=warehouses["RTM"], on_hand=Decimal("100"))
    return product


def cases_of(order):
    return list(ExceptionCase.objects.filter(object_id=str(order.pk)).order_by("pk"))


def test_order_taxed_per_line_at_ship_to(place, chair, book, nl_rates):
    # when: 2 x 99.50 at 21% and 3 x 12.35 at 9%
    order = place([line(), line(sku="BOOK-1", quantity="3", unit_price="12.35", number="2")], ship_to=NL_ADDRESS).order

    # then 41.79 + 3.33 (37.05 x 9% = 3.3345)
    order.refresh_from_db()
    assert order.subtotal == Decimal("236.05")
    assert order.tax_total == Decimal("45.12")
    assert order.total == Decimal("281.17")
    assert order.status == OrderStatus.ALLOCATED


def test_order_without_ship_to_uses_customer_default(place, customer, chair, nl_rates):
    # given
    customer.ship_to_country = "NL"
    customer.save()

    # when
    order = place([line()]).order

    # then
    order.refresh_from_db()
    assert order.tax_total == Decimal("41.79")


def test_exempt_customer_order_has_no_tax(place, customer, chair, nl_rates):
    # given
    customer.tax_exempt = True
    customer.save()
    TaxExemption.objects.create(
        customer=customer, certificate_number="NL-EX-7", valid_from=dt.date(2020, 1, 1), expires_on=dt.date(2099, 1, 1)
    )

    # when
    order = place([line()], ship_to=NL_ADDRESS, tax="0.00").order

    # then
    order.refresh_from_db()
    assert order.tax_total == Decimal("0.00")
    assert cases_of(order) == []


def test_expired_exemption_order_is_taxed(place, customer, chair, nl_rates):
    # given
    customer.tax_exempt = True
    customer.save()
    TaxExemption.objects.create(
        customer=customer, certificate_number="NL-EX-7", valid_from=dt.date(2020, 1, 1), expires_on=dt.date(2021, 1, 1)
    )

    # when the buyer still claims the exemption
    order = place([line()], ship_to=NL_ADDRESS, tax="0.00").order

    # then
    order.refresh_from_db()
    (case,) = cases_of(order)
    assert order.tax_total == Decimal("41.79")
    assert case.kind == "tax_mismatch"
    assert case.facts["buyer_tax"] == "0.00"
    assert case.facts["our_tax"] == "41.79"
    assert order.status == OrderStatus.ON_HOLD


def test_buyer_tax_differing_from_ours_opens_case(place, chair, nl_rates):
    # when
    order = place([line()], ship_to=NL_ADDRESS, tax="30.00").order

    # then
    order.refresh_from_db()
    (case,) = cases_of(order)
    assert case.kind == "tax_mismatch"
    assert case.facts["our_tax"] == "41.79"
    assert case.facts["ship_to"] == "NL"
    assert order.tax_total == Decimal("41.79")
    assert order.status == OrderStatus.ON_HOLD


def test_buyer_tax_within_tolerance_passes(place, chair, nl_rates):
    # when the buyer is one cent off, the default tolerance
    order = place([line()], ship_to=NL_ADDRESS, tax="41.80").order

    # then
    order.refresh_from_db()
    assert cases_of(order) == []
    assert order.status == OrderStatus.ALLOCATED


@override_settings(ORDER_TAX_TOLERANCE_MINOR_UNITS=0)
def test_tax_tolerance_comes_from_settings(place, chair, nl_rates):
    # when
    order = place([line()], ship_to=NL_ADDRESS, tax="41.80").order

    # then
    (case,) = cases_of(order)
    assert case.facts["tolerance"] == "0.00"


def test_missing_rate_opens_case_until_added(place, chair, contract, warehouses, nl_rates):
    # given a product in a class that has no Dutch rate yet
    digital = TaxClass.objects.create(code="digital", name="Digital services")
    chair.tax_class = digital
    chair.save()
    order = place([line()], ship_to=NL_ADDRESS).order
    (case,) = cases_of(order)
    assert case.kind == "tax_mismatch"
    assert case.facts["reason"] == "no_tax_rate"
    assert case.facts["tax_classes"] == ["digital"]
    assert case.facts["line_positions"] == [1]
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    assert order.tax_total == Decimal("0.00")

    # when finance adds the rate and closes the case
    TaxRate.objects.create(country="NL", tax_class=digital, rate_percent=Decimal("21"), valid_from=dt.date(2020, 1, 1))
    case_resolve(case=case, action="keep_our_tax", note="rate added", actor=UserFactory(is_superuser=True))

    # then the order is taxed again at the new rate and moves on
    order.refresh_from_db()
    assert order.tax_total == Decimal("41.79")
    assert order.status == OrderStatus.ALLOCATED


def test_country_outside_table_taxes_zero_without_case(place, chair, nl_rates):
    # when
    order = place([line()], ship_to={"country_code": "CH"}).order

    # then
    order.refresh_from_db()
    assert order.tax_total == Decimal("0.00")
    assert cases_of(order) == []


def test_quote_taxed_at_customer_default(customer, contract, chair, book, nl_rates):
    # given
    customer.ship_to_country = "NL"
    customer.save()
    ContractPriceFactory(contract=contract, product=book, price=Decimal("12.35"))

    # when
    quote = quote_create(
        actor=None,
        sales_person=UserFactory(),
        customer=customer,
        lines=[LineRequest(product=chair, quantity="2"), LineRequest(product=book, quantity="3")],
    )

    # then the same line rounding as orders: 41.79 + 3.33
    assert quote.total == Decimal("236.05")
    assert quote.tax_total == Decimal("45.12")


def test_invoice_without_tax_gets_ours(place, chair, book, nl_rates):
    # given
    order = place([line(), line(sku="BOOK-1", quantity="3", unit_price="12.35", number="2")], ship_to=NL_ADDRESS).order
    shipment_record(order=order, shipment_id="S-1", lines=[("1", "2"), ("2", "3")])

    # when the ERP sends no tax
    invoice = invoice_record(
        order=order, number="INV-1", lines=[("1", "2"), ("2", "1")], tax=None, due_date=dt.date(2027, 1, 31)
    )

    # then 199.00 x 21% = 41.79 and 12.35 x 9% = 1.1115, rounded to 1.11
    assert invoice.subtotal == Decimal("211.35")
    assert invoice.tax == Decimal("42.90")
    assert invoice.total == Decimal("254.25")
