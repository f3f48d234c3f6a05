"""Accepted quotes in PunchOut carts: loading them, returning them by cXML and OCI, and the purchase order after."""

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from lxml import etree

from apps.api.quoting import quote_accept_by_partner
from apps.contracts.selectors import today_utc
from apps.core.xml import parse_xml
from apps.exceptions.models import CaseKind, ExceptionCase
from apps.orders.inputs import LineInput, OrderInput
from apps.orders.models import Order
from apps.orders.services import order_intake
from apps.punchout import oci, services
from apps.punchout.cxml.reader import read_header
from apps.punchout.cxml.validation import validate_document
from apps.punchout.errors import OCIValueTooLong, QuoteLineLocked, QuoteNotLoadable, SessionReadOnly
from apps.punchout.models import PunchOutSession
from apps.punchout.order_handlers import handle_order_request, returned_cart_for
from apps.punchout.order_request import connection_source
from apps.quotes.line_references import parse_quote_line_reference, quote_line_reference
from apps.quotes.models import Quote, QuoteEvent, QuoteStatus
from apps.quotes.services import LineRequest, quote_accept, quote_create, quote_send, quote_submit
from tests.factories import ContractFactory, ContractPriceFactory, CustomerFactory, UserFactory
from tests.punchout.support import OCI_PASSWORD, OCI_URL, Catalog, open_session, return_form

HOOK_URL = "https://srm.example.com:8443/sap/bc/gui/sap/its/bbpsc02?sap-client=100"


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    """Pages here are rendered, so static files come from the finders."""


@pytest.fixture
def catalog(db):
    catalog = Catalog()
    catalog.customer.credit_limit = Decimal("100000")
    catalog.customer.save(update_fields=["credit_limit"])
    return catalog


def make_quote(customer, *lines, accept: bool = True) -> Quote:
    """Create a quote as the system from (product, quantity, discount %) tuples, and take it to accepted."""
    sales = UserFactory(username=f"sales-{Quote.objects.count()}")
    quote = quote_create(
        actor=None,
        customer=customer,
        sales_person=sales,
        lines=[
            LineRequest(product=product, quantity=quantity, discount_percent=discount)
            for product, quantity, discount in lines
        ],
    )
    quote = quote_submit(quote=quote, actor=None)
    quote = quote_send(quote=quote, actor=None, email=False)
    if accept:
        quote = quote_accept(quote=quote, actor=None, convert=False)
    return quote


@pytest.fixture
def quote(catalog):
    """An accepted quote for 4 of 5555 at 10 % off the contract's 99.50 (89.55) and 2 of 4545321 at 72.00."""
    return make_quote(catalog.customer, (catalog.fixed, 4, Decimal("10")), (catalog.discounted, 2, Decimal("0")))


def session_of(path: str) -> PunchOutSession:
    """Return the session whose shop path the client was sent to, the newest one."""
    assert path.startswith("/punchout/session/")
    return PunchOutSession.objects.order_by("-pk").first()


# Loading --------------------------------------------------------------------


def test_load_adds_lines_at_quoted_prices(client, catalog, quote):
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    session = session_of(base)

    lines = services.cart_load_quote(session=session, quote=quote)

    assert [(line.product.sku, line.quantity) for line in lines] == [("5555", Decimal("4")), ("4545321", Decimal("2"))]
    assert [line.quoted_unit_price for line in lines] == [Decimal("89.5500"), Decimal("72.0000")]
    assert [line.auxiliary_id for line in lines] == [f"QUOTE:{quote.reference}:1", f"QUOTE:{quote.reference}:2"]
    pricing = services.price_session_lines(session=session, lines=lines)
    # The contract would price 4 of 5555 at 99.50; the cart keeps the quote's price.
    assert [priced.unit_price for priced in pricing.lines] == [Decimal("89.5500"), Decimal("72.0000")]


def test_api_accepted_quote_loads_into_cart(client, catalog):
    # Given: a sent quote that the partner accepts for an order to come through PunchOut
    sent = make_quote(catalog.customer, (catalog.fixed, 3, Decimal("0")), accept=False)
    accepted = quote_accept_by_partner(quote=sent, po_number="", create_order=False)
    session = session_of(open_session(client, catalog.connection, items_out=[], selected=False))

    # When
    lines = services.cart_load_quote(session=session, quote=accepted)

    # Then
    assert (accepted.status, accepted.order_id) == (QuoteStatus.ACCEPTED, None)
    assert [(line.product.sku, line.quantity) for line in lines] == [("5555", Decimal("3"))]


