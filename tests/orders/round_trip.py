"""An order's whole way against a running server, with a buyer's procurement system simulated on 127.0.0.1.

The demo cXML buyer connection (from ``seed_demo``) opens a PunchOut
session over HTTP, puts a product in the cart and takes the cart back. An
OrderRequest built from that PunchOutOrderMessage goes to ``/punchout/cxml/``
and is taken in, checked, confirmed and allocated. The ERP's shipment, invoice
and payment are then recorded through the order services, in this process
and against the server's database. The buyer server receives a document for
each step, and each is validated against its cXML DTD.

By hand, against the server that ``make run`` starts (same environment, so
that this process uses the server's database)::

    .venv/bin/python -m tests.orders.round_trip --base-url http://127.0.0.1:8000

This points the demo connection's order documents at a buyer server on a
free port of 127.0.0.1 for as long as the script runs, and puts them back
afterwards.
"""

import argparse
import base64
import contextlib
import datetime as dt
import html.parser
import os
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from apps.core.xml import parse_xml

EXAMPLE_SETUP = Path(__file__).resolve().parents[2] / "docs" / "examples" / "punchout-setup-request.xml"
DEMO_ACCOUNT = "ACME-001"
# Documents the buyer receives, in order, for an order that is shipped, invoiced and paid in one go.
EXPECTED_DOCUMENTS = ["ConfirmationRequest", "ShipNoticeRequest", "InvoiceDetailRequest", "StatusUpdateRequest"]
TIMEOUT_SECONDS = 30


@dataclass
class RoundTrip:
    """What one round trip did: the cart document, the order, and the documents the buyer received."""

    cart: bytes = b""
    order_request: bytes = b""
    intake_status: str = ""
    order_number: str = ""
    received: list[bytes] = field(default_factory=list)


def run_round_trip(*, base_url: str, buyer, po_number: str, quantity: int = 2) -> RoundTrip:
    """Run the round trip against ``base_url``; ``buyer`` is a started BuyerServer that the documents reach."""
    from django.db import transaction

    from apps.orders.models import Order
    from apps.orders.services import invoice_record, payment_record, shipment_record

    trip = place_punchout_order(base_url=base_url, return_url=buyer.url, po_number=po_number, quantity=quantity)

    if transaction.get_connection().in_atomic_block:
        # The documents of the ERP's steps are sent when their transaction commits, which an open one delays.
        raise RuntimeError("Run the round trip outside a transaction: its documents would wait for that commit.")
    order = Order.objects.get(customer__account_number=DEMO_ACCOUNT, po_number=po_number, is_test=False)
    trip.order_number = order.number
    lines = [(line.line_number, line.quantity) for line in order.lines.order_by("position")]
    shipment_record(
        order=order,
        shipment_id=f"SHIP-{po_number}",
        lines=lines,
        carrier="DHL",
        carrier_scac="DHLC",
        tracking_number="JD014600006281",
    )
    order.refresh_from_db()
    invoice = invoice_record(
        order=order,
        number=f"INV-{po_number}",
        lines=lines,
        # No tax from the ERP: the invoice gets ours, computed like the order's.
        tax=None,
        due_date=dt.date.today() + dt.timedelta(days=30),
    )
    payment_record(invoice=invoice, payment_id=f"PAY-{po_number}", amount=str(invoice.total))
    buyer.wait_for(len(EXPECTED_DOCUMENTS), timeout=TIMEOUT_SECONDS)
    trip.received = list(buyer.received)
    return trip


def place_punchout_order(
    *, base_url: str, return_url: str, po_number: str, quantity: int = 2, sku: str | None = None
) -> RoundTrip:
    """Shop ``sku`` (else the catalog's first product) in a demo PunchOut session and send the cart as an order.

    Returns the trip with the cart, the OrderRequest and the intake's status; raises RuntimeError unless
    the order was taken in.
    """
    trip = RoundTrip()
    session_url = _open_session(base_url, return_url=return_url)
    sku = sku or _first_sku(_get(session_url))
    _post_form(urllib.parse.urljoin(session_url, "cart/"), {"sku": sku, "quantity": str(quantity)})
    trip.cart = _returned_cart(_post_form(urllib.parse.urljoin(session_url, "return/"), {}))

    trip.order_request = order_request_from_cart(trip.cart, po_number=po_number)
    answer = _post_xml(urllib.parse.urljoin(base_url, "/punchout/cxml/"), trip.order_request)
    status = parse_xml(answer).find("Response/Status")
    trip.intake_status = f"{status.get('code')} {(status.text or '').strip()}"
    if status.get("code") != "200":
        raise RuntimeError(f"The OrderRequest was not taken in: {trip.intake_status}")
    return trip


