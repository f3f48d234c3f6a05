"""ERP messages with numbers sent as JSON numbers: a sign or an exponent is a 400 naming the value."""

import pytest

from apps.orders.models import ErpOrderReport, Invoice, Order
from tests.api.test_erp_orders import SHIPMENT

pytestmark = pytest.mark.django_db


def post_text(api, path: str, key: str, text: str):
    return api.post(path, data=text.encode(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")


def test_acknowledgement_negative_total_rejected(api, allocated_order, erp_writer_key):
    body = '{"erp_reference": "E-1", "total": -5.00}'

    response = post_text(api, f"/api/v1/orders/{allocated_order.number}/erp-ack/", erp_writer_key, body)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_fulfilment"
    assert "-5.00" in response.json()["detail"]
    assert Order.objects.get(pk=allocated_order.pk).erp_reference == ""
    assert not ErpOrderReport.objects.exists()


def test_invoice_negative_tax_rejected(api, allocated_order, erp_writer_key):
    shipped = {**SHIPMENT, "lines": [{"line_number": "1", "quantity": "2"}]}
    shipment = api.call("POST", f"/api/v1/orders/{allocated_order.number}/shipments/", erp_writer_key, shipped)
    assert shipment.status_code == 201
    # CHAIR-1 costs 99.50, so two come to 199.00; 189.00 is that minus the negative tax.
    body = (
        '{"invoice_number": "INV-NEG", "lines": [{"line_number": "1", "quantity": "2"}], '
        '"tax": -10.00, "total": 189.00, "due_date": "2027-01-31"}'
    )

    response = post_text(api, f"/api/v1/orders/{allocated_order.number}/invoices/", erp_writer_key, body)

    assert response.status_code == 400, response.content
    assert "-10.00" in response.json()["detail"]
    assert not Invoice.objects.exists()


@pytest.mark.parametrize("number", ["1E+0", "1e0", "0.1e1"])
def test_shipment_quantity_in_exponent_notation_rejected(api, allocated_order, erp_writer_key, number):
    body = '{"shipment_id": "SHP-E", "lines": [{"line_number": "1", "quantity": NUMBER}]}'.replace("NUMBER", number)

    response = post_text(api, f"/api/v1/orders/{allocated_order.number}/shipments/", erp_writer_key, body)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "parse_error"
    assert number in response.json()["detail"]
    assert not allocated_order.shipments.exists()
