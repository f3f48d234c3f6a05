"""Admin history pages: a history URL whose ids are not valid keys returns 404, not a server error."""

import pytest
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from apps.core.admin import CheckedHistoryAdmin
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

HISTORY_MODELS = sorted(
    (model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, SimpleHistoryAdmin)),
    key=lambda model: model._meta.label,
)


def _base_url(model) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}"


@pytest.fixture
def admin_client_without_raise(client, superuser):
    client.force_login(superuser)
    # A server error then comes back as a 500 response instead of an exception in the test.
    client.raise_request_exception = False
    return client


def test_every_history_admin_checks_ids():
    registry = admin.site._registry
    unchecked = [model._meta.label for model in HISTORY_MODELS if not isinstance(registry[model], CheckedHistoryAdmin)]

    assert unchecked == []


@pytest.mark.parametrize("model", HISTORY_MODELS, ids=lambda model: model._meta.label)
def test_history_page_non_numeric_id_not_found(admin_client_without_raise, model):
    response = admin_client_without_raise.get(f"{_base_url(model)}/abc/history/")

    assert response.status_code == 404


@pytest.mark.parametrize("model", HISTORY_MODELS, ids=lambda model: model._meta.label)
def test_history_detail_non_numeric_ids_not_found(admin_client_without_raise, model):
    for path in ("abc/history/1/", "1/history/xyz/", "abc/history/xyz/"):
        response = admin_client_without_raise.get(f"{_base_url(model)}/{path}")

        assert response.status_code == 404, path


def test_product_history_detail_non_numeric_version_not_found(admin_client_without_raise):
    # given a product that has history
    product = ProductFactory()
    version = product.history.get()

    # when its history detail URL names a version that is not a number
    response = admin_client_without_raise.get(f"/admin/catalog/product/{product.pk}/history/xyz/")

    # then the page is not found, while the real version still opens
    assert response.status_code == 404
    real_version = admin_client_without_raise.get(f"/admin/catalog/product/{product.pk}/history/{version.pk}/")
    assert real_version.status_code == 200


def test_product_history_unknown_ids_not_found(admin_client_without_raise):
    product = ProductFactory()

    for path in ("999999/history/", "99999999999999999999/history/", f"{product.pk}/history/999999/"):
        response = admin_client_without_raise.get(f"/admin/catalog/product/{path}")

        assert response.status_code == 404, path