def order_request_from_cart(cart: bytes, *, po_number: str) -> bytes:
    """Build the OrderRequest that a procurement system sends for an approved cart.

    It carries the demo connection's credentials, the cart's total, and one
    ItemOut per ItemIn, which keeps our cart-line reference.
    """
    message = parse_xml(cart).find("Message/PunchOutOrderMessage")
    setup = parse_xml(EXAMPLE_SETUP.read_bytes())

    root = etree.Element(
        "cXML",
        payloadID=f"order-{po_number}@procurement.acme.example",
        timestamp=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    )
    root.append(setup.find("Header"))

    request = etree.SubElement(root, "Request")
    order_request = etree.SubElement(request, "OrderRequest")
    header = etree.SubElement(
        order_request,
        "OrderRequestHeader",
        orderID=po_number,
        orderDate=root.get("timestamp"),
        type="new",
    )
    header.append(message.find("PunchOutOrderMessageHeader/Total"))
    bill_to = etree.SubElement(etree.SubElement(header, "BillTo"), "Address")
    etree.SubElement(bill_to, "Name", {"{http://www.w3.org/XML/1998/namespace}lang": "en"}).text = "Acme Corp"

    for number, item_in in enumerate(message.iterfind("ItemIn"), start=1):
        item_out = etree.SubElement(order_request, "ItemOut", quantity=item_in.get("quantity"), lineNumber=str(number))
        item_out.append(item_in.find("ItemID"))
        item_out.append(item_in.find("ItemDetail"))

    return etree.tostring(
        root.getroottree(),
        xml_declaration=True,
        encoding="UTF-8",
        doctype='<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.069/cXML.dtd">',
    )


def _open_session(base_url: str, *, return_url: str) -> str:
    """Post the example setup request with ``return_url`` as BrowserFormPost; return the session's catalog URL."""
    setup = parse_xml(EXAMPLE_SETUP.read_bytes())
    setup.find("Request").attrib.pop("deploymentMode", None)
    setup.find("Request/PunchOutSetupRequest/BrowserFormPost/URL").text = return_url
    document = etree.tostring(setup.getroottree(), xml_declaration=True, encoding="UTF-8")
    answer = _post_xml(urllib.parse.urljoin(base_url, "/punchout/cxml/"), document)
    start_page = parse_xml(answer).findtext("Response/PunchOutSetupResponse/StartPage/URL")
    if not start_page:
        raise RuntimeError(f"The setup request got no StartPage: {answer[:500]!r}")
    # The StartPage URL carries the server's PUBLIC_BASE_URL; the path is reached on base_url.
    start_url = urllib.parse.urljoin(base_url, urllib.parse.urlsplit(start_page).path)
    with urllib.request.urlopen(start_url, timeout=TIMEOUT_SECONDS) as page:  # noqa: S310 - a local test server
        return re.match(r"^(.*/punchout/session/[^/]+/)", page.url).group(1)


def _first_sku(page: bytes) -> str:
    match = re.search(rb'<tr data-sku="([^"]+)"', page)
    if match is None:
        raise RuntimeError("The session's catalog page lists no product.")
    return match.group(1).decode()


def _returned_cart(page: bytes) -> bytes:
    """Return the PunchOutOrderMessage from the return page's form field."""
    fields = _FormFields()
    fields.feed(page.decode("utf-8"))
    if "cxml-base64" in fields.values:
        return base64.b64decode(fields.values["cxml-base64"])
    return fields.values["cxml-urlencoded"].encode("utf-8")


class _FormFields(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and attributes.get("name"):
            self.values[attributes["name"]] = attributes.get("value") or ""


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - a local test server
        return response.read()


def _post_form(url: str, data: dict) -> bytes:
    body = urllib.parse.urlencode(data).encode()
    with urllib.request.urlopen(url, data=body, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - as above
        return response.read()


def _post_xml(url: str, document: bytes) -> bytes:
    request = urllib.request.Request(  # noqa: S310 - as above
        url, data=document, headers={"Content-Type": "text/xml; charset=UTF-8"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - as above
        return response.read()


@contextlib.contextmanager
def demo_documents_sent_to(url: str) -> Iterator[None]:
    """Point the demo cXML connection's order documents at ``url`` for the block, then put them back."""
    from apps.orders.models import OutboundEndpoint
    from apps.punchout.models import BuyerConnection
    from apps.punchout.order_request import connection_source

    connection = BuyerConnection.objects.get(customer__account_number=DEMO_ACCOUNT, protocol="cxml")
    source = connection_source(connection)
    endpoint = OutboundEndpoint.objects.filter(source=source).first()
    previous = (endpoint.url, endpoint.is_active) if endpoint is not None else None
    endpoint = endpoint or OutboundEndpoint(source=source)
    endpoint.url, endpoint.is_active = url, True
    endpoint.save()
    try:
        yield
    finally:
        if previous is None:
            endpoint.delete()
        else:
            endpoint.url, endpoint.is_active = previous
            endpoint.save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the running server's URL")
    parser.add_argument("--po-number", default=f"RT-{dt.datetime.now():%Y%m%d%H%M%S}", help="the PO number to use")
    options = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from apps.punchout.cxml.validation import validate_document
    from tests.orders.buyer_server import BuyerServer

    with BuyerServer() as buyer, demo_documents_sent_to(buyer.url):
        trip = run_round_trip(base_url=options.base_url, buyer=buyer, po_number=options.po_number)
    print(f"OrderRequest {options.po_number}: {trip.intake_status}; order {trip.order_number}")
    for body in trip.received:
        validate_document(body)
        name = next(iter(parse_xml(body).find("Request"))).tag
        print(f"received {name} ({len(body)} bytes), valid against its DTD")


if __name__ == "__main__":
    main()
