import json
import logging
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from apps.catalog.models import UnitOfMeasure
from apps.punchout.models import BuyerPartNumber, BuyerUnit, PunchOutSession
from apps.punchout.oci import format_price, format_quantity, split_hook_url
from tests.factories import ProductFactory, UnitOfMeasureFactory
from tests.punchout.support import OCI_PASSWORD, OCI_URL, Catalog, return_form

HOOK_URL = "https://srm.example.com:8443/sap/bc/gui/sap/its/bbpsc02?sap-client=100&OCI_VERSION=5.0&~caller=x"


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    """Pages here are rendered, so static files come from the finders."""


@pytest.fixture
def catalog(db):
    return Catalog()


def _login(**extra) -> dict:
    return {"USERNAME": "acme-oci", "PASSWORD": OCI_PASSWORD, "HOOK_URL": HOOK_URL, "~TARGET": "_top", **extra}


def _open(client, **extra) -> str:
    """Log in by POST, follow both redirects and return the session's catalog path."""
    login = client.post(OCI_URL, _login(**extra))
    assert login.status_code == 303, login.content
    start = client.get(login["Location"])
    assert start.status_code == 303
    return start["Location"]


def _item(fields: list[tuple[str, str]], index: int) -> dict[str, str]:
    suffix = f"[{index}]"
    items = {name[len("NEW_ITEM-") : -len(suffix)]: value for name, value in fields if name.endswith(suffix)}
    items.update({name: value for name, value in fields if name.startswith(f"NEW_ITEM-LONGTEXT_{index}:")})
    return items


# Login ------------------------------------------------------------------------


def test_post_login_opens_session_on_clean_url(client, catalog):
    login = client.post(OCI_URL, _login())

    assert login.status_code == 303
    assert login["Referrer-Policy"] == "no-referrer"
    assert OCI_PASSWORD not in login["Location"]
    session = PunchOutSession.objects.get()
    assert session.connection == catalog.oci
    assert session.browser_form_post_url == "https://srm.example.com:8443/sap/bc/gui/sap/its/bbpsc02"
    assert session.oci_form_fields == [
        ["sap-client", "100"],
        ["OCI_VERSION", "5.0"],
        ["~caller", "x"],
        ["~OkCode", "ADDI"],
        ["~TARGET", "_top"],
        ["~CALLER", "CTLG"],
    ]


def test_get_login_redirects_to_url_without_password(client, catalog, caplog):
    caplog.set_level(logging.DEBUG)

    login = client.get(OCI_URL + "?" + urlencode(_login()))
    start = client.get(login["Location"])
    page = client.get(start["Location"])

    assert login.status_code == 303
    assert login["Referrer-Policy"] == "no-referrer"
    for response in (login, start):
        assert "PASSWORD" not in response["Location"]
        assert OCI_PASSWORD not in response["Location"]
    assert page.status_code == 200
    assert OCI_PASSWORD.encode() not in page.content
    assert OCI_PASSWORD not in caplog.text


def test_failed_get_login_redirects_and_counts(client, catalog, caplog):
    login = client.get(OCI_URL + "?" + urlencode(_login(PASSWORD="wrong-password")))
    page = client.get(login["Location"])

    assert login.status_code == 303
    assert login["Location"] == "/punchout/oci/?error=unauthorized"
    assert page.status_code == 401
    assert b"The OCI USERNAME or PASSWORD is invalid." in page.content
    assert "wrong-password" not in caplog.text
    assert catalog.oci.login_failures.get(client_address="127.0.0.1").failures == 1
    assert PunchOutSession.objects.count() == 0


def test_failed_logins_lock_the_connection(client, catalog, settings):
    settings.PUNCHOUT_LOGIN_MAX_FAILURES = 2
    client.post(OCI_URL, _login(PASSWORD="wrong-1"))
    client.post(OCI_URL, _login(PASSWORD="wrong-2"))

    locked = client.post(OCI_URL, _login())

    assert locked.status_code == 429
    assert b"Too many failed login attempts" in locked.content
    assert PunchOutSession.objects.count() == 0


def test_attacker_lockout_leaves_buyer_oci_login_open(client, catalog, settings):
    # given an attacker who knows the USERNAME and has used up the failures from its address
    settings.PUNCHOUT_LOGIN_MAX_FAILURES = 2
    client.post(OCI_URL, _login(PASSWORD="wrong-1"), REMOTE_ADDR="203.0.113.66")
    client.post(OCI_URL, _login(PASSWORD="wrong-2"), REMOTE_ADDR="203.0.113.66")

    # when the attacker and then the buyer's user log in with the right password
    attacker = client.post(OCI_URL, _login(), REMOTE_ADDR="203.0.113.66")
    buyer = client.post(OCI_URL, _login(), REMOTE_ADDR="198.51.100.7")

    # then only the attacker's address is locked
    assert attacker.status_code == 429
    assert buyer.status_code == 303
    assert PunchOutSession.objects.count() == 1
    assert list(catalog.oci.login_failures.values_list("client_address", "failures")) == [("203.0.113.66", 2)]