def test_edit_session_keeps_quote_lines(client, catalog, quote):
    reference = f"QUOTE:{quote.reference}:1"
    items = [("5555", reference, "4", "89.55"), ("5555", "QUOTE:QT-000000-00000000-V1:1", "1", "99.50")]

    base = open_session(client, catalog.connection, operation="edit", items_out=items, selected=False)

    first, second = session_of(base).lines.order_by("line_number")
    assert first.quote_reference == reference
    assert first.quoted_unit_price == Decimal("89.5500")
    assert first.quantity == Decimal("4")
    # A reference to no quote of this customer makes an ordinary line at the contract price.
    assert second.quote_line_id is None
    assert second.auxiliary_id == f"cartline-{second.pk}"


def test_load_rejects_unusable_quotes(client, catalog, quote):
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    session = session_of(base)
    sent = make_quote(catalog.customer, (catalog.fixed, 1, Decimal("0")), accept=False)
    expired = make_quote(catalog.customer, (catalog.fixed, 1, Decimal("0")))
    Quote.objects.filter(pk=expired.pk).update(valid_until=today_utc() - dt.timedelta(days=1))
    other_customer = CustomerFactory(account_number="OTHER-1", currency="EUR")
    other_contract = ContractFactory(customer=other_customer, valid_from=dt.date(2020, 1, 1), valid_to=None)
    ContractPriceFactory(contract=other_contract, product=catalog.fixed, price=Decimal("95.00"))
    foreign = make_quote(other_customer, (catalog.fixed, 1, Decimal("0")))
    converted = make_quote(catalog.customer, (catalog.fixed, 1, Decimal("0")))
    Quote.objects.filter(pk=converted.pk).update(status=QuoteStatus.CONVERTED)

    cases = [
        (sent, "only an accepted quote can be loaded"),
        (expired, "expired on"),
        (foreign, "is not one of your quotes"),
        (converted, "already converted to an order"),
    ]
    for unusable, message in cases:
        with pytest.raises(QuoteNotLoadable) as raised:
            services.cart_load_quote(session=session, quote=Quote.objects.get(pk=unusable.pk))
        assert message in raised.value.message, unusable.reference
        assert unusable.reference in raised.value.message
    assert not session.lines.exists()

    services.cart_load_quote(session=session, quote=quote)
    with pytest.raises(QuoteNotLoadable, match="already in the cart"):
        services.cart_load_quote(session=session, quote=quote)


def test_load_rejected_in_inspect_session(client, catalog, quote):
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    session = session_of(base)
    PunchOutSession.objects.filter(pk=session.pk).update(operation=PunchOutSession.Operation.INSPECT)
    session.refresh_from_db()

    with pytest.raises(SessionReadOnly):
        services.cart_load_quote(session=session, quote=quote)
    assert not session.lines.exists()


def test_quote_line_quantity_is_locked(client, catalog, quote):
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    session = session_of(base)
    services.cart_load_quote(session=session, quote=quote)

    with pytest.raises(QuoteLineLocked):
        services.cart_set_quantity(session=session, sku="5555", quantity="7", line_number=1)
    # A product added from the catalog makes its own line instead of joining the quote's.
    added = services.cart_set_quantity(session=session, sku="5555", quantity="1")
    removed = services.cart_set_quantity(session=session, sku="5555", quantity="0", line_number=1)

    assert added.line_number == 3
    assert added.quote_line_id is None
    assert removed is None
    assert list(session.lines.values_list("line_number", flat=True).order_by("line_number")) == [2, 3]


