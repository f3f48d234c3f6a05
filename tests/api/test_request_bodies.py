"""Request bodies the JSON parser must reject with a 400 before any view reads them."""

import pytest

from apps.orders.models import Payment

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_deeply_nested_body_is_parse_error(api, allocated_order, erp_writer_key, depth):
    body = "[" * depth + "]" * depth

    response = api.post(
        "/api/v1/invoices/INV-1/payments/",
        data=body.encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {erp_writer_key}",
    )

    assert response.status_code == 400, response.content[:200]
    assert response.json()["code"] == "parse_error"
    assert "nest" in response.json()["detail"]
    assert not Payment.objects.exists()