def test_multipart_post_without_boundary_answers_400(client, catalog):
    response = client.post(OCI_URL, data=b"garbage", content_type="multipart/form-data")

    assert response.status_code == 400
    assert b"The OCI form body is malformed" in response.content
    assert PunchOutSession.objects.count() == 0


@pytest.mark.parametrize(
    ("hook_url", "expected"),
    [
        ("https://evil.example.com/hook", b"HOOK_URL host evil.example.com:443 is not allowed"),
        ("https://srm.example.com/hook", b"HOOK_URL host srm.example.com:443 is not allowed"),
        ("ftp://srm.example.com:8443/hook", b"is not an absolute http or https URL"),
        ("", b"The request has no HOOK_URL"),
    ],
)
def test_hook_url_must_be_approved(client, catalog, hook_url, expected):
    response = client.post(OCI_URL, _login(HOOK_URL=hook_url))

    assert response.status_code == 400
    assert expected in response.content
    assert PunchOutSession.objects.count() == 0


def test_unknown_function_is_rejected(client, catalog):
    response = client.post(OCI_URL, _login(FUNCTION="DOWNLOADJSON"))

    assert response.status_code == 400
    assert b"FUNCTION &#x27;DOWNLOADJSON&#x27; is not supported" in response.content


# Cart return ------------------------------------------------------------------


def test_cart_return_posts_new_item_fields(client, catalog):
    # given a product with a long name, a fine price and a buyer part number
    long_name = "Ergonomic conference chair with armrests, black fabric, Größe Ø 60"
    fine = ProductFactory(
        sku="FINE-1", name=long_name, category=catalog.chairs, list_price=Decimal("0.0125"), unspsc="56101504"
    )
    BuyerPartNumber.objects.create(connection=catalog.oci, product=fine, buyer_part_id="MAT-77")
    base = _open(client, returntarget="catalogframe", http_content_charset="ISO-8859-1")
    client.post(base + "cart/", {"sku": "5555", "quantity": "2.5"})
    client.post(base + "cart/", {"sku": "FINE-1", "quantity": "1000"})

    # when the cart is returned
    response = client.post(base + "return/")

    # then the page is in ISO-8859-1 and posts the hook fields, then the items
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=iso-8859-1"
    assert "Größe Ø".encode("iso-8859-1") in response.content
    form = return_form(response, encoding="iso-8859-1")
    assert form["attrs"]["action"] == "https://srm.example.com:8443/sap/bc/gui/sap/its/bbpsc02"
    assert form["attrs"]["target"] == "catalogframe"
    assert form["attrs"]["accept-charset"] == "iso-8859-1"
    fields = form["fields"]
    assert fields[:6] == [
        ("sap-client", "100"),
        ("OCI_VERSION", "5.0"),
        ("~caller", "x"),
        ("~OkCode", "ADDI"),
        ("~TARGET", "_top"),
        ("~CALLER", "CTLG"),
    ]
    assert [name for name, _ in fields if name.endswith("[1]")] == [
        "NEW_ITEM-DESCRIPTION[1]",
        "NEW_ITEM-QUANTITY[1]",
        "NEW_ITEM-UNIT[1]",
        "NEW_ITEM-PRICE[1]",
        "NEW_ITEM-CURRENCY[1]",
        "NEW_ITEM-PRICEUNIT[1]",
        "NEW_ITEM-LEADTIME[1]",
        "NEW_ITEM-VENDORMAT[1]",
        "NEW_ITEM-MANUFACTMAT[1]",
        "NEW_ITEM-EXT_PRODUCT_ID[1]",
        "NEW_ITEM-EXT_SCHEMA_TYPE[1]",
        "NEW_ITEM-EXT_CATEGORY_ID[1]",
        "NEW_ITEM-CUST_FIELD4[1]",
        "NEW_ITEM-CUST_FIELD5[1]",
    ]
    first = _item(fields, 1)
    assert first["DESCRIPTION"] == "Excelsior Desk Chair"
    assert first["QUANTITY"] == "2.5"
    assert first["UNIT"] == "EA"
    assert first["PRICE"] == "99.50"
    assert first["CURRENCY"] == "EUR"
    assert first["PRICEUNIT"] == "1"
    assert first["LEADTIME"] == "3"
    assert first["VENDORMAT"] == "5555"
    assert first["MANUFACTMAT"] == "EX-CH-01"
    assert first["EXT_PRODUCT_ID"] == "5555"
    assert first["CUST_FIELD4"] == catalog.contract.number
    second = _item(fields, 2)
    assert second["DESCRIPTION"] == long_name[:40]
    assert len(second["DESCRIPTION"]) == 40
    assert second["NEW_ITEM-LONGTEXT_2:132[]"] == long_name
    assert second["MATNR"] == "MAT-77"
    assert second["QUANTITY"] == "1000"
    assert second["PRICE"] == "1.25"
    assert second["PRICEUNIT"] == "100"
    assert second["EXT_CATEGORY_ID"] == "56101504"
    assert not any(name.endswith("[3]") for name, _ in fields)
    assert PunchOutSession.objects.get().state == PunchOutSession.State.RETURNED


