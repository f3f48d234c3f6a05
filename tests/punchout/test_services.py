import dataclasses
import datetime as dt
import hashlib
import logging
from decimal import Decimal

import pytest

from apps.contracts.models import Contract
from apps.punchout import services
from apps.punchout.cxml.documents import Credential
from apps.punchout.cxml.reader import Header, ItemOutLine, PunchOutSetupRequest
from apps.punchout.errors import (
    AuthenticationFailed,
    InvalidQuantity,
    NoContractInForce,
    OperationNotSupported,
    ProductNotAvailable,
)
from apps.punchout.models import CartLine, PunchOutSession
from tests.factories import BuyerConnectionFactory, ContractFactory, CustomerFactory, ProductFactory


@pytest.fixture
def connection(db):
    customer = CustomerFactory()
    ContractFactory(customer=customer, valid_from=dt.date(2020, 1, 1), valid_to=None)
    return BuyerConnectionFactory(customer=customer, from_identity="AN01000000001")


def header_for(connection, **changes) -> Header:
    header = Header(
        from_credentials=(Credential(connection.from_domain, connection.from_identity),),
        to_credentials=(Credential(connection.to_domain, connection.to_identity),),
        sender=Credential(connection.sender_domain, connection.sender_identity, "test-shared-secret"),
        user_agent="test",
        payload_id="payload-1",
        timestamp=None,
        deployment_mode="production",
        version="1.2.069",
    )
    return dataclasses.replace(header, **changes)


def setup_for(connection, **changes) -> PunchOutSetupRequest:
    request = PunchOutSetupRequest(
        header=header_for(connection),
        operation="create",
        buyer_cookie="cookie-1",
        browser_form_post_url="http://localhost:9000/return",
        supplier_setup_url=None,
        extrinsics={"UserEmail": "buyer@example.com"},
        user_email="buyer@example.com",
        ship_to=None,
        selected_item_part_id=None,
        items_out=(),
    )
    return dataclasses.replace(request, **changes)


def item_out(sku: str, quantity: str) -> ItemOutLine:
    return ItemOutLine(
        supplier_part_id=sku,
        supplier_part_auxiliary_id="",
        quantity=Decimal(quantity),
        line_number=None,
        unit_price=None,
        currency=None,
        description="",
        unit_of_measure="EA",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", Decimal("2")), (" 1.5 ", Decimal("1.5")), ("0", Decimal("0")), ("1000000", Decimal("1000000")),
     ("0.001", Decimal("0.001")), ("3.1000", Decimal("3.1")), (Decimal("4"), Decimal("4"))],
)  # fmt: skip
def test_parse_quantity_accepts(value, expected):
    assert services.parse_quantity(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [("abc", "is invalid"), ("-1", "is invalid"), ("1e9", "scientific notation, which is not accepted"),
     ("1E3", "scientific notation, which is not accepted"), ("2.5e-1", "scientific notation, which is not accepted"),
     ("\u0661\u0662", "contains digits other than 0 to 9"), ("1\uff15", "contains digits other than 0 to 9"),
     ("NaN", "is invalid"),
     ("1,5", "is invalid"), ("", "is invalid"), ("1000000.001", "above the maximum"),
     ("0.0001", "more than 3 decimals"), (Decimal("NaN"), "is invalid"), (1.5, "is a float")],
)  # fmt: skip
def test_parse_quantity_rejects(value, reason):
    with pytest.raises(InvalidQuantity, match=reason):
        services.parse_quantity(value)


def test_authenticate_returns_connection(connection):
    assert services.authenticate_cxml_sender(header=header_for(connection), client_address="192.0.2.10") == connection


@pytest.mark.parametrize(
    ("changes", "logged_reason"),
    [
        ({"sender": Credential("NetworkID", "AN09", "test-shared-secret")}, "no cXML connection has this Sender"),
        ({"sender": Credential("NetworkID", "AN01000000001", "wrong")}, "the shared secret does not match"),
        ({"sender": Credential("NetworkID", "AN01000000001", None)}, "the shared secret does not match"),
        ({"from_credentials": (Credential("NetworkID", "an01000000001"),)}, "no From credential matches"),
        ({"from_credentials": ()}, "no From credential matches"),
        ({"to_credentials": (Credential("NetworkID", "987654321"),)}, "no To credential matches"),
    ],
)
def test_authenticate_logs_failed_part_but_raises_one_message(connection, caplog, changes, logged_reason):
    caplog.set_level(logging.WARNING, logger="apps.punchout.services")

    with pytest.raises(AuthenticationFailed) as raised:
        services.authenticate_cxml_sender(header=header_for(connection, **changes), client_address="192.0.2.10")

    assert raised.value.code == "unauthorized"
    assert raised.value.message == "The Sender credential, shared secret, From or To credential is invalid."
    assert logged_reason in caplog.text
    assert "wrong" not in caplog.text
    assert "test-shared-secret" not in caplog.text


def test_authenticate_accepts_to_domain_in_other_case(connection):
    header = header_for(connection, to_credentials=(Credential("duns", "987654321"),))

    assert services.authenticate_cxml_sender(header=header, client_address="192.0.2.10") == connection


