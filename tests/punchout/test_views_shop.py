import base64
import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.contracts.models import Contract
from apps.core.xml import parse_xml
from apps.punchout.cxml.validation import validate_document
from apps.punchout.models import BuyerConnection, CartLine, PunchOutSession
from tests.factories import (
    BuyerConnectionFactory,
    CategoryFactory,
    ContractFactory,
    ContractPriceFactory,
    CustomerFactory,
    ProductFactory,
    StockLevelFactory,
)
from tests.punchout.support import open_session, open_start_page, return_form, session_path

SAMPLE_BUYER_COOKIE = "550bce3e592023b2e7b015307f965133"


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    """Pages here are rendered, so static files come from the finders."""


class Shop:
    """The test catalog: one customer with a contract limited to chairs."""

    def __init__(self):
        self.customer = CustomerFactory(account_number="ACME-001")
        self.chairs = CategoryFactory(code="CHAIRS", name="Chairs")
        self.desks = CategoryFactory(code="DESKS", name="Desks")
        self.contract = ContractFactory(
            customer=self.customer,
            valid_from=dt.date(2020, 1, 1),
            valid_to=None,
            assortment=Contract.Assortment.SELECTED,
        )
        self.contract.categories.add(self.chairs)
        self.fixed = ProductFactory(
            sku="5555",
            name="Excelsior Desk Chair",
            category=self.chairs,
            list_price=Decimal("120.00"),
            manufacturer="Excelsior",
            manufacturer_part_number="EX-CH-01",
        )
        ContractPriceFactory(contract=self.contract, product=self.fixed, price=Decimal("99.50"))
        self.discounted = ProductFactory(
            sku="4545321",
            name="Task chair",
            category=self.chairs,
            list_price=Decimal("80.00"),
            description="Mesh back with lumbar support",
        )
        ContractPriceFactory(
            contract=self.contract, product=self.discounted, price=None, discount_percent=Decimal("10")
        )
        self.hidden = ProductFactory(sku="6666", name="Standing desk", category=self.desks)
        StockLevelFactory(product=self.fixed, on_hand=Decimal("12"))
        self.connection = BuyerConnectionFactory(
            customer=self.customer,
            from_identity="AN01000000001",
            allowed_return_hosts="localhost\n127.0.0.1\nprominate-platform.com\n*.ariba.com:443",
        )


@pytest.fixture
def shop(db):
    return Shop()


def item_prices(document: bytes) -> dict[str, Decimal]:
    root = parse_xml(document)
    return {
        item.findtext("ItemID/SupplierPartID"): Decimal(item.findtext("ItemDetail/UnitPrice/Money"))
        for item in root.iterfind("Message/PunchOutOrderMessage/ItemIn")
    }


def test_shop_flow_returns_contract_priced_cart(client, shop):
    # given a session opened with the sample setup request
    start_page = open_start_page(client, shop.connection)
    base = session_path(start_page)

    # when the user browses, searches, fills the cart and returns it
    page = client.get(start_page)
    assert page.status_code == 200
    assert b"Task chair" in page.content
    assert b"72.00 EUR" in page.content

    search = client.get(base + "search/", {"q": "excelsior"})
    assert search.status_code == 200
    assert b"5555" in search.content
    assert b"Task chair" not in search.content

    added = client.post(base + "cart/", {"sku": "5555", "quantity": "3"})
    assert added.status_code == 303
    assert added["Location"] == base + "cart/"
    client.post(base + "cart/", {"sku": "4545321", "quantity": "2"})
    cart = client.get(base + "cart/")
    assert cart.status_code == 200
    assert b"298.50 EUR" in cart.content
    assert b"442.50 EUR" in cart.content

    returned = client.post(base + "return/")

    # then the return page posts a valid PunchOutOrderMessage with contract prices to the BrowserFormPost URL
    assert returned.status_code == 200
    form = return_form(returned)
    fields = dict(form["fields"])
    assert form["attrs"]["action"] == "https://prominate-platform.com/hook-url"
    assert form["attrs"]["method"] == "post"
    document = fields["cxml-urlencoded"].encode("utf-8")
    validate_document(document)
    root = parse_xml(document)
    assert root.findtext("Message/PunchOutOrderMessage/BuyerCookie") == SAMPLE_BUYER_COOKIE
    assert item_prices(document) == {"5555": Decimal("99.50"), "4545321": Decimal("72.00")}
    assert root.findtext("Message/PunchOutOrderMessage/PunchOutOrderMessageHeader/Total/Money") == "442.50"


