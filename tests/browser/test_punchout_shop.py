"""Drive the PunchOut shop in Chromium, framed by a simulated procurement system on 127.0.0.1."""

import datetime as dt
import urllib.request
from decimal import Decimal
from urllib.parse import parse_qs, urlencode

import pytest
from django.test import override_settings

from apps.contracts.models import Contract
from apps.core.xml import parse_xml
from apps.punchout.cxml.validation import validate_document
from apps.punchout.models import BuyerConnection
from tests.browser.support import TIMEOUT_MS
from tests.factories import (
    BuyerConnectionFactory,
    CategoryFactory,
    ContractFactory,
    ContractPriceFactory,
    CustomerFactory,
    ProductFactory,
    StockLevelFactory,
)
from tests.punchout.support import setup_document

BUYER_COOKIE = "browser-cookie-<&>-Ünïcode"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _catalog():
    customer = CustomerFactory(account_number="ACME-001")
    chairs = CategoryFactory(code="CHAIRS", name="Chairs")
    contract = ContractFactory(
        customer=customer, valid_from=dt.date(2020, 1, 1), valid_to=None, assortment=Contract.Assortment.SELECTED
    )
    contract.categories.add(chairs)
    fixed = ProductFactory(sku="5555", name="Excelsior Desk Chair", category=chairs, list_price=Decimal("120.00"))
    ContractPriceFactory(contract=contract, product=fixed, price=Decimal("99.50"))
    discounted = ProductFactory(sku="4545321", name="Task chair", category=chairs, list_price=Decimal("80.00"))
    ContractPriceFactory(contract=contract, product=discounted, price=None, discount_percent=Decimal("10"))
    StockLevelFactory(product=fixed, on_hand=Decimal("12"))
    connection = BuyerConnectionFactory(customer=customer, from_identity="AN01000000001")
    return connection, fixed, discounted


