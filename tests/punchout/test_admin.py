import pytest
from django.contrib.auth import get_user_model
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.core.secrets import verify_secret
from apps.punchout.models import BuyerConnection, PunchOutSession
from tests.factories import BuyerConnectionFactory, ContractFactory, CustomerFactory


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    """Pages here are rendered, so static files come from the finders."""


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "test-pass-2026")
    client.force_login(user)
    return client


def change_form_data(connection: BuyerConnection, **changes) -> dict:
    data = {
        "name": connection.name,
        "customer": connection.customer_id,
        "contract": "",
        "protocol": connection.protocol,
        "is_active": "on",
        "from_domain": connection.from_domain,
        "from_identity": connection.from_identity,
        "to_domain": connection.to_domain,
        "to_identity": connection.to_identity,
        "sender_domain": connection.sender_domain,
        "sender_identity": connection.sender_identity,
        "oci_username": "",
        "allowed_return_hosts": connection.allowed_return_hosts,
        "cart_field": connection.cart_field,
        "notes": "",
        "new_shared_secret": "",
        "new_oci_password": "",
        "allow_edit_inspect": "on",
        "oci_vendor_number": "",
        "outbound_url": "",
    }
    # Empty management forms of the part number and unit mapping inlines.
    for prefix in ("part_numbers", "units"):
        data |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    return data | changes


def test_admin_sets_new_shared_secret(admin_client):
    connection = BuyerConnectionFactory()
    url = reverse("admin:punchout_buyerconnection_change", args=[connection.pk])

    response = admin_client.post(url, change_form_data(connection, new_shared_secret="rotated-secret-2026"))

    assert response.status_code == 302
    connection.refresh_from_db()
    assert verify_secret("rotated-secret-2026", connection.shared_secret_hash)
    assert not verify_secret("test-shared-secret", connection.shared_secret_hash)


def test_admin_keeps_secret_when_field_is_empty(admin_client):
    connection = BuyerConnectionFactory()
    before = connection.shared_secret_hash
    url = reverse("admin:punchout_buyerconnection_change", args=[connection.pk])

    admin_client.post(url, change_form_data(connection, notes="changed"))

    connection.refresh_from_db()
    assert connection.notes == "changed"
    assert connection.shared_secret_hash == before


def test_admin_rejects_secret_with_surrounding_space(admin_client):
    connection = BuyerConnectionFactory()
    before = connection.shared_secret_hash
    url = reverse("admin:punchout_buyerconnection_change", args=[connection.pk])

    response = admin_client.post(url, change_form_data(connection, new_shared_secret=" padded "))

    assert response.status_code == 200
    assert b"starts or ends with a space" in response.content
    connection.refresh_from_db()
    assert connection.shared_secret_hash == before


def test_admin_rejects_bad_return_host(admin_client):
    connection = BuyerConnectionFactory()
    url = reverse("admin:punchout_buyerconnection_change", args=[connection.pk])

    response = admin_client.post(url, change_form_data(connection, allowed_return_hosts="https://x.example.com/"))

    assert response.status_code == 200
    assert b"is not a host pattern" in response.content


def test_admin_rejects_duplicate_sender_in_other_case(admin_client):
    existing = BuyerConnectionFactory(sender_domain="NetworkID", sender_identity="AN01")
    other = BuyerConnectionFactory(sender_domain="DUNS", sender_identity="AN01")
    url = reverse("admin:punchout_buyerconnection_change", args=[other.pk])

    response = admin_client.post(url, change_form_data(other, sender_domain="networkid"))

    assert response.status_code == 200
    assert b"Another cXML connection already uses this Sender domain and identity." in response.content
    other.refresh_from_db()
    assert other.sender_domain == "DUNS"
    assert existing.sender_domain == "NetworkID"


def test_admin_change_page_never_shows_hash(admin_client):
    connection = BuyerConnectionFactory()
    url = reverse("admin:punchout_buyerconnection_change", args=[connection.pk])

    response = admin_client.get(url)

    digest = connection.shared_secret_hash.split("$")[1]
    assert digest.encode() not in response.content
    assert b"Set on " in response.content
    assert b'name="new_shared_secret"' in response.content
    assert b'type="password"' in response.content


def test_session_admin_changelist_query_count_is_constant(admin_client):
    def open_sessions(count: int) -> None:
        for _ in range(count):
            customer = CustomerFactory()
            contract = ContractFactory(customer=customer)
            PunchOutSession.objects.create(
                connection=BuyerConnectionFactory(customer=customer),
                contract=contract,
                token_hash=f"{PunchOutSession.objects.count():064d}",
                operation="create",
                buyer_cookie="cookie",
                browser_form_post_url="http://localhost/return",
                expires_at=timezone.now(),
            )

    url = reverse("admin:punchout_punchoutsession_changelist")
    open_sessions(2)
    with CaptureQueriesContext(db_connection) as few:
        assert admin_client.get(url).status_code == 200
    open_sessions(8)
    with CaptureQueriesContext(db_connection) as many:
        response = admin_client.get(url)

    assert response.status_code == 200
    assert len(few) == len(many)


def test_session_admin_is_read_only(admin_client):
    response = admin_client.get(reverse("admin:punchout_punchoutsession_add"))

    assert response.status_code == 403
