"""The demo keys end to end: a client that knows only /api/schema/ lists prices, orders and gets the webhook."""

import json
import time

import pytest
import requests
from django.core.management import call_command

from apps.api.keys import find_key
from apps.api.models import ApiKey
from apps.orders.models import Order
from apps.orders.services import shipment_record
from tests.api.receiver import WebhookReceiver
from tests.api.test_webhooks import verify_signature

ACME_KEY = "demo-partner-key-acme"
GLOBEX_KEY = "demo-partner-key-globex"
ERP_KEY = "demo-erp-key"


@pytest.fixture
def _fast_password_hasher(settings):
    # The seeding sets four staff passwords; PBKDF2 takes a quarter second per hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class SchemaClient:
    """A client that finds each operation's method and path by its operationId in the OpenAPI document."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        schema = requests.get(f"{base_url}/api/schema/?format=json", timeout=30).json()
        self.operations = {
            operation["operationId"]: (method.upper(), path)
            for path, methods in schema["paths"].items()
            for method, operation in methods.items()
        }

    def call(self, operation_id: str, *, path_values=None, **kwargs) -> requests.Response:
        method, path = self.operations[operation_id]
        return self.session.request(method, self.base_url + path.format(**(path_values or {})), timeout=30, **kwargs)


@pytest.mark.django_db(transaction=True)
def test_demo_key_orders_and_receives_webhook(live_server, settings, _fast_password_hasher):
    # given
    settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    call_command("seed_demo", verbosity=0)
    client = SchemaClient(live_server.url, ACME_KEY)

    with WebhookReceiver() as receiver:
        subscription = client.call("webhooks_create", json={"url": receiver.url, "events": ["order.shipped"]}).json()

        # when: list products with ACME's prices, order one, and send the same order again
        products = client.call("products_list", params={"search": "NB-0001"}).json()["results"]
        order_body = {"po_number": "DEMO-API-1", "lines": [{"sku": "NB-0001", "quantity": "2"}]}
        placed = client.call("orders_create", json=order_body, headers={"Idempotency-Key": "demo-api-1"})
        replayed = client.call("orders_create", json=order_body, headers={"Idempotency-Key": "demo-api-1"})
        order = Order.objects.get(number=placed.json()["number"])
        shipment_record(order=order, shipment_id="DEMO-SHIP-1", lines=[("1", "2")], tracking_number="1Z999")
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)

    # then
    assert products[0]["sku"] == "NB-0001"
    assert products[0]["price"] == "790.38"
    assert products[0]["price_source"] == "contract_price"
    assert placed.status_code == 201
    assert replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["number"] == placed.json()["number"]
    assert Order.objects.filter(po_number="DEMO-API-1").count() == 1
    headers, body = receiver.received[0]
    assert verify_signature(subscription["secret"], headers["X-Signature"], body)
    assert json.loads(body)["data"]["shipment"]["tracking_number"] == "1Z999"


@pytest.mark.django_db
def test_demo_keys_seeded_as_documented(api, _fast_password_hasher):
    # when
    call_command("seed_demo", verbosity=0)
    keys_before = list(ApiKey.objects.order_by("id").values("id", "key_hash", "updated_at"))
    call_command("seed_demo", verbosity=0)

    # then
    acme = find_key(ACME_KEY).partner
    erp = find_key(ERP_KEY).partner
    assert list(acme.customers.values_list("account_number", flat=True)) == ["ACME-001"]
    assert erp.all_customers is True
    assert sorted(ApiKey.objects.get(partner=erp).scopes) == ["catalog:read", "crm:write", "erp:write", "orders:read"]
    assert list(ApiKey.objects.order_by("id").values("id", "key_hash", "updated_at")) == keys_before
    assert api.call("GET", "/api/v1/products/?search=NB-0001", GLOBEX_KEY).json()["results"][0]["price_source"] == (
        "contract_discount"
    )
    assert api.call("GET", "/api/v1/orders/?customer=ACME-001", ERP_KEY).status_code == 200
    assert api.call("POST", "/api/v1/orders/", ERP_KEY, {"po_number": "X", "lines": []}).status_code == 403
