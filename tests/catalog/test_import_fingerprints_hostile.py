"""Row fingerprints against races and rare paths: a skipped row must end as parsing it would.

Each test runs a sequence with fingerprints and checks the end state and the counts that the
same sequence gives with every row parsed.
"""

import threading
import time

import pytest
from django.db import connection, transaction

from apps.catalog.admin import ProductAdmin
from apps.catalog.imports.service import import_rows
from apps.catalog.models import HeldChange, ImportKind, Product
from tests.catalog.test_import_fingerprints import _import, _row, _write
from tests.factories import UnitOfMeasureFactory, UserFactory

pytestmark = pytest.mark.postgres


@pytest.fixture
def units(db):
    return {"EA": UnitOfMeasureFactory(code="EA", name="each")}


def _fingerprint(sku):
    with connection.cursor() as cursor:
        cursor.execute("SELECT import_fingerprint FROM catalog_product WHERE sku = %s", [sku])
        (value,) = cursor.fetchone()
    return None if value is None else bytes(value)


def test_new_zero_price_product_held_with_fingerprints(units, tmp_path):
    job = _import(_write(tmp_path / "catalog.csv", [_row("A-1", list_price="0"), _row("A-2")]))

    assert job.status == "succeeded", job.error
    assert (job.created_count, job.flagged_count) == (1, 1)
    held_change = HeldChange.objects.get(sku="A-1")
    assert held_change.reason == HeldChange.Reason.ZERO_PRICE
    assert "import_fingerprint" not in held_change.payload


def test_save_of_instance_read_before_import_clears_fingerprint(units, tmp_path):
    first = _write(tmp_path / "night1.csv", [_row("A-1")])
    _import(first)
    # Read by a form or a task before the next import changes the row.
    product = Product.objects.get(sku="A-1")
    _import(_write(tmp_path / "night2.csv", [_row("A-1", name="Renamed")]))

    product.description = "Edited"
    product.save()

    assert _fingerprint("A-1") is None
    # Parsing the first file's row finds the saved product changed and writes the row again.
    rerun = _import(first)
    assert (rerun.updated_count, rerun.unchanged_count) == (1, 0)
    assert Product.objects.get(sku="A-1").description == ""


def _change_form_data(page):
    """Return the POST data of an admin change form as the page shows it, with empty inline formsets."""
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        data[name] = "" if value is None else getattr(value, "pk", value)
    data["attributes"] = "{}"
    data["is_active"] = "on"
    data.pop("is_configurable", None)
    for inline in page.context["inline_admin_formsets"]:
        data[f"{inline.formset.prefix}-TOTAL_FORMS"] = "0"
        data[f"{inline.formset.prefix}-INITIAL_FORMS"] = "0"
    return data


def test_admin_edit_racing_import_clears_fingerprint(units, tmp_path, client, monkeypatch, plain_static_storage):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    first = _write(tmp_path / "night1.csv", [_row("A-1")])
    _import(first)
    product = Product.objects.get(sku="A-1")
    url = f"/admin/catalog/product/{product.pk}/change/"
    data = _change_form_data(client.get(url))
    data["description"] = "Edited in the admin"
    saved = ProductAdmin.save_model

    def save_after_import(admin, request, obj, form, change):
        # An import commits between the admin's read of the product and its save.
        _import(_write(tmp_path / "night2.csv", [_row("A-1", name="Renamed")]))
        saved(admin, request, obj, form, change)

    monkeypatch.setattr(ProductAdmin, "save_model", save_after_import)
    response = client.post(url, data)
    monkeypatch.setattr(ProductAdmin, "save_model", saved)

    assert response.status_code == 302
    assert _fingerprint("A-1") is None
    rerun = _import(first)
    assert (rerun.updated_count, rerun.unchanged_count) == (1, 0)
    assert Product.objects.get(sku="A-1").description == ""


def _wait_until_another_waits(cursor, timeout=10.0):
    """Return True once another backend waits for a lock this one holds, False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Inside a transaction, PostgreSQL keeps the first reading of pg_stat_activity unless cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))")
        if cursor.fetchone()[0]:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_fingerprint_catch_up_racing_newer_change_time(units, tmp_path):
    # A pushed product has no fingerprint, so the file import finds it unchanged and stores one.
    import_rows(ImportKind.CATALOG, [_row("A-1")])
    path = _write(tmp_path / "catalog.csv", [_row("A-1")])
    updated, waited = threading.Event(), []

    def newer_change_time_elsewhere():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE catalog_product SET source_updated_at = '2026-03-02T00:00:00Z' WHERE sku = 'A-1'"
                )
                updated.set()
                # Commit once the import's statement waits for this row.
                waited.append(_wait_until_another_waits(cursor))
        finally:
            updated.set()
            connection.close()

    other = threading.Thread(target=newer_change_time_elsewhere)
    other.start()
    updated.wait(timeout=30)
    racing = _import(path)
    other.join(timeout=30)

    assert waited == [True]
    assert racing.unchanged_count == 1
    # The product is newer than the file's row now, so parsing that row counts it stale.
    assert _fingerprint("A-1") is None
    rerun = _import(path)
    assert (rerun.stale_count, rerun.unchanged_count) == (1, 0)