def test_returned_document_carries_credentials_and_item_details(client, shop):
    base = open_session(client, shop.connection)

    document = dict(return_form(client.post(base + "return/"))["fields"])["cxml-urlencoded"].encode("utf-8")

    root = parse_xml(document)
    assert root.find("Header/From/Credential").get("domain") == "DUNS"
    assert root.findtext("Header/From/Credential/Identity") == "987654321"
    assert root.find("Header/To/Credential").get("domain") == "NetworkID"
    assert root.findtext("Header/To/Credential/Identity") == "AN01000000001"
    assert root.findtext("Header/Sender/Credential/Identity") == "987654321"
    assert root.find("Header/Sender/Credential/SharedSecret") is None
    (item,) = root.iterfind("Message/PunchOutOrderMessage/ItemIn")
    line = CartLine.objects.get()
    assert item.get("quantity") == "2"
    assert item.findtext("ItemID/SupplierPartAuxiliaryID") == f"cartline-{line.pk}"
    assert item.findtext("ItemDetail/UnitOfMeasure") == "EA"
    assert item.find("ItemDetail/Classification").get("domain") == "UNSPSC"
    assert item.findtext("ItemDetail/Classification") == "43211503"
    assert item.findtext("ItemDetail/ManufacturerPartID") == "EX-CH-01"


def test_return_page_uses_base64_field_when_configured(client, shop):
    shop.connection.cart_field = BuyerConnection.CartField.CXML_BASE64
    shop.connection.save()
    base = open_session(client, shop.connection)

    form = return_form(client.post(base + "return/"))

    assert [name for name, _ in form["fields"]] == ["cxml-base64"]
    document = base64.b64decode(dict(form["fields"])["cxml-base64"])
    validate_document(document)
    assert parse_xml(document).findtext("Message/PunchOutOrderMessage/BuyerCookie") == SAMPLE_BUYER_COOKIE


def test_return_page_escapes_markup_in_buyer_cookie(client, shop):
    base = open_session(client, shop.connection)
    session = PunchOutSession.objects.get()
    session.buyer_cookie = '"><script>alert(1)</script>&amp;'
    session.save()

    returned = client.post(base + "return/")

    assert b"<script>alert(1)" not in returned.content
    document = dict(return_form(returned)["fields"])["cxml-urlencoded"].encode("utf-8")
    assert parse_xml(document).findtext("Message/PunchOutOrderMessage/BuyerCookie") == (
        '"><script>alert(1)</script>&amp;'
    )


def test_return_page_loads_static_submit_script(client, shop):
    base = open_session(client, shop.connection)

    returned = client.post(base + "return/")

    assert b'<script src="/static/punchout/return.js" defer></script>' in returned.content
    assert b"<script>" not in returned.content
    assert b'<button type="submit" class="primary">Continue</button>' in returned.content


def test_second_cart_return_is_rejected(client, shop):
    # given a session whose cart was returned
    base = open_session(client, shop.connection)
    first = client.post(base + "return/")

    # when the user tries to change the cart and return it again
    change = client.post(base + "cart/", {"sku": "4545321", "quantity": "1"})
    second = client.post(base + "return/")

    # then both are refused and the session keeps its one return
    assert first.status_code == 200
    assert change.status_code == 409
    assert b"returned to your procurement system already" in change.content
    assert second.status_code == 409
    assert b"returned to your procurement system already" in second.content
    assert b'id="return-cart"' not in second.content
    session = PunchOutSession.objects.get()
    assert session.state == PunchOutSession.State.RETURNED
    assert session.return_count == 1
    assert list(session.lines.values_list("product__sku", "quantity")) == [("5555", Decimal("2.000"))]


