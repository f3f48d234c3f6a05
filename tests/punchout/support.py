"""Helpers shared by the PunchOut flow tests: a small contract catalog, setup documents and form parsing."""

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import urlsplit

from lxml import etree

from apps.contracts.models import Contract
from apps.core.xml import parse_xml
from apps.orders.inputs import LineInput, OrderInput
from apps.orders.services import order_intake
from apps.punchout.models import BuyerConnection
from apps.punchout.order_request import connection_source
from tests.factories import (
    BuyerConnectionFactory,
    CategoryFactory,
    ContractFactory,
    ContractPriceFactory,
    CustomerFactory,
    ProductFactory,
    StockLevelFactory,
    WarehouseFactory,
)
from tests.standards import SAMPLES

SETUP_SAMPLE = "cxml-posr-create-shipto-selecteditem-itemout.xml"
CXML_URL = "/punchout/cxml/"
OCI_URL = "/punchout/oci/"
OCI_PASSWORD = "oci-test-password"


class Catalog:
    """One customer whose contract offers the chairs category, a cXML and an OCI connection."""

    def __init__(self):
        self.customer = CustomerFactory(account_number="ACME-001")
        self.chairs = CategoryFactory(code="CHAIRS", name="Chairs")
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
            lead_time_days=3,
        )
        ContractPriceFactory(contract=self.contract, product=self.fixed, price=Decimal("99.50"))
        ContractPriceFactory(
            contract=self.contract, product=self.fixed, price=Decimal("89.00"), min_quantity=Decimal("10")
        )
        self.discounted = ProductFactory(
            sku="4545321", name="Task chair", category=self.chairs, list_price=Decimal("80.00")
        )
        ContractPriceFactory(
            contract=self.contract, product=self.discounted, price=None, discount_percent=Decimal("10")
        )
        self.hidden = ProductFactory(sku="6666", name="Standing desk", category=CategoryFactory(code="DESKS"))
        StockLevelFactory(product=self.fixed, on_hand=Decimal("12"))
        self.connection = BuyerConnectionFactory(
            customer=self.customer,
            from_identity="AN01000000001",
            allowed_return_hosts="localhost\n127.0.0.1\nprominate-platform.com\n[::1]",
        )
        self.oci = BuyerConnection(
            name="SRM",
            customer=self.customer,
            protocol=BuyerConnection.Protocol.OCI,
            oci_username="acme-oci",
            allowed_return_hosts="localhost\n127.0.0.1\nsrm.example.com:8443",
        )
        self.oci.set_oci_password(OCI_PASSWORD)
        self.oci.save()


def setup_document(
    connection: BuyerConnection,
    *,
    sample: str = SETUP_SAMPLE,
    operation: str | None = None,
    buyer_cookie: str | None = None,
    items_out: list[tuple[str, str, str, str]] | None = None,
    selected: bool = True,
    form_post_url: str | None = None,
    secret: str = "test-shared-secret",  # noqa: S107 -- the factory's test secret
    sender_domain: str | None = None,
    from_identity: str | None = None,
    to_identity: str | None = None,
) -> bytes:
    """Return a sample setup request with the connection's credentials in From, To and Sender.

    ``items_out`` replaces the sample's ItemOut lines with (SupplierPartID, auxiliary ID, quantity, unit price).
    The other options replace what the sample or the connection would put in the document.
    """
    root = parse_xml((SAMPLES / sample).read_bytes())
    for path, domain, identity in [
        ("Header/From/Credential", connection.from_domain, from_identity or connection.from_identity),
        ("Header/To/Credential", connection.to_domain, to_identity or connection.to_identity),
        ("Header/Sender/Credential", sender_domain or connection.sender_domain, connection.sender_identity),
    ]:
        credential = root.find(path)
        credential.set("domain", domain)
        credential.find("Identity").text = identity
    root.find("Header/Sender/Credential/SharedSecret").text = secret
    setup = root.find("Request/PunchOutSetupRequest")
    if operation is not None:
        setup.set("operation", operation)
    if buyer_cookie is not None:
        setup.find("BuyerCookie").text = buyer_cookie
    if form_post_url is not None:
        setup.find("BrowserFormPost/URL").text = form_post_url
    if not selected:
        setup.remove(setup.find("SelectedItem"))
    if items_out is not None:
        template = setup.find("ItemOut")
        for item in setup.findall("ItemOut"):
            setup.remove(item)
        for sku, auxiliary_id, quantity, price in items_out:
            item = etree.fromstring(etree.tostring(template))
            item.set("quantity", quantity)
            item.find("ItemID/SupplierPartID").text = sku
            auxiliary = item.find("ItemID/SupplierPartAuxiliaryID")
            if auxiliary is None:
                auxiliary = etree.Element("SupplierPartAuxiliaryID")
                item.find("ItemID/SupplierPartID").addnext(auxiliary)
            auxiliary.text = auxiliary_id
            item.find("ItemDetail/UnitPrice/Money").text = price
            setup.append(item)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def start_page_path(response) -> str:
    url = parse_xml(response.content).findtext("Response/PunchOutSetupResponse/StartPage/URL")
    assert url, response.content
    return urlsplit(url).path