def _post_setup_request(live_server_url: str, document: bytes) -> str:
    request = urllib.request.Request(  # noqa: S310 - the local live server's http URL
        f"{live_server_url}/punchout/cxml/", data=document, headers={"Content-Type": "text/xml"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local live server
        answer = parse_xml(response.read())
    assert answer.find("Response/Status").get("code") == "200"
    return answer.findtext("Response/PunchOutSetupResponse/StartPage/URL")


def test_shop_in_frame_returns_cart_to_procurement_system(
    live_server, procurement_system, chromium, plain_static_storage
):
    # given a buyer connection and a procurement system that frames the shop
    connection, _fixed, discounted = _catalog()
    return_url = f"http://127.0.0.1:{procurement_system.server_port}/return?session=42"

    with override_settings(PUBLIC_BASE_URL=live_server.url):
        start_url = _post_setup_request(
            live_server.url,
            setup_document(connection, buyer_cookie=BUYER_COOKIE, form_post_url=return_url, items_out=[]),
        )
        assert start_url.startswith(f"{live_server.url}/punchout/session/")
        procurement_system.start_url = start_url

        context = chromium.new_context()
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)

        # when the user searches, adds two products and returns the cart inside the frame
        page.goto(f"http://127.0.0.1:{procurement_system.server_port}/frame")
        shop = page.frame_locator("#shop")
        shop.locator("#shop-search-q").fill("chair")
        shop.get_by_role("button", name="Search").click()
        shop.locator('tr[data-sku="5555"] button[data-sku="5555"]').click()
        shop.get_by_role("heading", name="Cart").wait_for()
        shop.get_by_role("link", name="Continue shopping").click()
        shop.locator(f"#qty-{discounted.pk}").first.fill("2")
        shop.locator('button[data-sku="4545321"]').first.click()
        shop.get_by_role("heading", name="Cart").wait_for()
        assert shop.locator("td.total").inner_text() == "243.50 EUR"
        shop.locator('tr[data-sku="4545321"] input[inputmode="decimal"]').fill("3")
        shop.locator('tr[data-sku="4545321"]').get_by_role("button", name="Update").click()
        shop.locator("td.total").filter(has_text="315.50 EUR").wait_for()
        shop.locator("#return-cart").click()
        shop.locator("#received").wait_for()
        cookies = context.cookies()
        context.close()

    # then the form posted itself to the BrowserFormPost URL with a valid cart
    assert len(procurement_system.posts) == 1
    post = procurement_system.posts[0]
    assert post["path"] == "/return?session=42"
    assert post["content_type"] == "application/x-www-form-urlencoded"
    fields = parse_qs(post["body"].decode("ascii"), encoding="utf-8", strict_parsing=True)
    assert list(fields) == ["cxml-urlencoded"]
    document = fields["cxml-urlencoded"][0].encode("utf-8")
    validate_document(document)
    root = parse_xml(document)
    assert root.findtext("Message/PunchOutOrderMessage/BuyerCookie") == BUYER_COOKIE
    prices = {
        item.findtext("ItemID/SupplierPartID"): Decimal(item.findtext("ItemDetail/UnitPrice/Money"))
        for item in root.iterfind("Message/PunchOutOrderMessage/ItemIn")
    }
    assert prices == {"5555": Decimal("99.50"), "4545321": Decimal("72.00")}
    quantities = {
        item.findtext("ItemID/SupplierPartID"): item.get("quantity")
        for item in root.iterfind("Message/PunchOutOrderMessage/ItemIn")
    }
    assert quantities == {"5555": "1", "4545321": "3"}
    assert root.findtext("Message/PunchOutOrderMessage/PunchOutOrderMessageHeader/Total/Money") == "315.50"
    assert cookies == []


OCI_PASSWORD = "oci-browser-password"


def test_oci_shop_in_frame_posts_new_item_fields(live_server, procurement_system, chromium, plain_static_storage):
    # given an OCI connection and a procurement system that frames the OCI login URL
    connection, _fixed, _discounted = _catalog()
    ProductFactory(sku="OSLO-1", name="Stol Øresund", category=_fixed.category, list_price=Decimal("10.00"))
    oci = BuyerConnection(
        name="SRM",
        customer=connection.customer,
        protocol=BuyerConnection.Protocol.OCI,
        oci_username="acme-oci",
        allowed_return_hosts="127.0.0.1",
    )
    oci.set_oci_password(OCI_PASSWORD)
    oci.save()
    hook = f"http://127.0.0.1:{procurement_system.server_port}/hook?sap-client=100"
    procurement_system.start_url = f"{live_server.url}/punchout/oci/?" + urlencode(
        {
            "USERNAME": "acme-oci",
            "PASSWORD": OCI_PASSWORD,
            "HOOK_URL": hook,
            "~TARGET": "_top",
            "http_content_charset": "ISO-8859-1",
        }
    )

    with override_settings(PUBLIC_BASE_URL=live_server.url):
        context = chromium.new_context()
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)

        # when the user searches, adds two products, changes a quantity and returns the cart
        page.goto(f"http://127.0.0.1:{procurement_system.server_port}/frame")
        shop = page.frame_locator("#shop")
        shop.locator("#shop-search-q").fill("Stol")
        shop.get_by_role("button", name="Search").click()
        shop.locator('button[data-sku="OSLO-1"]').first.click()
        shop.get_by_role("heading", name="Cart").wait_for()
        shop.get_by_role("link", name="Continue shopping").click()
        shop.locator('button[data-sku="5555"]').first.click()
        shop.get_by_role("heading", name="Cart").wait_for()
        shop.locator('tr[data-sku="OSLO-1"] input[inputmode="decimal"]').fill("4")
        shop.locator('tr[data-sku="OSLO-1"]').get_by_role("button", name="Update").click()
        shop.locator("td.total").filter(has_text="139.50 EUR").wait_for()
        shop.locator("#return-cart").click()
        page.locator("#received").wait_for()
        context.close()

    # then the hook received the OCI fields in ISO-8859-1, without the password anywhere
    assert len(procurement_system.posts) == 1
    post = procurement_system.posts[0]
    assert post["path"] == "/hook"
    fields = parse_qs(post["body"].decode("ascii"), encoding="iso-8859-1", strict_parsing=True)
    assert fields["sap-client"] == ["100"]
    assert fields["~OkCode"] == ["ADDI"]
    assert fields["NEW_ITEM-DESCRIPTION[1]"] == ["Stol Øresund"]
    assert fields["NEW_ITEM-QUANTITY[1]"] == ["4"]
    assert fields["NEW_ITEM-PRICE[1]"] == ["10.00"]
    assert fields["NEW_ITEM-DESCRIPTION[2]"] == ["Excelsior Desk Chair"]
    assert fields["NEW_ITEM-PRICE[2]"] == ["99.50"]
    assert fields["NEW_ITEM-UNIT[2]"] == ["EA"]
    assert "NEW_ITEM-DESCRIPTION[3]" not in fields
    assert OCI_PASSWORD.encode() not in post["body"]
