"""Row fingerprints against the admin: product edits, reference data edits, unit deletes and uploads."""

import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import ProtectedError
from django.urls import reverse

from apps.catalog.models import CatalogReferenceVersion, Category, ImportJob, Product, UnitAlias
from config.celery import app as celery_app
from tests.catalog.test_import_fingerprints import _import, _row, _write
from tests.catalog.test_import_fingerprints_hostile import _change_form_data, _fingerprint
from tests.factories import UnitOfMeasureFactory, UserFactory

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    """Pages here are rendered, so static files come from the finders."""


@pytest.fixture
def units(db):
    return {
        "EA": UnitOfMeasureFactory(code="EA", name="each"),
        "XBX": UnitOfMeasureFactory(code="XBX", name="box"),
    }


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def _reference_version():
    return CatalogReferenceVersion.objects.get(pk=1).number


def test_product_admin_save_then_import_restores(units, tmp_path, admin_client):
    night = _write(tmp_path / "night.csv", [_row("A-1", description="From the ERP")])
    _import(night)
    product = Product.objects.get(sku="A-1")
    url = reverse("admin:catalog_product_change", args=[product.pk])
    data = _change_form_data(admin_client.get(url))
    data["description"] = "Edited in the admin"

    response = admin_client.post(url, data)

    assert response.status_code == 302
    assert Product.objects.get(sku="A-1").description == "Edited in the admin"
    assert _fingerprint("A-1") is None
    rerun = _import(night)
    assert (rerun.updated_count, rerun.unchanged_count) == (1, 0)
    assert Product.objects.get(sku="A-1").description == "From the ERP"
    assert _fingerprint("A-1") is not None
    assert _import(night).unchanged_count == 1


def test_unit_alias_admin_change_raises_version(units, admin_client):
    alias = UnitAlias.objects.create(alias="CARTON", context=UnitAlias.Context.ERP, unit=units["XBX"])
    before = _reference_version()
    url = reverse("admin:catalog_unitalias_change", args=[alias.pk])

    response = admin_client.post(url, {"alias": "CARTON", "context": UnitAlias.Context.ERP, "unit": units["EA"].pk})

    assert response.status_code == 302
    assert UnitAlias.objects.get(pk=alias.pk).unit == units["EA"]
    assert _reference_version() > before


def test_unit_alias_inline_add_raises_version(units, admin_client):
    unit = units["XBX"]
    url = reverse("admin:catalog_unitofmeasure_change", args=[unit.pk])
    data = {
        "code": unit.code,
        "name": unit.name,
        "symbol": unit.symbol,
        "status": unit.status,
        "source": unit.source,
        "aliases-TOTAL_FORMS": "1",
        "aliases-INITIAL_FORMS": "0",
        "aliases-0-alias": "boxlet",
        "aliases-0-context": UnitAlias.Context.ERP,
    }
    before = _reference_version()

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert UnitAlias.objects.get(alias="BOXLET").unit == unit
    assert _reference_version() > before


@pytest.mark.parametrize(("field", "changes_version"), [("code", True), ("name", False)])
def test_category_admin_code_edit_raises_version(units, admin_client, field, changes_version):
    category = Category.objects.create(code="TOOLS", name="Tools")
    url = reverse("admin:catalog_category_change", args=[category.pk])
    data = {"code": "TOOLS", "name": "Tools", "parent": ""}
    data[field] = "RENAMED"
    before = _reference_version()

    response = admin_client.post(url, data)

    assert response.status_code == 302
    assert getattr(Category.objects.get(pk=category.pk), field) == "RENAMED"
    assert (_reference_version() != before) is changes_version


def test_used_unit_delete_rejected(units, tmp_path, admin_client):
    _import(_write(tmp_path / "night.csv", [_row("A-1")]))
    unit = units["EA"]
    url = reverse("admin:catalog_unitofmeasure_delete", args=[unit.pk])

    page = admin_client.get(url)
    posted = admin_client.post(url, {"post": "yes"})

    assert page.status_code == 200
    assert "would require deleting the following protected related objects" in page.content.decode()
    assert "A-1" in page.content.decode()
    assert posted.status_code == 200
    assert "would require deleting the following protected related objects" in posted.content.decode()
    with pytest.raises(ProtectedError):
        unit.delete()
    assert Product.objects.get(sku="A-1").unit == unit


def _catalog_upload(name, rows, tmp_path):
    path = _write(tmp_path / name, rows)
    return SimpleUploadedFile(name, path.read_bytes(), content_type="text/csv")


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_admin_upload_rerun_on_worker_unchanged(client, tmp_path):
    from celery.contrib.testing.worker import start_worker

    UnitOfMeasureFactory(code="EA", name="each")
    client.force_login(UserFactory(username="import-admin", is_superuser=True))
    rows = [_row(f"A-{number}") for number in range(5)]
    url = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL")
    previous = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager", "result_backend")}
    celery_app.conf.update(broker_url=url, task_always_eager=False, result_backend=None)
    # Earlier tests may have built the producer pool for the eager setup; publish through a fresh one.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    jobs = []
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            for name in ("night1.csv", "night2.csv"):
                data = {"kind": "catalog", "file": _catalog_upload(name, rows, tmp_path), "encoding": "utf-8"}
                response = client.post(reverse("admin:catalog_importjob_upload"), data)
                assert response.status_code == 302
                job = ImportJob.objects.latest("pk")
                deadline = time.monotonic() + 30
                while job.status in ("pending", "running") and time.monotonic() < deadline:
                    time.sleep(0.2)
                    job.refresh_from_db()
                jobs.append(job)
    finally:
        celery_app.conf.update(**previous)

    first, second = jobs
    assert first.status == "succeeded", first.error
    assert (first.created_count, first.unchanged_count) == (5, 0)
    assert second.status == "succeeded", second.error
    assert (second.rows_read, second.created_count, second.updated_count) == (5, 0, 0)
    assert second.unchanged_count == 5
    assert Product.objects.exclude(import_fingerprint=None).count() == 5
    for job in jobs:
        job.upload.delete()