def test_quotes_page_lists_and_loads_quote(client, catalog, quote):
    base = open_session(client, catalog.connection, items_out=[], selected=False)

    page = client.get(base + "quotes/")
    loaded = client.post(base + "quotes/", {"quote": quote.reference})
    cart = client.get(base + "cart/")
    unknown = client.post(base + "quotes/", {"quote": "QT-000000-00000000-V1"})

    assert page.status_code == 200
    content = page.content.decode()
    assert quote.reference in content
    assert f'<button type="submit" aria-label="Load quote {quote.reference} into the cart">' in content
    # CSP: the page has no inline script or style.
    assert "<script" not in content
    assert "style=" not in content
    assert "<style" not in content
    assert loaded.status_code == 303
    assert loaded["Location"] == base + "cart/"
    assert f"QUOTE:{quote.reference}:1"[6:] in cart.content.decode()
    assert unknown.status_code == 409
    assert "is not one of your quotes" in unknown.content.decode()


def test_shop_pages_total_cart_at_quoted_prices(client, catalog, quote):
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    client.post(base + "quotes/", {"quote": quote.reference})

    # 4 x 89.55 + 2 x 72.00; the contract's prices would make 542.00.
    for path in ("", "product/5555/", "cart/", "quotes/"):
        content = client.get(base + path).content.decode()
        assert "Cart: 2 lines, 502.20" in " ".join(content.split()), path


# Cart return ----------------------------------------------------------------


def test_cxml_return_carries_quote_line_reference(client, catalog, quote):
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    client.post(base + "quotes/", {"quote": quote.reference})

    response = client.post(base + "return/")

    name, value = return_form(response)["fields"][0]
    assert name == "cxml-urlencoded"
    document = value.encode("utf-8")
    validate_document(document)
    items = [
        (
            item.findtext("ItemID/SupplierPartID"),
            item.findtext("ItemID/SupplierPartAuxiliaryID"),
            item.get("quantity"),
            item.findtext("ItemDetail/UnitPrice/Money"),
        )
        for item in parse_xml(document).iterfind("Message/PunchOutOrderMessage/ItemIn")
    ]
    assert items == [
        ("5555", f"QUOTE:{quote.reference}:1", "4", "89.55"),
        ("4545321", f"QUOTE:{quote.reference}:2", "2", "72.00"),
    ]


def test_oci_return_carries_ext_quote_fields(client, catalog, quote):
    login = client.post(
        OCI_URL, {"USERNAME": "acme-oci", "PASSWORD": OCI_PASSWORD, "HOOK_URL": HOOK_URL, "~TARGET": "_top"}
    )
    base = client.get(login["Location"])["Location"]
    client.post(base + "quotes/", {"quote": quote.reference})

    response = client.post(base + "return/")

    fields = dict(return_form(response)["fields"])
    assert fields["NEW_ITEM-EXT_QUOTE_ID[1]"] == quote.reference
    assert fields["NEW_ITEM-EXT_QUOTE_ITEM[1]"] == "1"
    assert fields["NEW_ITEM-EXT_QUOTE_ID[2]"] == quote.reference
    assert fields["NEW_ITEM-EXT_QUOTE_ITEM[2]"] == "2"
    assert fields["NEW_ITEM-PRICE[1]"] == "89.55"
    assert fields["NEW_ITEM-CUST_FIELD5[1]"].startswith("cartline-")
    names = [name for name, _ in return_form(response)["fields"] if name.endswith("[1]")]
    assert names.index("NEW_ITEM-EXT_QUOTE_ID[1]") < names.index("NEW_ITEM-EXT_PRODUCT_ID[1]")


def test_oci_quote_id_over_35_rejected():
    with pytest.raises(OCIValueTooLong):
        oci._quote_fields(quote_line_reference("QT-" + "A" * 33 + "-V1", 1))


def test_quote_line_reference_round_trip():
    assert parse_quote_line_reference("QUOTE:QT-261204-9F3A61C2-V2:3") == ("QT-261204-9F3A61C2-V2", 3)
    assert parse_quote_line_reference(" QUOTE:QT-261204-9F3A61C2-V2:3 ") == ("QT-261204-9F3A61C2-V2", 3)
    assert parse_quote_line_reference("QUOTE:QT-261204-9F3A61C2:3") is None
    assert parse_quote_line_reference("cartline-12") is None
    assert parse_quote_line_reference("QUOTE:QT-1-V1:x") is None


# Purchase order -------------------------------------------------------------


