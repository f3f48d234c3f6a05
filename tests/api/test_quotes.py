"""Quotes through the API: request, read, accept into an order, decline, and their webhooks."""

import json
from decimal import Decimal

import pytest
from django.utils.dateparse import parse_datetime

from apps.api.models import Scope, WebhookDelivery
from apps.orders.models import Order
from apps.quotes.models import Quote, QuoteStatus
from apps.quotes.services import quote_send, quote_submit
from tests.api.conftest import ALL_SCOPES
from tests.api.receiver import WebhookReceiver

pytestmark = pytest.mark.django_db

REQUEST = {"lines": [{"sku": "CHAIR-1", "quantity": "2"}, {"sku": "DESK-1", "quantity": "1"}], "notes": "Q1 refit"}


@pytest.fixture
def sent_number(api, catalog, acme_key, sales):
    """A quote the partner requested, which sales submitted and sent (no approval rule applies)."""
    number = api.call("POST", "/api/v1/quotes/", acme_key, REQUEST).json()["number"]
    quote = Quote.objects.get(number=number)
    quote_send(quote=quote_submit(quote=quote, actor=sales), actor=sales, email=False)
    return number


def test_request_creates_draft_for_sales(api, catalog, acme_key, sales):
    # when
    response = api.call("POST", "/api/v1/quotes/", acme_key, REQUEST)

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    quote = Quote.objects.get(number=body["number"])
    assert quote.status == QuoteStatus.DRAFT == body["status"]
    assert quote.sales_person == sales
    assert quote.notes == "Q1 refit"
    assert body["customer"] == "ACME-001"
    assert body["total"] == "599.00"
    assert [(line["sku"], line["net_price"], line["line_total"]) for line in body["lines"]] == [
        ("CHAIR-1", "99.50", "199.00"),
        ("DESK-1", "400.00", "400.00"),
    ]
    assert "margin" not in body
    assert all("unit_cost" not in line for line in body["lines"])


def test_request_unknown_sku_creates_nothing(api, catalog, acme_key, sales):
    response = api.call("POST", "/api/v1/quotes/", acme_key, {"lines": [{"sku": "GHOST-1", "quantity": "1"}]})

    assert response.status_code == 400
    assert Quote.objects.count() == 0


def test_request_without_sales_person_503(api, catalog, acme_key, settings):
    settings.API_QUOTE_SALES_PERSON = "nobody"

    response = api.call("POST", "/api/v1/quotes/", acme_key, REQUEST)

    assert response.status_code == 503
    assert response.json()["code"] == "quote_requests_not_configured"
    assert Quote.objects.count() == 0


def test_accept_sent_quote_makes_order(api, sent_number, acme_key):
    # when
    response = api.call("POST", f"/api/v1/quotes/{sent_number}/accept/", acme_key, {"po_number": "PO-Q-1"})

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == QuoteStatus.CONVERTED
    order = Order.objects.get(number=body["order"])
    assert order.po_number == "PO-Q-1"
    assert order.customer.account_number == "ACME-001"


def test_decline_sent_quote(api, sent_number, acme_key):
    response = api.call("POST", f"/api/v1/quotes/{sent_number}/decline/", acme_key, {"reason": "Too dear"})

    assert response.status_code == 200
    assert response.json()["status"] == QuoteStatus.DECLINED
    assert "Too dear" in response.json()["status_reason"]


def test_accept_draft_quote_409(api, catalog, acme_key, sales):
    number = api.call("POST", "/api/v1/quotes/", acme_key, REQUEST).json()["number"]

    response = api.call("POST", f"/api/v1/quotes/{number}/accept/", acme_key)

    assert response.status_code == 409
    assert response.json()["code"] == "quote_state_conflict"
    assert Quote.objects.get(number=number).status == QuoteStatus.DRAFT


def test_quotes_list_and_read(api, sent_number, acme_key):
    listed = api.call("GET", "/api/v1/quotes/?status=sent", acme_key).json()["results"]
    read = api.call("GET", f"/api/v1/quotes/{sent_number}/", acme_key).json()
    drafts = api.call("GET", "/api/v1/quotes/?status=draft", acme_key).json()["results"]

    assert [row["number"] for row in listed] == [sent_number]
    assert read["status"] == QuoteStatus.SENT
    assert read["sent_at"] is not None
    assert drafts == []


@pytest.mark.parametrize(
    ("method", "suffix", "scope"),
    [
        ("GET", "", Scope.QUOTES_READ),
        ("POST", "accept/", Scope.QUOTES_WRITE),
        ("POST", "decline/", Scope.QUOTES_WRITE),
    ],
)
def test_quote_scope_and_tenancy(api, sent_number, acme, globex_key, make_key, method, suffix, scope):
    # given
    without_scope = make_key(acme, scopes=[other for other in ALL_SCOPES if other != scope])

    # when
    other_partner = api.call(method, f"/api/v1/quotes/{sent_number}/{suffix}", globex_key, {})
    missing_scope = api.call(method, f"/api/v1/quotes/{sent_number}/{suffix}", without_scope, {})

    # then
    assert other_partner.status_code == 404
    assert missing_scope.status_code == 403
    assert Quote.objects.get(number=sent_number).status == QuoteStatus.SENT