def test_start_page_opens_selected_item_product_page(client, shop):
    page_path = open_start_page(client, shop.connection)

    page = client.get(page_path)

    assert page_path == session_path(page_path) + "product/4545321/"
    assert page.status_code == 200
    assert b"<h1>Task chair</h1>" in page.content
    assert b"72.00 EUR per" in page.content


def test_start_page_shows_stock_and_categories(client, shop):
    base = open_session(client, shop.connection)

    page = client.get(base)

    assert b"12 in stock" in page.content
    assert b"Out of stock" in page.content
    assert b"?category=CHAIRS" in page.content
    assert b"?category=DESKS" not in page.content


def test_category_filter_limits_products(client, shop):
    other = CategoryFactory(code="STOOLS", name="Stools", parent=shop.chairs)
    ProductFactory(sku="STOOL-1", name="Bar stool", category=other)
    base = open_session(client, shop.connection)

    page = client.get(base, {"category": "STOOLS"})

    assert b"Bar stool" in page.content
    assert b"Task chair" not in page.content


def test_pages_never_show_products_outside_assortment(client, shop):
    base = open_session(client, shop.connection)

    start = client.get(base)
    search = client.get(base + "search/", {"q": "Standing"})
    by_sku = client.get(base + "search/", {"q": "6666"})
    deep_link = client.get(base, {"sku": "6666"})

    assert b"Standing desk" not in start.content
    assert b"No products found" in search.content
    assert b"Standing desk" not in search.content
    assert b"Standing desk" not in by_sku.content
    assert b"Product 6666 is not in your catalog;" in deep_link.content
    assert b"Standing desk" not in deep_link.content


def test_adding_product_outside_assortment_is_rejected(client, shop):
    base = open_session(client, shop.connection)
    before = list(CartLine.objects.values_list("product__sku", "quantity"))

    response = client.post(base + "cart/", {"sku": "6666", "quantity": "1"})

    assert response.status_code == 400
    assert b"Product &#x27;6666&#x27; is not in your catalog" in response.content
    assert list(CartLine.objects.values_list("product__sku", "quantity")) == before


@pytest.mark.parametrize(
    "quantity", ["abc", "-1", "1e9", "NaN", "", "1.2345", "2000000", "Infinity", "\u0661\u0662", "\uff11\uff12"]
)
def test_bad_quantity_answers_400_and_keeps_cart(client, shop, quantity):
    base = open_session(client, shop.connection)
    before = list(CartLine.objects.values_list("product__sku", "quantity"))

    response = client.post(base + "cart/", {"sku": "5555", "quantity": quantity})

    assert response.status_code == 400
    assert f"Quantity &#x27;{quantity}&#x27;".encode() in response.content
    assert list(CartLine.objects.values_list("product__sku", "quantity")) == before


def test_non_ascii_digit_quantity_names_value(client, shop):
    base = open_session(client, shop.connection)

    before = list(CartLine.objects.values_list("product__sku", "quantity"))

    response = client.post(base + "cart/", {"sku": "5555", "quantity": "\u0661\u0662"})

    assert response.status_code == 400
    assert "Quantity &#x27;\u0661\u0662&#x27; contains digits other than 0 to 9;".encode() in response.content
    assert list(CartLine.objects.values_list("product__sku", "quantity")) == before


def test_scientific_quantity_says_not_accepted(client, shop):
    base = open_session(client, shop.connection)

    before = list(CartLine.objects.values_list("product__sku", "quantity"))

    response = client.post(base + "cart/", {"sku": "5555", "quantity": "1E3"})

    assert response.status_code == 400
    assert b"Quantity &#x27;1E3&#x27; is in scientific notation, which is not accepted;" in response.content
    assert list(CartLine.objects.values_list("product__sku", "quantity")) == before


