"""Keys, scopes and tenancy on every endpoint: another partner's key gets 404, a key without the scope 403."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.api.keys import api_key_revoke
from apps.api.models import ApiKey, Scope, WebhookSubscription
from apps.catalog.models import ImportJob
from apps.orders.models import Order, OrderStatus
from tests.api.conftest import ALL_SCOPES
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_order(acme):
    return OrderFactory(customer=acme, number="SO-ACME-1", po_number="PO-ACME-1")


@pytest.fixture
def acme_subscription(acme_key):
    partner = ApiKey.objects.get(prefix=acme_key[:10]).partner
    return WebhookSubscription.objects.create(
        partner=partner, url="https://hooks.example.com/acme", events=["order.shipped"], secret_nonce="n" * 64
    )


# (method, path, scope, body): each request is about ACME's objects or names ACME as the customer.
CUSTOMER_ENDPOINTS = [
    ("GET", "/api/v1/products/?customer=ACME-001", Scope.CATALOG_READ, None),
    ("GET", "/api/v1/products/CHAIR-1/?customer=ACME-001", Scope.CATALOG_READ, None),
    ("POST", "/api/v1/prices/", Scope.CATALOG_READ, {"customer": "ACME-001", "lines": [{"sku": "CHAIR-1"}]}),
    ("GET", "/api/v1/availability/?sku=CHAIR-1&customer=ACME-001", Scope.CATALOG_READ, None),
    ("GET", "/api/v1/orders/?customer=ACME-001", Scope.ORDERS_READ, None),
    (
        "POST",
        "/api/v1/orders/",
        Scope.ORDERS_WRITE,
        {"customer": "ACME-001", "po_number": "PO-X", "lines": [{"sku": "CHAIR-1", "quantity": "1"}]},
    ),
    ("GET", "/api/v1/orders/SO-ACME-1/", Scope.ORDERS_READ, None),
    ("POST", "/api/v1/orders/SO-ACME-1/cancel/", Scope.ORDERS_WRITE, {}),
]
PUSH_ENDPOINTS = [
    ("POST", "/api/v1/catalog/updates/", Scope.ERP_WRITE, {"rows": [{"sku": "NEW-1"}]}),
    ("POST", "/api/v1/stock/updates/", Scope.ERP_WRITE, {"rows": [{"sku": "CHAIR-1"}]}),
]


@pytest.mark.parametrize(("method", "path", "scope", "body"), CUSTOMER_ENDPOINTS)
def test_other_partner_key_gets_404(api, catalog, acme_order, globex_key, method, path, scope, body):
    # when
    response = api.call(method, path, globex_key, body)

    # then
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"
    assert Order.objects.count() == 1
    assert Order.objects.get().status == OrderStatus.RECEIVED


@pytest.mark.parametrize(("method", "path", "scope", "body"), CUSTOMER_ENDPOINTS + PUSH_ENDPOINTS)
def test_key_without_scope_gets_403(api, catalog, acme, acme_order, make_key, method, path, scope, body):
    # given
    key = make_key(acme, scopes=[other for other in ALL_SCOPES if other != scope])

    # when
    response = api.call(method, path, key, body)

    # then
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"
    assert scope in response.json()["detail"]
    assert Order.objects.count() == 1
    assert Order.objects.get().status == OrderStatus.RECEIVED


@pytest.mark.parametrize(("method", "path", "scope", "body"), PUSH_ENDPOINTS)
def test_push_from_key_of_some_customers_gets_403(api, catalog, acme, make_key, method, path, scope, body):
    """Catalog and stock rows change what every customer sees, so a key limited to ACME may not push them."""
    key = make_key(acme, scopes=[scope])

    response = api.call(method, path, key, body)

    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"
    assert "every customer" in response.json()["detail"]
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(("method", "path", "scope", "body"), CUSTOMER_ENDPOINTS + PUSH_ENDPOINTS)
def test_request_without_key_gets_401(api, catalog, acme_order, method, path, scope, body):
    response = api.call(method, path, None, body)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_other_partner_webhook_gets_404(api, acme_subscription, globex_key, method):
    response = api.call(method, f"/api/v1/webhooks/{acme_subscription.pk}/", globex_key)

    assert response.status_code == 404
    assert WebhookSubscription.objects.filter(pk=acme_subscription.pk).exists()


def test_other_partner_webhooks_not_listed(api, acme_subscription, globex_key):
    response = api.call("GET", "/api/v1/webhooks/", globex_key)

    assert response.status_code == 200
    assert response.json() == {"results": []}


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_webhooks_without_event_scope_get_403(api, acme, acme_subscription, make_key, method):
    # given
    key = make_key(acme, scopes=[Scope.CATALOG_READ, Scope.ERP_WRITE])
    path = "/api/v1/webhooks/" if method == "POST" else f"/api/v1/webhooks/{acme_subscription.pk}/"

    # when
    response = api.call(method, path, key, {"url": "https://hooks.example.com/x", "events": ["order.shipped"]})

    # then
    assert response.status_code == 403
    assert WebhookSubscription.objects.count() == 1


def test_webhook_for_quote_events_needs_quotes_read(api, acme, make_key):
    key = make_key(acme, scopes=[Scope.ORDERS_READ])

    response = api.call(
        "POST", "/api/v1/webhooks/", key, {"url": "https://hooks.example.com/q", "events": ["quote.sent"]}
    )

    assert response.status_code == 403
    assert "quotes:read" in response.json()["detail"]
    assert WebhookSubscription.objects.count() == 0


def test_customer_required_when_key_serves_several(api, acme, globex, catalog, make_key):
    key = make_key(acme, globex)

    response = api.call("GET", "/api/v1/products/", key)

    assert response.status_code == 400
    assert response.json()["code"] == "customer_required"


def test_key_serving_all_customers_reads_each(api, acme, globex, acme_order, make_key):
    key = make_key(all_customers=True, scopes=[Scope.ORDERS_READ])

    response = api.call("GET", "/api/v1/orders/SO-ACME-1/", key)

    assert response.status_code == 200
    assert response.json()["customer"] == "ACME-001"


def test_unknown_key_gets_401(api, catalog):
    response = api.call("GET", "/api/v1/products/", "bo_not-a-real-key")

    assert response.status_code == 401
    assert response.json() == {"detail": "The API key is invalid.", "code": "invalid_api_key"}


def test_revoked_key_gets_401(api, catalog, acme_key):
    api_key_revoke(api_key=ApiKey.objects.get(prefix=acme_key[:10]), actor=None)

    response = api.call("GET", "/api/v1/products/", acme_key)

    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_expired_key_gets_401(api, catalog, acme, make_key):
    key = make_key(acme, expires_at=timezone.now() + dt.timedelta(seconds=30))
    ApiKey.objects.filter(prefix=key[:10]).update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    response = api.call("GET", "/api/v1/products/", key)

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_inactive_partner_key_gets_401(api, catalog, acme_key):
    api_key = ApiKey.objects.select_related("partner").get(prefix=acme_key[:10])
    api_key.partner.is_active = False
    api_key.partner.save()

    response = api.call("GET", "/api/v1/products/", acme_key)

    assert response.status_code == 401


def test_key_stored_only_as_hash(acme_key):
    api_key = ApiKey.objects.get(prefix=acme_key[:10])

    assert acme_key.startswith("bo_")
    assert api_key.key_hash.startswith("hmac-sha256$")
    assert acme_key not in api_key.key_hash
    assert all(acme_key not in str(value) for value in ApiKey.objects.values().get().values())


def test_last_used_written_once_per_interval(api, catalog, acme_key, settings):
    # given
    settings.API_KEY_LAST_USED_INTERVAL_SECONDS = 300
    api.call("GET", "/api/v1/availability/?sku=CHAIR-1", acme_key)
    first = ApiKey.objects.get(prefix=acme_key[:10]).last_used_at

    # when
    api.call("GET", "/api/v1/availability/?sku=CHAIR-1", acme_key)

    # then
    assert first is not None
    assert ApiKey.objects.get(prefix=acme_key[:10]).last_used_at == first
