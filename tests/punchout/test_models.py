import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.punchout.models import BuyerConnection, HostPattern
from tests.factories import BuyerConnectionFactory, ContractFactory, CustomerFactory


@pytest.mark.parametrize(
    ("pattern", "host", "port", "expected"),
    [
        ("localhost", "localhost", 8000, True),
        ("localhost", "localhost", 443, True),
        ("127.0.0.1", "127.0.0.1", 54321, True),
        ("127.0.0.1", "127.0.0.2", 80, False),
        ("*.ariba.com", "s1.ariba.com", 443, True),
        ("*.ariba.com", "a.b.ariba.com", 443, True),
        ("*.ariba.com", "ariba.com", 443, False),
        ("*.ariba.com", "evilariba.com", 443, False),
        ("*.ariba.com:443", "s1.ariba.com", 8443, False),
        ("Buyer.Example.com:8443", "buyer.example.com", 8443, True),
        ("buyer.example.com", "buyer.example.com.evil.net", 443, False),
    ],
)
def test_host_pattern_matching(pattern, host, port, expected):
    assert HostPattern.parse(pattern).matches(host, port) is expected


@pytest.mark.parametrize(
    "line",
    ["https://buyer.example.com", "buyer.example.com/path", "user@host", "host:0", "host:70000", "*", "a b"],
)
def test_host_pattern_rejects_non_hosts(line):
    with pytest.raises(ValueError, match=r"host pattern|out of range"):
        HostPattern.parse(line)


def test_host_pattern_csp_source():
    assert HostPattern.parse("localhost").as_csp_source() == "localhost:*"
    assert HostPattern.parse("*.ariba.com:443").as_csp_source() == "*.ariba.com:443"


def test_connection_clean_names_bad_host_line(db):
    connection = BuyerConnectionFactory(allowed_return_hosts="localhost\nhttps://x.example.com/return")

    with pytest.raises(ValidationError) as raised:
        connection.full_clean()

    assert raised.value.message_dict["allowed_return_hosts"] == [
        "'https://x.example.com/return' is not a host pattern; write a host such as localhost, 127.0.0.1 or "
        "*.ariba.com, optionally with :port, without scheme or path."
    ]


def test_connection_clean_rejects_other_customers_contract(db):
    connection = BuyerConnectionFactory()
    connection.contract = ContractFactory(customer=CustomerFactory())

    with pytest.raises(ValidationError) as raised:
        connection.full_clean()

    assert list(raised.value.message_dict) == ["contract"]


def test_sender_is_unique_ignoring_domain_case(db):
    BuyerConnectionFactory(sender_domain="NetworkID", sender_identity="AN01")

    with pytest.raises(IntegrityError), transaction.atomic():
        BuyerConnection.objects.create(
            name="Copy",
            customer=CustomerFactory(),
            from_domain="NetworkID",
            from_identity="AN01",
            to_domain="DUNS",
            to_identity="1",
            sender_domain="networkid",
            sender_identity="AN01",
        )


def test_same_sender_identity_in_other_domain_is_allowed(db):
    BuyerConnectionFactory(sender_domain="NetworkID", sender_identity="AN01")

    BuyerConnectionFactory(sender_domain="DUNS", sender_identity="AN01")

    assert BuyerConnection.objects.filter(sender_identity="AN01").count() == 2


def test_cxml_connection_requires_credentials(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        BuyerConnection.objects.create(name="Incomplete", customer=CustomerFactory(), protocol="cxml")


def test_shared_secret_is_stored_as_keyed_hash(db):
    connection = BuyerConnectionFactory(shared_secret="demo-shared-secret")

    connection.refresh_from_db()

    assert connection.shared_secret_hash.startswith("hmac-sha256$")
    assert "demo-shared-secret" not in connection.shared_secret_hash
    assert connection.shared_secret_set_at is not None


def test_history_rows_leave_out_the_hash(db):
    connection = BuyerConnectionFactory()

    record = connection.history.first()

    assert not hasattr(record, "shared_secret_hash")
    assert record.shared_secret_set_at is not None