def test_authenticate_rejects_connection_without_secret(connection, caplog):
    connection.shared_secret_hash = ""
    connection.save()

    with pytest.raises(AuthenticationFailed):
        services.authenticate_cxml_sender(header=header_for(connection), client_address="192.0.2.10")

    assert "the connection has no shared secret set" in caplog.text


def test_session_open_stores_start_token_hash_only(connection):
    session, token = services.punchout_session_open(connection=connection, request=setup_for(connection))

    assert len(token) == 43
    assert session.token_hash is None
    assert session.start_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert session.buyer_cookie == "cookie-1"
    assert session.extrinsics == {"UserEmail": "buyer@example.com"}
    start_lifetime = session.start_expires_at - session.created_at
    assert dt.timedelta(minutes=4, seconds=55) <= start_lifetime <= dt.timedelta(minutes=5)
    idle_lifetime = session.expires_at - session.created_at
    assert dt.timedelta(minutes=119, seconds=55) <= idle_lifetime <= dt.timedelta(minutes=120)


def test_session_open_keeps_buyer_cookie_exactly(connection):
    cookie = "  spaced <&> cookie\twith tab  "

    session, _ = services.punchout_session_open(
        connection=connection, request=setup_for(connection, buyer_cookie=cookie)
    )

    session.refresh_from_db()
    assert session.buyer_cookie == cookie


def test_session_open_rejects_source_operation(connection):
    with pytest.raises(OperationNotSupported):
        services.punchout_session_open(connection=connection, request=setup_for(connection, operation="source"))

    assert PunchOutSession.objects.count() == 0


@pytest.mark.parametrize("operation", ["edit", "inspect"])
def test_session_open_rejects_edit_when_connection_forbids(connection, operation):
    connection.allow_edit_inspect = False
    connection.save()

    with pytest.raises(OperationNotSupported) as raised:
        services.punchout_session_open(connection=connection, request=setup_for(connection, operation=operation))

    assert raised.value.message.startswith(f"PunchOutSetupRequest operation '{operation}' is not enabled")
    assert PunchOutSession.objects.count() == 0


def test_session_open_rejects_pinned_contract_not_in_force(connection):
    connection.contract = ContractFactory(
        customer=connection.customer, status=Contract.Status.DRAFT, valid_from=dt.date(2020, 1, 1), valid_to=None
    )
    connection.save()

    with pytest.raises(NoContractInForce):
        services.punchout_session_open(connection=connection, request=setup_for(connection))


def test_session_open_adds_item_out_lines_one_by_one(connection, caplog):
    ProductFactory(sku="A-1")
    ProductFactory(sku="B-2")
    items = (item_out("A-1", "2"), item_out("UNKNOWN", "1"), item_out("B-2", "0.0001"), item_out("A-1", "1"))

    session, _ = services.punchout_session_open(connection=connection, request=setup_for(connection, items_out=items))

    assert list(session.lines.values_list("product__sku", "quantity", "line_number")) == [
        ("A-1", Decimal("2.000"), 1),
        ("A-1", Decimal("1.000"), 2),
    ]
    assert session.notices == [
        "Line 2 (product UNKNOWN) is not in your catalog any more and was left out.",
        "Line 3 (product B-2) was left out: Quantity '0.0001' has more than 3 decimals; round it.",
    ]
    assert "SupplierPartID is not a product the customer may buy" in caplog.text
    assert "more than 3 decimals" in caplog.text


def test_cart_set_quantity_numbers_lines_and_updates(connection):
    ProductFactory(sku="A-1")
    ProductFactory(sku="B-2")
    session, _ = services.punchout_session_open(connection=connection, request=setup_for(connection))

    services.cart_set_quantity(session=session, sku="A-1", quantity="1")
    services.cart_set_quantity(session=session, sku="B-2", quantity="2")
    services.cart_set_quantity(session=session, sku="A-1", quantity="5")

    assert list(CartLine.objects.values_list("product__sku", "quantity", "line_number")) == [
        ("A-1", Decimal("5.000"), 1),
        ("B-2", Decimal("2.000"), 2),
    ]


def test_cart_set_quantity_rejects_superscript_line_number(connection):
    # Given a cart with one line
    ProductFactory(sku="A-1")
    session, _ = services.punchout_session_open(connection=connection, request=setup_for(connection))
    services.cart_set_quantity(session=session, sku="A-1", quantity="1")

    # When the line number is a digit that int() cannot read
    with pytest.raises(ProductNotAvailable) as raised:
        services.cart_set_quantity(session=session, sku="A-1", quantity="3", line_number="\u00b2")

    # Then the request is rejected and the line keeps its quantity
    assert raised.value.message == "Cart line number '\u00b2' is invalid; reload the cart."
    assert list(CartLine.objects.values_list("quantity", flat=True)) == [Decimal("1.000")]


def test_cart_set_quantity_rejects_inactive_product(connection):
    ProductFactory(sku="OLD-1", is_active=False)
    session, _ = services.punchout_session_open(connection=connection, request=setup_for(connection))

    with pytest.raises(ProductNotAvailable, match="'OLD-1'"):
        services.cart_set_quantity(session=session, sku="OLD-1", quantity="1")

    assert CartLine.objects.count() == 0
