"""CRM pushes of customers and contracts: stale rows, replays, bad rows, tenancy and the effect of a contract change."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.api.models import Scope
from apps.catalog.models import ImportJob
from apps.contracts.models import Contract, ContractPrice, Customer
from apps.exceptions.models import CaseKind, ExceptionCase
from apps.integrations.ownership import System
from apps.quotes.models import Quote
from apps.quotes.services import LineRequest, quote_create, quote_refresh_prices
from tests.factories import ContractFactory, ContractPriceFactory, UserFactory
from tests.punchout.support import Catalog, open_session

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
CUSTOMERS_URL = "/api/v1/customers/updates/"
CONTRACTS_URL = "/api/v1/contracts/updates/"


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def crm_key(make_key):
    return make_key(all_customers=True, scopes=[Scope.CRM_WRITE])


def customer_row(account, *, updated_at=NOW, **fields):
    return {
        "account": account,
        "name": f"Customer {account}",
        "currency": "EUR",
        "payment_terms": "NET30",
        "credit_limit": "50000.00",
        "region": "EU-WEST",
        "tax_exempt": False,
        "updated_at": iso(updated_at),
        **fields,
    }


def contract_row(number, account, *, updated_at=NOW, **fields):
    return {
        "contract": number,
        "customer": account,
        "name": f"Agreement {number}",
        "currency": "EUR",
        "valid_from": "2020-01-01",
        "valid_to": None,
        "status": "active",
        "updated_at": iso(updated_at),
        **fields,
    }


def test_customer_push_creates_and_updates(api, acme, crm_key):
    # when the CRM sends a new customer and a change to ACME
    response = api.call(
        "POST",
        CUSTOMERS_URL,
        crm_key,
        {"rows": [customer_row("NEW-100"), customer_row("ACME-001", name="Acme Europe", credit_limit="7500")]},
    )

    # then both rows apply, through an API job of the CRM
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["rows"], body["created"], body["updated"], body["rejected"]) == (2, 1, 1, 0)
    created = Customer.objects.get(account_number="NEW-100")
    assert created.payment_terms == "NET30"
    assert created.credit_limit == Decimal("50000.00")
    assert created.source_updated_at == NOW
    acme.refresh_from_db()
    assert acme.name == "Acme Europe"
    assert acme.credit_limit == Decimal("7500.00")
    job = ImportJob.objects.get(pk=body["job"])
    assert (job.source, job.sender, job.kind) == (ImportJob.Source.API, System.CRM, "customers")


def test_customer_push_replayed_changes_nothing(api, acme, crm_key):
    message = {"rows": [customer_row("NEW-100"), customer_row("ACME-001", name="Acme Europe")]}
    api.call("POST", CUSTOMERS_URL, crm_key, message)
    history_rows = Customer.history.count()

    second = api.call("POST", CUSTOMERS_URL, crm_key, message).json()

    assert (second["created"], second["updated"], second["unchanged"], second["stale"]) == (0, 0, 2, 0)
    assert Customer.history.count() == history_rows
    assert Customer.objects.filter(account_number="NEW-100").count() == 1


def test_customer_push_skips_stale_rows(api, acme, crm_key):
    # given the CRM's change of ACME at NOW
    api.call("POST", CUSTOMERS_URL, crm_key, {"rows": [customer_row("ACME-001", credit_limit="9000")]})

    # when an older change arrives late
    older = NOW - dt.timedelta(hours=1)
    body = api.call(
        "POST", CUSTOMERS_URL, crm_key, {"rows": [customer_row("ACME-001", credit_limit="1", updated_at=older)]}
    ).json()

    # then it changes nothing
    assert (body["stale"], body["updated"], body["created"]) == (1, 0, 0)
    acme.refresh_from_db()
    assert acme.credit_limit == Decimal("9000.00")
    assert acme.source_updated_at == NOW


def test_customer_push_reports_bad_rows_and_applies_good(api, acme, crm_key):
    rows = [
        customer_row("ACME-001", name="Acme Europe"),
        customer_row("BAD-1", currency="EURO"),
        customer_row("BAD-2", credit_limit="-5"),
        {"account": "BAD-3", "name": "No time", "currency": "EUR"},
        customer_row("GOOD-4"),
    ]

    body = api.call("POST", CUSTOMERS_URL, crm_key, {"rows": rows}).json()

    assert (body["rows"], body["created"], body["updated"], body["rejected"]) == (5, 1, 1, 3)
    errors = {(error["line"], error["column"]) for error in body["errors"]}
    assert errors == {(2, "currency"), (3, "credit_limit"), (4, "updated_at")}
    messages = {error["line"]: error["message"] for error in body["errors"]}
    assert "EURO" in messages[2]
    assert "updated_at is required" in messages[4]
    assert not Customer.objects.filter(account_number__startswith="BAD-").exists()
    assert Customer.objects.filter(account_number="GOOD-4").exists()


def test_customer_push_outside_partner_customers_rejected_per_row(api, acme, globex, make_key):
    # given a CRM key of a partner that serves ACME only
    key = make_key(acme, scopes=[Scope.CRM_WRITE])

    # when it sends ACME, Globex and a new account
    rows = [customer_row("ACME-001", name="Acme Europe"), customer_row("GLOBEX-002", name="Taken"), customer_row("X-9")]
    body = api.call("POST", CUSTOMERS_URL, key, {"rows": rows}).json()

    # then only ACME changes, and the other two get the same "not among your customers" reason
    assert (body["updated"], body["created"], body["rejected"]) == (1, 0, 2)
    reasons = {error["line"]: error["message"] for error in body["errors"]}
    assert "'GLOBEX-002' is not among the customers this sender may change" in reasons[2]
    assert "'X-9' is not among the customers this sender may change" in reasons[3]
    globex.refresh_from_db()
    assert globex.name == "Globex"
    assert not Customer.objects.filter(account_number="X-9").exists()


def test_crm_push_needs_crm_scope(api, acme, make_key):
    key = make_key(all_customers=True, scopes=[Scope.ERP_WRITE])

    response = api.call("POST", CUSTOMERS_URL, key, {"rows": [customer_row("ACME-001")]})

    assert response.status_code == 403
    assert response.json()["code"]


def test_contract_push_creates_contract_with_prices(api, acme, catalog, crm_key):
    # when the CRM sends a new draft contract for ACME and its prices
    message = {
        "contracts": [contract_row("K-NEW", "ACME-001", valid_from="2020-01-01", status="draft")],
        "prices": [
            {"contract": "K-NEW", "sku": "DESK-1", "price": "350.00", "updated_at": iso(NOW)},
            {"contract": "K-NEW", "sku": "LAMP-1", "discount_percent": "15", "min_quantity": "5"},
        ],
    }
    response = api.call("POST", CONTRACTS_URL, crm_key, message)

    # then both jobs applied their rows
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["contracts"]["created"], body["prices"]["created"]) == (1, 2)
    contract = Contract.objects.get(number="K-NEW")
    assert (contract.customer, contract.status, contract.valid_to) == (acme, "draft", None)
    assert contract.source_updated_at == NOW
    assert contract.prices.get(product__sku="DESK-1").price == Decimal("350.00")
    assert contract.prices.get(product__sku="LAMP-1").discount_percent == Decimal("15.00")


def test_contract_push_replayed_changes_nothing(api, acme, catalog, crm_key):
    message = {
        "contracts": [contract_row("ACME-K", "ACME-001", name="Renamed")],
        "prices": [{"contract": "ACME-K", "sku": "CHAIR-1", "price": "97.00", "updated_at": iso(NOW)}],
    }
    first = api.call("POST", CONTRACTS_URL, crm_key, message).json()
    history_rows = (Contract.history.count(), ContractPrice.history.count())

    second = api.call("POST", CONTRACTS_URL, crm_key, message).json()

    assert (first["contracts"]["updated"], first["prices"]["updated"]) == (1, 1)
    assert (second["contracts"]["unchanged"], second["prices"]["unchanged"]) == (1, 1)
    assert (second["contracts"]["updated"], second["prices"]["updated"]) == (0, 0)
    assert (Contract.history.count(), ContractPrice.history.count()) == history_rows


def test_contract_push_skips_stale_rows(api, acme, catalog, crm_key):
    api.call("POST", CONTRACTS_URL, crm_key, {"contracts": [contract_row("ACME-K", "ACME-001", name="Current")]})

    older = NOW - dt.timedelta(days=1)
    body = api.call(
        "POST",
        CONTRACTS_URL,
        crm_key,
        {
            "contracts": [contract_row("ACME-K", "ACME-001", name="Old", status="suspended", updated_at=older)],
        },
    ).json()

    assert (body["contracts"]["stale"], body["contracts"]["updated"]) == (1, 0)
    contract = Contract.objects.get(number="ACME-K")
    assert (contract.name, contract.status) == ("Current", "active")


def test_contract_push_rejects_overlapping_active_contract(api, acme, catalog, crm_key):
    # when the CRM starts a second active contract for ACME while ACME-K runs, and ends Globex's properly
    message = {
        "contracts": [
            contract_row("ACME-2", "ACME-001", valid_from="2026-01-01"),
            contract_row("GLOBEX-K", "GLOBEX-002", status="terminated"),
            contract_row("GLOBEX-2", "GLOBEX-002", valid_from="2026-01-01"),
        ]
    }
    body = api.call("POST", CONTRACTS_URL, crm_key, message).json()["contracts"]

    # then ACME's is rejected with the clash named, and Globex's hand-over in one message applies
    assert (body["rejected"], body["created"], body["updated"]) == (1, 1, 1)
    assert body["errors"][0]["line"] == 1
    assert "Contract ACME-K is also active for this customer" in body["errors"][0]["message"]
    assert not Contract.objects.filter(number="ACME-2").exists()
    assert Contract.objects.get(number="GLOBEX-2").status == "active"


def test_contract_push_reports_bad_rows_and_applies_good(api, acme, catalog, crm_key):
    message = {
        "contracts": [
            contract_row("ACME-K", "ACME-001", name="Kept good"),
            contract_row("BAD-1", "NOBODY-1"),
            contract_row("BAD-2", "ACME-001", status="open"),
            contract_row("BAD-3", "ACME-001", valid_from="2026-05-01", valid_to="2026-04-01", status="draft"),
        ],
        "prices": [
            {"contract": "ACME-K", "sku": "DESK-1", "price": "380.00"},
            {"contract": "ACME-K", "sku": "NO-SUCH", "price": "1.00"},
            {"contract": "ACME-K", "sku": "LAMP-1", "price": "1.00", "discount_percent": "5"},
        ],
    }

    body = api.call("POST", CONTRACTS_URL, crm_key, message).json()

    contracts, prices = body["contracts"], body["prices"]
    assert (contracts["updated"], contracts["rejected"]) == (1, 3)
    assert {(error["line"], error["column"]) for error in contracts["errors"]} == {
        (2, "customer"),
        (3, "status"),
        (4, "valid_to"),
    }
    assert (prices["created"], prices["rejected"]) == (1, 2)
    assert {(error["line"], error["column"]) for error in prices["errors"]} == {(2, "sku"), (3, "price")}
    assert Contract.objects.get(number="ACME-K").name == "Kept good"
    assert not Contract.objects.filter(number__startswith="BAD-").exists()


def test_contract_push_outside_partner_customers_rejected_per_row(api, acme, globex, catalog, make_key):
    key = make_key(acme, scopes=[Scope.CRM_WRITE])
    message = {
        "contracts": [contract_row("GLOBEX-K", "GLOBEX-002", name="Hijacked"), contract_row("ACME-K", "ACME-001")],
        "prices": [
            {"contract": "GLOBEX-K", "sku": "LAMP-1", "price": "1.00"},
            {"contract": "ACME-K", "sku": "LAMP-1", "price": "28.00"},
        ],
    }

    body = api.call("POST", CONTRACTS_URL, key, message).json()

    assert (body["contracts"]["rejected"], body["contracts"]["updated"]) == (1, 1)
    assert (body["prices"]["rejected"], body["prices"]["created"]) == (1, 1)
    assert "does not exist among the contracts this sender may change" in body["prices"]["errors"][0]["message"]
    assert Contract.objects.get(number="GLOBEX-K").name != "Hijacked"
    assert ContractPrice.objects.get(contract__number="GLOBEX-K", product__sku="LAMP-1").price == Decimal("25.00")


def test_contract_push_without_rows_rejected(api, crm_key):
    response = api.call("POST", CONTRACTS_URL, crm_key, {"contracts": [], "prices": []})

    assert response.status_code == 400
    assert "at least one" in response.content.decode()


@pytest.fixture
def _plain_static_storage(settings):
    # The manifest storage used with DEBUG off needs collectstatic, which tests do not run.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.mark.usefixtures("_plain_static_storage")
def test_contract_change_reprices_punchout_session_and_flags_quote(api, client, crm_key):
    # given an open PunchOut session with the chair in the cart at 99.50, and a draft quote at that price
    shop = Catalog()
    base = open_session(client, shop.connection)
    client.post(base + "cart/", {"sku": "5555", "quantity": "2"})
    assert b"199.00 EUR" in client.get(base + "cart/").content
    sales = UserFactory(username="crm-sales")
    sales.groups.add(Group.objects.get(name="sales"))
    quote = quote_create(
        actor=sales,
        customer=shop.customer,
        lines=[LineRequest(product=shop.fixed, quantity=Decimal("2"))],
        contact_email="buyer@acme.example",
    )
    assert quote.prices_out_of_date_since is None

    # when the CRM lowers the contract price of the chair
    message = {"prices": [{"contract": shop.contract.number, "sku": "5555", "price": "94.00"}]}
    body = api.call("POST", CONTRACTS_URL, crm_key, message).json()
    assert body["prices"]["updated"] == 1

    # then the next search and cart show the new price, and the quote is flagged but keeps its price
    assert b"94.00" in client.get(base + "search/", {"q": "excelsior"}).content
    assert b"188.00 EUR" in client.get(base + "cart/").content
    quote.refresh_from_db()
    assert quote.prices_out_of_date_since is not None
    assert quote.lines.get().contract_price == Decimal("99.50")
    assert quote.history.first().history_change_reason.startswith("Prices out of date")

    # and a refresh takes the new price and clears the flag
    quote = quote_refresh_prices(quote=quote, actor=sales)
    quote.refresh_from_db()
    assert quote.prices_out_of_date_since is None
    assert quote.lines.get().contract_price == Decimal("94.00")


def test_contract_change_back_clears_quote_flag(api, crm_key):
    shop = Catalog()
    sales = UserFactory(username="crm-sales")
    sales.groups.add(Group.objects.get(name="sales"))
    quote = quote_create(
        actor=sales, customer=shop.customer, lines=[LineRequest(product=shop.fixed, quantity=Decimal("1"))]
    )
    price = {"contract": shop.contract.number, "sku": "5555"}

    api.call("POST", CONTRACTS_URL, crm_key, {"prices": [{**price, "price": "94.00"}]})
    flagged = Quote.objects.get(pk=quote.pk).prices_out_of_date_since
    api.call("POST", CONTRACTS_URL, crm_key, {"prices": [{**price, "price": "99.50"}]})

    assert flagged is not None
    assert Quote.objects.get(pk=quote.pk).prices_out_of_date_since is None


def test_contract_change_leaves_other_customers_quotes(api, crm_key):
    shop = Catalog()
    other = ContractFactory(valid_from=dt.date(2020, 1, 1), valid_to=None)
    ContractPriceFactory(contract=other, product=shop.fixed, price=Decimal("100.00"))
    sales = UserFactory(username="crm-sales")
    sales.groups.add(Group.objects.get(name="sales"))
    quote = quote_create(
        actor=sales, customer=shop.customer, lines=[LineRequest(product=shop.fixed, quantity=Decimal("1"))]
    )

    api.call("POST", CONTRACTS_URL, crm_key, {"prices": [{"contract": other.number, "sku": "5555", "price": "1.00"}]})

    assert Quote.objects.get(pk=quote.pk).prices_out_of_date_since is None
    assert not ExceptionCase.objects.filter(kind=CaseKind.INTEGRATION_CONFLICT).exists()
