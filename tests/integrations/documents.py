"""Documents a procurement system sends in the document log tests and the CI smoke test.

``order_request_from_cart`` turns a returned PunchOutOrderMessage into the
OrderRequest that a buyer's system sends after approval, with the Header of
the documented demo setup request (the demo connection's credentials).
"""

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path

from lxml import etree

from apps.core.xml import parse_xml

REPOSITORY = Path(__file__).resolve().parent.parent.parent
SETUP_EXAMPLE = REPOSITORY / "docs" / "examples" / "punchout-setup-request.xml"
# The secrets of the demo data; no stored document or log line may contain one.
DEMO_SECRETS = (
    "demo-shared-secret",
    "demo-oci-secret",
    "demo-partner-key-acme",
    "demo-partner-key-globex",
    "demo-erp-key",
    "demo-pass-2026",
)
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_DTD = '<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.069/cXML.dtd">'


def setup_request(*, payload_id: str | None = None, shared_secret: str | None = None) -> bytes:
    """Return the documented demo setup request, with another payloadID or SharedSecret when given."""
    data = SETUP_EXAMPLE.read_bytes()
    if payload_id is None and shared_secret is None:
        return data
    root = parse_xml(data)
    if payload_id is not None:
        root.set("payloadID", payload_id)
    if shared_secret is not None:
        root.find("Header/Sender/Credential/SharedSecret").text = shared_secret
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def profile_request() -> bytes:
    """Return a ProfileRequest with the demo connection's Header."""
    root = _document("profile-1@buyer.test")
    request = etree.SubElement(root, "Request")
    etree.SubElement(request, "ProfileRequest")
    return _serialise(root)


def order_request_from_cart(cart_document: bytes, *, po_number: str, payload_id: str) -> bytes:
    """Return an OrderRequest for the lines of a returned cart, each line keeping its cart reference."""
    message = parse_xml(cart_document).find("Message/PunchOutOrderMessage")
    root = _document(payload_id)
    request = etree.SubElement(root, "Request")
    order = etree.SubElement(request, "OrderRequest")
    header = etree.SubElement(order, "OrderRequestHeader", orderID=po_number, orderDate=_now(), type="new")
    header.append(copy.deepcopy(message.find("PunchOutOrderMessageHeader/Total")))
    bill_to = etree.SubElement(etree.SubElement(header, "BillTo"), "Address")
    etree.SubElement(bill_to, "Name", {_XML_LANG: "en"}).text = "Acme Industrial"
    for number, item_in in enumerate(message.iterfind("ItemIn"), start=1):
        item = etree.SubElement(order, "ItemOut", quantity=item_in.get("quantity"), lineNumber=str(number))
        item.append(copy.deepcopy(item_in.find("ItemID")))
        detail = copy.deepcopy(item_in.find("ItemDetail"))
        item.append(detail)
    return _serialise(root)


def staff_login(client, username: str):
    """Log a demo staff user in through the admin login form, as a person does, and return the client."""
    response = client.post("/admin/login/", {"username": username, "password": "demo-pass-2026", "next": "/admin/"})
    assert response.status_code == 302, response.content[:2000]
    return client


def order_request(lines: list[tuple[str, str, str]], *, po_number: str, payload_id: str, shared_secret: str) -> bytes:
    """Return an OrderRequest in EUR for (SupplierPartID, quantity, unit price) lines, units EA."""
    root = _document(payload_id, shared_secret=shared_secret)
    order = etree.SubElement(etree.SubElement(root, "Request"), "OrderRequest")
    header = etree.SubElement(order, "OrderRequestHeader", orderID=po_number, orderDate=_now(), type="new")
    total = sum(Decimal(quantity) * Decimal(price) for _sku, quantity, price in lines)
    etree.SubElement(etree.SubElement(header, "Total"), "Money", currency="EUR").text = str(total)
    bill_to = etree.SubElement(etree.SubElement(header, "BillTo"), "Address")
    etree.SubElement(bill_to, "Name", {_XML_LANG: "en"}).text = "Buyer"
    for number, (sku, quantity, price) in enumerate(lines, start=1):
        item = etree.SubElement(order, "ItemOut", quantity=quantity, lineNumber=str(number))
        etree.SubElement(etree.SubElement(item, "ItemID"), "SupplierPartID").text = sku
        detail = etree.SubElement(item, "ItemDetail")
        etree.SubElement(etree.SubElement(detail, "UnitPrice"), "Money", currency="EUR").text = price
        etree.SubElement(detail, "Description", {_XML_LANG: "en"}).text = sku
        etree.SubElement(detail, "UnitOfMeasure").text = "EA"
    return _serialise(root)


def _document(payload_id: str, *, shared_secret: str | None = None) -> etree._Element:
    setup = parse_xml(SETUP_EXAMPLE.read_bytes())
    root = etree.Element("cXML", payloadID=payload_id, timestamp=_now())
    root.set(_XML_LANG, "en-US")
    header = copy.deepcopy(setup.find("Header"))
    if shared_secret is not None:
        header.find("Sender/Credential/SharedSecret").text = shared_secret
    root.append(header)
    return root


def _serialise(root: etree._Element) -> bytes:
    body = etree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{_DTD}\n{body}'.encode()


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