def test_pages_show_prices_in_minor_units(client, shop):
    # given contract prices stored with 4 decimals, one of them with 4 significant decimals
    cushion = ProductFactory(sku="7001", name="Seat cushion", category=shop.chairs, list_price=Decimal("60.00"))
    ContractPriceFactory(contract=shop.contract, product=cushion, price=Decimal("48.0500"))
    glide = ProductFactory(sku="7002", name="Chair glide", category=shop.chairs, list_price=Decimal("0.05"))
    ContractPriceFactory(contract=shop.contract, product=glide, price=Decimal("0.0125"))
    base = open_session(client, shop.connection)

    # when the catalog, product page and cart are shown and the cart is returned
    catalog_page = client.get(base).content.decode()
    product_page = client.get(base + "product/7001/").content.decode()
    client.post(base + "cart/", {"sku": "7001", "quantity": "1"})
    client.post(base + "cart/", {"sku": "7002", "quantity": "4"})
    cart_page = client.get(base + "cart/").content.decode()
    document = dict(return_form(client.post(base + "return/"))["fields"])["cxml-urlencoded"].encode("utf-8")

    # then pages show the currency's 2 decimals unless the price has more, and the cXML keeps its numbers
    assert "48.05 EUR" in catalog_page
    assert "0.0125 EUR" in catalog_page
    assert "48.0500" not in catalog_page
    assert "48.05 EUR per" in product_page
    assert "48.05 EUR" in cart_page
    assert "0.0125 EUR" in cart_page
    assert "0.05 EUR" in cart_page
    prices = item_prices(document)
    assert prices["7001"] == Decimal("48.0500")
    assert prices["7002"] == Decimal("0.0125")
    root = parse_xml(document)
    money_texts = {
        item.findtext("ItemID/SupplierPartID"): item.findtext("ItemDetail/UnitPrice/Money")
        for item in root.iterfind("Message/PunchOutOrderMessage/ItemIn")
    }
    assert money_texts["7001"] == "48.05"
    assert money_texts["7002"] == "0.0125"


def test_unknown_sku_answers_400(client, shop):
    base = open_session(client, shop.connection)

    response = client.post(base + "cart/", {"sku": "NOPE-1", "quantity": "1"})

    assert response.status_code == 400
    assert b"Product &#x27;NOPE-1&#x27; is not in your catalog" in response.content


def test_quantity_zero_removes_line(client, shop):
    base = open_session(client, shop.connection)

    response = client.post(base + "cart/", {"sku": "5555", "quantity": "0"})

    assert response.status_code == 303
    assert CartLine.objects.count() == 0


def test_decimal_quantity_is_stored(client, shop):
    base = open_session(client, shop.connection)

    client.post(base + "cart/", {"sku": "4545321", "quantity": "1.5"})

    assert CartLine.objects.get(product__sku="4545321").quantity == Decimal("1.500")


def test_return_with_line_no_longer_offered_answers_409(client, shop):
    base = open_session(client, shop.connection)
    shop.fixed.is_active = False
    shop.fixed.save()

    response = client.post(base + "return/")

    assert response.status_code == 409
    assert b"Product 5555 is no longer in your catalog" in response.content
    assert PunchOutSession.objects.get().state == PunchOutSession.State.OPEN


def test_return_to_host_removed_from_connection_answers_400(client, shop):
    base = open_session(client, shop.connection)
    shop.connection.allowed_return_hosts = "localhost"
    shop.connection.save()

    response = client.post(base + "return/")

    assert response.status_code == 400
    assert b"prominate-platform.com:443 is not allowed" in response.content
    assert PunchOutSession.objects.get().state == PunchOutSession.State.OPEN


def test_unknown_token_answers_404_page(client, db):
    response = client.get("/punchout/session/not-a-real-token/")

    assert response.status_code == 404
    assert b"This PunchOut link is unknown or was used already" in response.content


