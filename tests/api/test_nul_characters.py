"""A NUL character anywhere in a partner API request is a 400 that names the field, never a 500.

PostgreSQL text and jsonb cannot hold NUL, so on PostgreSQL a NUL that
reached a query raised DataError. Each write endpoint gets a valid body, and
then, for every string in it (values and keys, nested ones included), the
same body with a NUL in that one string. JSON clients send NUL as the escape
``\\u0000``; a raw NUL byte inside a JSON string is invalid JSON and gets a
400 as well.
"""

import json
import re

import pytest

from apps.api.models import Scope
from apps.orders.models import Order
from apps.quotes.models import Quote
from apps.quotes.services import quote_send, quote_submit
from tests.factories import CategoryFactory, UnitOfMeasureFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

STAMP = "2026-03-01T08:00:00Z"

ORDER = {
    "customer": "ACME-001",
    "po_number": "PO-NUL",
    "lines": [
        {
            "line_number": "1",
            "sku": "CHAIR-1",
            "quantity": "2",
            "unit": "EA",
            "unit_price": "99.50",
            "description": "Desk chair",
        }
    ],
    "ship_to": {
        "name": "Acme",
        "street": "Main Street 1",
        "city": "Rotterdam",
        "postal_code": "3011",
        "country": "NL",
        "address_id": "RTM-1",
    },
    "requested_delivery_date": "2026-12-20",
    "comments": "Leave at the gate",
}
QUOTE = {
    "customer": "ACME-001",
    "lines": [{"sku": "CHAIR-1", "quantity": "2"}],
    "contact_name": "Ann Buyer",
    "contact_email": "ann@acme.example",
    "notes": "Q1 refit",
    "crm_opportunity": "OPP-1",
}
PRICES = {"customer": "ACME-001", "on_date": "2026-12-01", "lines": [{"sku": "CHAIR-1", "quantity": "2"}]}
CATALOG_PUSH = {
    "rows": [
        {
            "sku": "NUL-1",
            "name": "Product",
            "category_code": "FURNITURE",
            "uom": "EA",
            "list_price": "10.00",
            "currency": "EUR",
            "updated_at": STAMP,
        }
    ],
    "dry_run": False,
}
STOCK_PUSH = {"rows": [{"sku": "CHAIR-1", "warehouse": "FRA", "on_hand": "5", "as_of": STAMP}]}
WEBHOOK = {"url": "https://hooks.acme.example/orders", "events": ["order.created"], "description": "Orders"}