def open_start_page(client, connection: BuyerConnection, **document_options) -> str:
    """Post a setup request, open its StartPage URL and return the page it redirects to."""
    response = client.post(CXML_URL, data=setup_document(connection, **document_options), content_type="text/xml")
    start = client.get(start_page_path(response))
    assert start.status_code == 303, start.content
    return start["Location"]


def open_session(client, connection: BuyerConnection, **document_options) -> str:
    """Post a setup request, open its StartPage URL and return the session's catalog path."""
    return session_path(open_start_page(client, connection, **document_options))


def session_path(page: str) -> str:
    """Return the session's catalog path, /punchout/session/<token>/, of any page of the session."""
    return re.match(r"^/punchout/session/[^/]+/", page).group(0)


def status_of(response) -> tuple[int, str]:
    status = parse_xml(response.content).find("Response/Status")
    return int(status.get("code")), (status.text or "").strip()


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": attributes, "fields": []})
        elif tag == "input" and self.forms and attributes.get("name"):
            self.forms[-1]["fields"].append((attributes["name"], attributes.get("value", "")))


def return_form(response, encoding: str = "utf-8") -> dict:
    """Return the return form's attributes and its fields as an ordered list of (name, value)."""
    parser = _Forms()
    parser.feed(response.content.decode(encoding))
    (form,) = [form for form in parser.forms if form["attrs"].get("id") == "punchout-return"]
    return form


def browser_form_value(value: str) -> str:
    """Return a form field value the way a browser posts it: every line break as CRLF."""
    return re.sub(r"\r\n|\r|\n", "\r\n", value)


def create_order_connection() -> BuyerConnection:
    """Create a cXML connection whose customer has credit and a contract price of 99.50 for CHAIR-1, 50 in stock."""
    customer = CustomerFactory(account_number="ACME-001", credit_limit=Decimal("100000"))
    contract = ContractFactory(customer=customer, valid_from=dt.date(2020, 1, 1), valid_to=None)
    product = ProductFactory(sku="CHAIR-1")
    ContractPriceFactory(contract=contract, product=product, price=Decimal("99.50"))
    StockLevelFactory(product=product, warehouse=WarehouseFactory(code="RTM"), on_hand=Decimal("50"))
    return BuyerConnectionFactory(customer=customer, from_identity="AN01000000001")


def place_order(
    connection: BuyerConnection,
    *,
    unit_price="99.50",
    quantity="2",
    document_id="po-doc-1@buyer",
    po_number="PO-77",
):
    """Take in a one-line cXML order for CHAIR-1 from the connection, as OrderRequest intake does."""
    return order_intake(
        request=OrderInput(
            channel="cxml",
            source=connection_source(connection),
            customer=connection.customer,
            document_id=document_id,
            operation="new",
            po_number=po_number,
            currency="EUR",
            lines=(LineInput(line_number="1", sku="CHAIR-1", quantity=quantity, unit="EA", unit_price=unit_price),),
        )
    )