@pytest.mark.parametrize(("method", "scope"), [("GET", Scope.QUOTES_READ), ("POST", Scope.QUOTES_WRITE)])
def test_quotes_collection_scope_and_tenancy(api, catalog, acme, globex_key, make_key, sales, method, scope):
    without_scope = make_key(acme, scopes=[other for other in ALL_SCOPES if other != scope])
    body = {**REQUEST, "customer": "ACME-001"}
    path = "/api/v1/quotes/?customer=ACME-001" if method == "GET" else "/api/v1/quotes/"

    other_partner = api.call(method, path, globex_key, body)
    missing_scope = api.call(method, path, without_scope, body)

    assert other_partner.status_code == 404
    assert missing_scope.status_code == 403
    assert Quote.objects.count() == 0


def test_quote_sent_webhook(api, catalog, acme_key, sales, settings, django_capture_on_commit_callbacks):
    settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with WebhookReceiver() as receiver:
        # given
        api.call("POST", "/api/v1/webhooks/", acme_key, {"url": receiver.url, "events": ["quote.sent"]})
        number = api.call("POST", "/api/v1/quotes/", acme_key, REQUEST).json()["number"]

        # when
        with django_capture_on_commit_callbacks(execute=True):
            quote = quote_submit(quote=Quote.objects.get(number=number), actor=sales)
            quote_send(quote=quote, actor=sales, email=False)

    # then
    assert len(receiver.received) == 1
    event = json.loads(receiver.received[0][1])
    assert event["type"] == "quote.sent"
    assert event["data"]["quote"]["number"] == number
    assert event["data"]["quote"]["status"] == "sent"
    assert WebhookDelivery.objects.get().status == "delivered"


def test_accept_without_order_keeps_quote_accepted_for_punchout(api, sent_number, acme_key):
    # when
    response = api.call(
        "POST", f"/api/v1/quotes/{sent_number}/accept/", acme_key, {"po_number": "", "create_order": False}
    )

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["order"]) == (QuoteStatus.ACCEPTED, None)
    assert not Order.objects.filter(customer__account_number="ACME-001").exists()


def test_accept_with_unreadable_create_order_is_400(api, sent_number, acme_key):
    response = api.call("POST", f"/api/v1/quotes/{sent_number}/accept/", acme_key, {"create_order": "perhaps"})

    assert response.status_code == 400
    assert "create_order" in response.json()["fields"]
    assert Quote.objects.get(number=sent_number).status == QuoteStatus.SENT


def _lower_chair_contract_price(api, make_key) -> None:
    """Push a lower contract price for ACME's chair through the CRM endpoint, a contract change."""
    crm_key = make_key(all_customers=True, scopes=[Scope.CRM_WRITE])
    message = {"prices": [{"contract": "ACME-K", "sku": "CHAIR-1", "price": "94.00"}]}
    response = api.call("POST", "/api/v1/contracts/updates/", crm_key, message)
    assert response.status_code == 200, response.content


def test_quote_shows_out_of_date_prices(api, sent_number, acme_key, make_key):
    # given
    before = api.call("GET", f"/api/v1/quotes/{sent_number}/", acme_key).json()

    # when
    _lower_chair_contract_price(api, make_key)

    # then
    flagged_at = Quote.objects.get(number=sent_number).prices_out_of_date_since
    read = api.call("GET", f"/api/v1/quotes/{sent_number}/", acme_key).json()
    listed = api.call("GET", "/api/v1/quotes/", acme_key).json()["results"]
    assert before["prices_out_of_date_since"] is None
    assert flagged_at is not None
    assert parse_datetime(read["prices_out_of_date_since"]) == flagged_at
    assert [row["prices_out_of_date_since"] for row in listed] == [read["prices_out_of_date_since"]]
    assert [line["net_price"] for line in read["lines"]] == ["99.50", "400.00"]


def test_accept_out_of_date_quote_orders_quoted_prices(api, sent_number, acme_key, make_key):
    # given
    _lower_chair_contract_price(api, make_key)

    # when
    response = api.call("POST", f"/api/v1/quotes/{sent_number}/accept/", acme_key, {"po_number": "PO-Q-2"})

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == QuoteStatus.CONVERTED
    assert body["prices_out_of_date_since"] is not None
    order = Order.objects.get(number=body["order"])
    assert sorted((line.sku, line.unit_price) for line in order.lines.all()) == [
        ("CHAIR-1", Decimal("99.50")),
        ("DESK-1", Decimal("400.00")),
    ]