def string_paths(value, path=()):
    """Yield the path of every string in a JSON value, and of every object key (with ``key`` as the last step)."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key, "key")
            yield from string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_paths(item, (*path, index))


def with_nul(body, path):
    """Return a deep copy of ``body`` with a NUL in the middle of the string or key at ``path``."""
    body = json.loads(json.dumps(body))
    *parents, last = path
    container = body
    if last == "key":
        *parents, last = parents
    for step in parents:
        container = container[step]
    if path[-1] == "key":
        container[f"{last[:1]}\x00{last[1:]}"] = container.pop(last)
    else:
        container[last] = f"{container[last][:1]}\x00{container[last][1:]}"
    return body


def field_name(path) -> str:
    """The dotted field name the API reports, such as ``lines.0.sku``."""
    return ".".join(str(step) for step in path if step != "key")


@pytest.fixture
def sent_quote(api, catalog, acme_key, sales):
    number = api.call("POST", "/api/v1/quotes/", acme_key, {"lines": [{"sku": "CHAIR-1", "quantity": "1"}]})
    quote = Quote.objects.get(number=number.json()["number"])
    quote_send(quote=quote_submit(quote=quote, actor=sales), actor=sales, email=False)
    return quote.number


@pytest.fixture
def erp_key(make_key):
    CategoryFactory(code="FURNITURE")
    UnitOfMeasureFactory(code="EA")
    return make_key(all_customers=True, scopes=[Scope.ERP_WRITE, Scope.CATALOG_READ])


def assert_every_string_rejected(api, key, path, body) -> None:
    for string_path in string_paths(body):
        name = field_name(string_path) or "body"
        response = api.call("POST", path, key, with_nul(body, string_path))

        assert response.status_code == 400, (name, response.status_code, response.content[:300])
        answer = response.json()
        assert answer["code"] == "invalid", name
        assert "NUL character" in answer["detail"], name
        assert list(answer["fields"]) == [name], answer


def test_order_create_rejects_nul_in_every_field(api, catalog, acme_key):
    assert_every_string_rejected(api, acme_key, "/api/v1/orders/", ORDER)

    assert not Order.objects.exists()


def test_order_cancel_rejects_nul(api, catalog, acme_key):
    number = api.call("POST", "/api/v1/orders/", acme_key, {**ORDER, "po_number": "PO-CANCEL"}).json()["number"]

    assert_every_string_rejected(api, acme_key, f"/api/v1/orders/{number}/cancel/", {"reason": "Ordered twice"})


def test_quote_request_rejects_nul_in_every_field(api, catalog, acme_key, sales):
    body = {**QUOTE, "lines": [{**QUOTE["lines"][0], "configuration": {"RAM-32": 1}}]}

    assert_every_string_rejected(api, acme_key, "/api/v1/quotes/", body)

    assert not Quote.objects.exists()


def test_quote_accept_and_decline_reject_nul(api, sent_quote, acme_key):
    assert_every_string_rejected(
        api, acme_key, f"/api/v1/quotes/{sent_quote}/accept/", {"po_number": "PO-Q", "create_order": True}
    )
    assert_every_string_rejected(api, acme_key, f"/api/v1/quotes/{sent_quote}/decline/", {"reason": "Too dear"})


def test_price_request_rejects_nul_in_every_field(api, catalog, acme_key):
    assert_every_string_rejected(api, acme_key, "/api/v1/prices/", PRICES)


def test_erp_pushes_reject_nul_in_every_field(api, catalog, erp_key):
    assert_every_string_rejected(api, erp_key, "/api/v1/catalog/updates/", CATALOG_PUSH)
    assert_every_string_rejected(api, erp_key, "/api/v1/stock/updates/", STOCK_PUSH)


def test_webhook_create_rejects_nul_in_every_field(api, acme_key):
    assert_every_string_rejected(api, acme_key, "/api/v1/webhooks/", WEBHOOK)


@pytest.mark.parametrize("path", ["/api/v1/orders/", "/api/v1/quotes/", "/api/v1/catalog/updates/"])
def test_raw_nul_byte_is_invalid_json(api, catalog, make_key, path):
    key = make_key(all_customers=True)
    body = b'{"po_number": "PO-\x00", "rows": [], "lines": []}'

    response = api.post(path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize(
    "path",
    ["/api/v1/orders/PO%00X/", "/api/v1/orders/PO%00X/cancel/", "/api/v1/products/CH%00AIR/", "/api/v1/quotes/Q%00/"],
)
def test_nul_in_url_path_is_400(api, catalog, acme_key, path):
    method = "POST" if path.endswith("cancel/") else "GET"

    response = api.call(method, path, acme_key, {} if method == "POST" else None)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_character"
    assert "URL path" in response.json()["detail"]


def test_nul_in_query_parameter_is_400(api, catalog, acme_key):
    response = api.call("GET", "/api/v1/orders/?po_number=PO%00", acme_key)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_character"
    assert "'po_number'" in response.json()["detail"]


def write_routes():
    """Every URL pattern of the API whose view accepts POST; a new endpoint is checked without editing this test."""
    from apps.api import urls

    for pattern in urls.urlpatterns:
        view_class = getattr(pattern.callback, "view_class", None)
        if view_class is not None and hasattr(view_class, "post"):
            yield pattern


@pytest.mark.parametrize("route", list(write_routes()), ids=lambda route: route.name)
def test_every_write_endpoint_rejects_nul(api, catalog, make_key, route):
    key = make_key(all_customers=True)
    path = "/api/" + re.sub(r"<(?:\w+:)?\w+>", "NUL-TEST", str(route.pattern))
    body = {"reference": "REF-1", "rows": [{"sku": "CHAIR-1", "note": "before\x00after"}]}

    response = api.call("POST", path, key, body)

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()["fields"]) == ["rows.0.note"]
