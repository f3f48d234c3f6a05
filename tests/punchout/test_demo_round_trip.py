"""The demo buyer connections from seed_demo complete the cXML create, edit, inspect and the OCI round trips."""

import base64
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from lxml import etree

from apps.core.xml import parse_xml
from apps.punchout.cxml.validation import validate_document
from apps.punchout.models import PunchOutSession
from tests.punchout.support import CXML_URL, OCI_URL, return_form, session_path

EXAMPLE = Path(settings.BASE_DIR) / "docs" / "examples" / "punchout-setup-request.xml"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _demo(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("seed_demo", stdout=StringIO())


def _setup(operation: str, items: list[etree._Element]) -> bytes:
    root = parse_xml(EXAMPLE.read_bytes())
    setup = root.find("Request/PunchOutSetupRequest")
    setup.set("operation", operation)
    for item in items:
        setup.append(item)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def _open(client, operation: str, items: list[etree._Element]) -> str:
    response = client.post(CXML_URL, data=_setup(operation, items), content_type="text/xml")
    url = parse_xml(response.content).findtext("Response/PunchOutSetupResponse/StartPage/URL")
    assert url, response.content
    return session_path(client.get(urlsplit(url).path)["Location"])


def _item_outs(document: bytes) -> list[etree._Element]:
    """Turn a cart's ItemIn elements into the ItemOut lines an edit or inspect request carries."""
    items = []
    for item_in in parse_xml(document).iterfind("Message/PunchOutOrderMessage/ItemIn"):
        item_out = etree.Element("ItemOut", quantity=item_in.get("quantity"))
        item_out.append(item_in.find("ItemID"))
        item_out.append(item_in.find("ItemDetail"))
        items.append(item_out)
    return items


def test_demo_cxml_create_edit_inspect(client):
    # given the demo cXML connection and the documented setup request
    base = _open(client, "create", [])
    catalog = client.get(base)
    first_sku = catalog.content.split(b'<tr data-sku="')[1].split(b'"')[0].decode()
    client.post(base + "cart/", {"sku": first_sku, "quantity": "2"})

    # when the cart is returned, edited and inspected
    returned = client.post(base + "return/")
    name, value = return_form(returned)["fields"][0]
    document = value.encode() if name == "cxml-urlencoded" else base64.b64decode(value)
    validate_document(document)
    assert parse_xml(document).find(".//PunchOutOrderMessageHeader").get("operationAllowed") == "edit"

    edit_base = _open(client, "edit", _item_outs(document))
    client.post(edit_base + "cart/", {"sku": first_sku, "line": "1", "quantity": "5"})
    edited = client.post(edit_base + "return/")
    name, value = return_form(edited)["fields"][0]
    edited_document = value.encode() if name == "cxml-urlencoded" else base64.b64decode(value)
    inspect_base = _open(client, "inspect", _item_outs(edited_document))
    inspect_cart = client.get(inspect_base + "cart/")

    # then each step worked on the demo data
    assert edited.status_code == 200
    assert parse_xml(edited_document).find(".//ItemIn").get("quantity") == "5"
    assert inspect_cart.status_code == 200
    assert b'id="return-cart"' not in inspect_cart.content
    assert list(PunchOutSession.objects.order_by("pk").values_list("operation", "state")) == [
        ("create", "returned"),
        ("edit", "returned"),
        ("inspect", "open"),
    ]


def test_demo_oci_round_trip(client):
    login = client.post(
        OCI_URL,
        {"USERNAME": "acme-oci", "PASSWORD": "demo-oci-secret", "HOOK_URL": "http://localhost:9000/hook?x=1"},
    )
    base = session_path(client.get(login["Location"])["Location"])
    catalog = client.get(base)
    first_sku = catalog.content.split(b'<tr data-sku="')[1].split(b'"')[0].decode()
    client.post(base + "cart/", {"sku": first_sku, "quantity": "1"})

    returned = client.post(base + "return/")

    form = return_form(returned)
    assert form["attrs"]["action"] == "http://localhost:9000/hook"
    assert ("x", "1") in form["fields"]
    assert ("NEW_ITEM-EXT_PRODUCT_ID[1]", first_sku) in form["fields"]
    assert ("NEW_ITEM-UNIT[1]", "BX") in form["fields"]
