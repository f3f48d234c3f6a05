import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from apps.orders.models import OrderStatus
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
