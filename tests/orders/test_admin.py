import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from apps.orders.models import OrderStatus
from apps.orders.services import invoice_record, payment_record, shipment_record
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Serve admin pages without the collectstatic manifest, which tests do not build."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def line():
    return {"line_number": "1", "sku": "CHAIR-1", "quantity": "2", "unit_price": "99.50", "unit": "EA"}


def test_change_page_shows_permitted_buttons(client, place, chair):
    # given
    order = place([line()]).order
    client.force_login(UserFactory(username="root", is_superuser=True))

    # when
    response = client.get(reverse("admin:orders_order_change", args=[order.pk]))

    # then
    assert response.status_code == 200
    labels = [button["label"] for button in response.context["transition_buttons"]]
    assert labels == ["Cancel"]


def test_cancel_button_cancels_order(client, place, chair):
    # given
    order = place([line()]).order
    client.force_login(UserFactory(username="root", is_superuser=True))

    # when
    response = client.post(reverse("admin:orders_order_transition", args=[order.pk, "cancel"]))

    # then
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_button_without_permission_changes_nothing(client, place, chair):
    # given
    order = place([line()]).order
    user = UserFactory(username="viewer")
    user.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(user)

    # when
    page = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    response = client.post(reverse("admin:orders_order_transition", args=[order.pk, "cancel"]), follow=True)

    # then
    assert page.context["transition_buttons"] == []
    assert [str(message) for message in response.context["messages"]] == [
        f"viewer lacks the permission to have order {order.number} cancelled."
    ]
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED


def test_invoice_page_lists_lines_and_payments(client, place, chair):
    # given an order shipped, invoiced and partly paid
    order = place([line()]).order
    shipment_record(order=order, shipment_id="S-1", lines=[("1", "2")])
    invoice = invoice_record(order=order, number="INV-1", lines=[("1", "2")], tax="0", due_date=dt.date(2027, 1, 31))
    payment = payment_record(invoice=invoice, payment_id="P-1", amount="50.00")
    client.force_login(UserFactory(username="root", is_superuser=True))

    # when
    invoice_page = client.get(reverse("admin:orders_invoice_change", args=[invoice.pk]))
    payments_page = client.get(reverse("admin:orders_payment_changelist"))
    payment_history = client.get(reverse("admin:orders_payment_history", args=[payment.pk]))

    # then
    assert invoice_page.status_code == 200
    assert b"P-1" in invoice_page.content
    assert order.number.encode() in invoice_page.content
    assert invoice_page.context["adminform"].form.fields == {}
    assert payments_page.status_code == 200
    assert b"INV-1" in payments_page.content
    assert payment_history.status_code == 200