def test_expired_session_answers_410_page(client, shop):
    base = open_session(client, shop.connection)
    PunchOutSession.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    pages = [client.get(base), client.get(base + "cart/"), client.post(base + "cart/", {"sku": "5555", "quantity": 1})]

    assert [page.status_code for page in pages] == [410, 410, 410]
    assert b"This PunchOut session has expired" in pages[0].content
    assert PunchOutSession.objects.get().state == PunchOutSession.State.EXPIRED
    assert CartLine.objects.get().quantity == Decimal("2.000")


def test_contract_change_closes_session(client, shop):
    base = open_session(client, shop.connection)
    ContractFactory(customer=shop.customer, valid_from=dt.date(2021, 1, 1), valid_to=None)

    pages = [client.get(base), client.get(base + "cart/"), client.post(base + "return/")]

    assert [page.status_code for page in pages] == [410, 410, 410]
    assert b"The contract of this PunchOut session has changed" in pages[0].content
    assert PunchOutSession.objects.get().return_count == 0


def test_inactive_connection_closes_session(client, shop):
    base = open_session(client, shop.connection)
    BuyerConnection.objects.filter(pk=shop.connection.pk).update(is_active=False)

    response = client.get(base + "cart/")

    assert response.status_code == 410


def test_token_of_other_connection_cannot_see_cart(client, shop):
    other_customer = CustomerFactory(account_number="GLOBEX-002")
    ContractFactory(customer=other_customer, valid_from=dt.date(2020, 1, 1), valid_to=None)
    other_connection = BuyerConnectionFactory(
        customer=other_customer, from_identity="AN02000000002", allowed_return_hosts="prominate-platform.com"
    )
    mine = open_session(client, shop.connection)
    theirs = open_session(client, other_connection)
    client.post(mine + "cart/", {"sku": "4545321", "quantity": "7"})

    other_cart = client.get(theirs + "cart/")

    assert other_cart.status_code == 200
    assert b"Task chair" not in other_cart.content
    assert other_cart.content.count(b'data-sku="5555"') == 1
    other_lines = PunchOutSession.objects.get(connection=other_connection).lines
    assert sorted(other_lines.values_list("product__sku", flat=True)) == ["5555", "6666"]


def test_shop_pages_allow_framing_by_return_hosts(client, shop):
    base = open_session(client, shop.connection)

    response = client.get(base)

    assert "X-Frame-Options" not in response
    directives = [part.strip() for part in response["Content-Security-Policy"].split(";")]
    assert "frame-ancestors 'self' localhost:* 127.0.0.1:* prominate-platform.com:* *.ariba.com:443" in directives
    assert "script-src 'self'" in directives
    assert "no-store" in response["Cache-Control"]


def test_admin_keeps_frame_deny(client, db):
    response = client.get("/admin/login/")

    assert response["X-Frame-Options"] == "DENY"


def test_shop_pages_set_no_cookies(client, shop):
    start_page = open_start_page(client, shop.connection)
    base = session_path(start_page)

    responses = [client.get(start_page), client.post(base + "cart/", {"sku": "5555", "quantity": "1"})]

    assert [dict(response.cookies) for response in responses] == [{}, {}]


def _start_page_queries(client, base: str) -> int:
    with CaptureQueriesContext(db_connection) as queries:
        response = client.get(base)
    assert response.status_code == 200
    return len(queries)


def test_start_page_query_count_is_constant(client, shop):
    base = open_session(client, shop.connection)
    for index in range(3):
        product = ProductFactory(sku=f"CH-{index:03d}", category=shop.chairs)
        StockLevelFactory(product=product)
    # The first view fills the per-contract category cache.
    client.get(base)
    few = _start_page_queries(client, base)

    for index in range(3, 40):
        product = ProductFactory(sku=f"CH-{index:03d}", category=shop.chairs)
        StockLevelFactory(product=product)
        ContractPriceFactory(contract=shop.contract, product=product, price=Decimal("5.00"))
    many = _start_page_queries(client, base)

    assert few == many
    assert few == 9