def purchase_order(
    catalog,
    quote,
    *,
    prices=("89.55", "72.00"),
    quantities=("4", "2"),
    document_id="po-q-1",
    po_number="PO-Q1",
    oci_style=False,
):
    """Take in the buyer's order for the quote's two lines, with the references a returned cart gives them."""
    lines = []
    for position, (sku, quantity, price) in enumerate(zip(("5555", "4545321"), quantities, prices, strict=True), 1):
        if oci_style:
            reference = {
                "supplier_part_auxiliary_id": "",
                "extrinsics": {"EXT_QUOTE_ID": quote.reference, "EXT_QUOTE_ITEM": str(position)},
            }
        else:
            reference = {"supplier_part_auxiliary_id": f"QUOTE:{quote.reference}:{position}"}
        lines.append(
            LineInput(
                line_number=str(position),
                sku=sku,
                quantity=quantity,
                unit="EA",
                unit_price=price,
                currency="EUR",
                **reference,
            )
        )
    request = OrderInput(
        channel="cxml",
        source=connection_source(catalog.connection),
        customer=catalog.customer,
        document_id=document_id,
        operation="new",
        po_number=po_number,
        currency="EUR",
        lines=tuple(lines),
    )
    cart = returned_cart_for(request=request, connection=catalog.connection)
    if cart is not None:
        request = dataclasses.replace(request, cart=cart)
    return order_intake(request=request)


def price_cases(order: Order):
    return list(ExceptionCase.objects.filter(kind=CaseKind.PRICE_MISMATCH, object_id=order.pk))


def test_order_at_quoted_prices_converts_quote(client, catalog, quote):
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    services.cart_load_quote(session=session_of(base), quote=quote)
    client.post(base + "return/")

    result = purchase_order(catalog, quote)

    assert result.ok, result.message
    order = result.order
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.CONVERTED
    assert quote.order_id == order.pk
    lines = list(order.lines.order_by("position"))
    assert [line.unit_price for line in lines] == [Decimal("89.5500"), Decimal("72.0000")]
    assert [line.price_source for line in lines] == ["quote", "quote"]
    assert price_cases(order) == []
    # The order matched its cart: no line counts as added.
    assert [change for change in order.cart_differences if change["change"] == "added"] == []


ORDER_REQUEST = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.069/cXML.dtd">
<cXML payloadID="{payload_id}" timestamp="2026-12-04T10:00:00+00:00">
  <Header>
    <From><Credential domain="{from_domain}"><Identity>{from_identity}</Identity></Credential></From>
    <To><Credential domain="{to_domain}"><Identity>{to_identity}</Identity></Credential></To>
    <Sender>
      <Credential domain="{from_domain}">
        <Identity>{from_identity}</Identity>
        <SharedSecret>test-shared-secret</SharedSecret>
      </Credential>
      <UserAgent>Procurement test</UserAgent>
    </Sender>
  </Header>
  <Request deploymentMode="production">
    <OrderRequest>
      <OrderRequestHeader orderID="PO-CX-1" orderDate="2026-12-04T10:00:00+00:00" type="new">
        <Total><Money currency="EUR">358.20</Money></Total>
        <BillTo><Address><Name xml:lang="en">Acme</Name></Address></BillTo>
      </OrderRequestHeader>
      {items}
    </OrderRequest>
  </Request>