def test_unmapped_unit_stops_transfer(client, catalog):
    # XBX (box) is a Recommendation 21 package code, loaded by the catalog's unit migration.
    box = UnitOfMeasureFactory(code="XBX", source=UnitOfMeasure.Source.REC21)
    ProductFactory(sku="BOX-1", name="Box of screws", category=catalog.chairs, unit=box)
    base = _open(client)
    client.post(base + "cart/", {"sku": "BOX-1", "quantity": "1"})

    refused = client.post(base + "return/")

    assert refused.status_code == 409
    assert b"Unit XBX (Box) has no ISO code that SAP takes; the cart was not sent." in refused.content
    assert PunchOutSession.objects.get().state == PunchOutSession.State.OPEN

    BuyerUnit.objects.create(connection=catalog.oci, unit=box, buyer_code="BX")
    accepted = client.post(base + "return/")

    assert accepted.status_code == 200
    assert _item(return_form(accepted)["fields"], 1)["UNIT"] == "BX"


# Functions --------------------------------------------------------------------


def test_detail_shows_product_read_only(client, catalog):
    login = client.post(OCI_URL, _login(FUNCTION="DETAIL", PRODUCTID="5555"))
    start = client.get(login["Location"])
    page = client.get(start["Location"])

    assert start["Location"].endswith("/product/5555/")
    assert page.status_code == 200
    assert b"<h1>Excelsior Desk Chair</h1>" in page.content
    assert b'name="quantity"' not in page.content
    assert PunchOutSession.objects.get().operation == PunchOutSession.Operation.DETAIL


def test_validate_answers_on_called_url_and_submits(client, catalog):
    response = client.post(OCI_URL, _login(FUNCTION="VALIDATE", PRODUCTID="5555", QUANTITY="10"))

    assert response.status_code == 200
    form = return_form(response)
    assert form["attrs"]["data-auto-submit"] == "1"
    item = _item(form["fields"], 1)
    assert item["QUANTITY"] == "10"
    assert item["PRICE"] == "89.00"
    assert OCI_PASSWORD.encode() not in response.content
    assert PunchOutSession.objects.count() == 0


def test_background_search_lists_hits_without_submitting(client, catalog):
    response = client.get(OCI_URL + "?" + urlencode(_login(FUNCTION="BACKGROUND_SEARCH", SEARCHSTRING="chair")))

    assert response.status_code == 200
    form = return_form(response)
    assert "data-auto-submit" not in form["attrs"]
    skus = [value for name, value in form["fields"] if name.startswith("NEW_ITEM-EXT_PRODUCT_ID")]
    assert skus == ["4545321", "5555"]
    assert b"static/punchout/return.js" not in response.content
    assert OCI_PASSWORD.encode() not in response.content


def test_quantity_check_answers_json(client, catalog):
    response = client.post(OCI_URL, _login(FUNCTION="QUANTITYCHECK", EXT_PRODUCT_ID="5555", QUANTITY="20"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "EXT_PRODUCT_ID": "5555",
        "QUANTITY": "20",
        "AVAILABLE_QUANTITY": "12",
        "LEADTIME": "3",
    }


def test_quantity_check_of_unknown_product_answers_json_error(client, catalog):
    response = client.post(OCI_URL, _login(FUNCTION="QUANTITYCHECK", EXT_PRODUCT_ID="6666"))

    assert response.status_code == 400
    assert json.loads(response.content)["CODE"] == "product_not_available"


# Formats ----------------------------------------------------------------------


def test_split_hook_url_keeps_blank_and_repeated_parameters():
    assert split_hook_url("http://127.0.0.1:8080/hook?a=1&b=&a=2#frag") == (
        "http://127.0.0.1:8080/hook",
        [("a", "1"), ("b", ""), ("a", "2")],
    )


@pytest.mark.parametrize(
    ("price", "currency", "expected"),
    [
        (Decimal("99.5"), "EUR", ("99.50", "1")),
        (Decimal("0.0125"), "EUR", ("1.25", "100")),
        (Decimal("1234567.89"), "EUR", ("1234567.89", "1")),
        (Decimal("120"), "JPY", ("120", "1")),
        (Decimal("0.5"), "JPY", ("5", "10")),
    ],
)
def test_format_price_picks_price_unit(price, currency, expected):
    assert format_price(price, currency) == expected


def test_format_quantity_has_no_separator_or_padding():
    assert format_quantity(Decimal("12345.500")) == "12345.5"
    assert format_quantity(Decimal("3")) == "3"


def test_login_without_trailing_slash_is_served(client, catalog):
    response = client.post("/punchout/oci", _login())

    assert response.status_code == 303
    assert PunchOutSession.objects.count() == 1