</cXML>"""

ITEM_OUT = """<ItemOut quantity="{quantity}" lineNumber="{line}">
        <ItemID>
          <SupplierPartID>{sku}</SupplierPartID>
          <SupplierPartAuxiliaryID>{auxiliary_id}</SupplierPartAuxiliaryID>
        </ItemID>
        <ItemDetail>
          <UnitPrice><Money currency="EUR">{price}</Money></UnitPrice>
          <Description xml:lang="en">{sku}</Description>
          <UnitOfMeasure>EA</UnitOfMeasure>
          <Classification domain="UNSPSC">56101504</Classification>
        </ItemDetail>
      </ItemOut>"""


def test_cxml_order_request_converts_quote(client, catalog, quote):
    base = open_session(client, catalog.connection, items_out=[], selected=False)
    client.post(base + "quotes/", {"quote": quote.reference})
    returned = parse_xml(return_form(client.post(base + "return/"))["fields"][0][1].encode("utf-8"))
    # The procurement system echoes each ItemIn's SupplierPartAuxiliaryID in its ItemOut.
    items = "".join(
        ITEM_OUT.format(
            line=line,
            sku=item.findtext("ItemID/SupplierPartID"),
            auxiliary_id=item.findtext("ItemID/SupplierPartAuxiliaryID"),
            quantity=item.get("quantity"),
            price=item.findtext("ItemDetail/UnitPrice/Money"),
        )
        for line, item in enumerate(returned.iterfind("Message/PunchOutOrderMessage/ItemIn"), start=1)
    )
    connection = catalog.connection
    data = ORDER_REQUEST.format(
        payload_id="po-cxml-quote-1@buyer",
        from_domain=connection.from_domain,
        from_identity=connection.from_identity,
        to_domain=connection.to_domain,
        to_identity=connection.to_identity,
        items=items,
    ).encode("utf-8")
    validate_document(data)
    root = parse_xml(data)

    answer = parse_xml(handle_order_request(root=root, header=read_header(root), connection=connection, body=data))

    assert answer.find("Response/Status").get("code") == "200", etree.tostring(answer)
    order = Order.objects.get(po_number="PO-CX-1")
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.CONVERTED
    assert quote.order_id == order.pk
    assert [line.price_source for line in order.lines.order_by("position")] == ["quote", "quote"]
    assert price_cases(order) == []
    assert [change for change in order.cart_differences if change["change"] == "added"] == []


def test_order_price_other_than_quote_opens_case(catalog, quote):
    result = purchase_order(catalog, quote, prices=("99.50", "72.00"))

    order = result.order
    (case,) = price_cases(order)
    assert Decimal(case.facts["our_price"]) == Decimal("89.55")
    assert Decimal(case.facts["buyer_price"]) == Decimal("99.50")
    assert f"quote {quote.reference} line 1" in case.facts["reason"]
    assert order.lines.get(position=1).unit_price == Decimal("89.5500")
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.CONVERTED
    assert quote.order_id == order.pk


def test_order_above_quoted_quantity_opens_case(catalog, quote):
    result = purchase_order(catalog, quote, quantities=("5", "2"))

    (case,) = price_cases(result.order)
    assert case.facts["reason"] == f"quantity 5 is above the 4 of quote {quote.reference} line 1"
    assert Decimal(case.facts["our_price"]) == Decimal("99.50")
    # Line 2 still took the quote's price, so the quote is converted to the order.
    assert result.order.lines.get(position=2).price_source == "quote"
    quote.refresh_from_db()
    assert quote.order_id == result.order.pk


def test_order_replay_converts_quote_once(catalog, quote):
    first = purchase_order(catalog, quote)
    replay = purchase_order(catalog, quote)
    second = purchase_order(catalog, quote, document_id="po-q-2", po_number="PO-Q2")

    assert replay.replayed
    assert replay.order.pk == first.order.pk
    quote.refresh_from_db()
    assert quote.order_id == first.order.pk
    assert QuoteEvent.objects.filter(quote=quote, event="quote.converted").count() == 1
    # A second purchase order for the converted quote does not get its prices.
    reasons = sorted(case.facts["reason"] for case in price_cases(second.order))
    assert reasons == [f"quote {quote.reference} was converted to an order already"] * 2


def test_oci_order_with_quote_extrinsics_converts_quote(catalog, quote):
    result = purchase_order(catalog, quote, oci_style=True)

    quote.refresh_from_db()
    assert quote.status == QuoteStatus.CONVERTED
    assert quote.order_id == result.order.pk
    assert price_cases(result.order) == []
    assert [line.unit_price for line in result.order.lines.order_by("position")] == [
        Decimal("89.5500"),
        Decimal("72.0000"),
    ]


def test_test_mode_order_does_not_convert_quote(catalog, quote):
    request_lines = (
        LineInput(line_number="1", sku="5555", quantity="4", unit="EA", unit_price="89.55", currency="EUR",
                  supplier_part_auxiliary_id=f"QUOTE:{quote.reference}:1"),
    )  # fmt: skip
    result = order_intake(
        request=OrderInput(
            channel="cxml",
            source=connection_source(catalog.connection),
            customer=catalog.customer,
            document_id="po-test-1",
            operation="new",
            po_number="PO-T1",
            currency="EUR",
            is_test=True,
            lines=request_lines,
        )
    )

    quote.refresh_from_db()
    assert result.order.is_test
    assert quote.status == QuoteStatus.ACCEPTED
    assert quote.order_id is None
