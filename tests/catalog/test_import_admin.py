"""The admin upload runs the import as a Celery task: eagerly in-process, and on a real worker over Redis."""

import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.catalog.models import ImportJob, Product
from config.celery import app as celery_app
from tests.factories import UnitOfMeasureFactory, UserFactory

CONTENT = (
    b"sku;name;uom;list_price;currency;updated_at\r\n"
    b"U-1;Pen;EA;1,50;EUR;2026-03-01\r\n"
    b"U-2;Pad;EA;abc;EUR;2026-03-01\r\n"
)


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    """Pages here are rendered, so static files come from the finders."""


@pytest.fixture
def superuser(db):
    UnitOfMeasureFactory(code="EA", name="each")
    return UserFactory(username="import-admin", is_superuser=True)


def _post_upload(client, **fields):
    upload = SimpleUploadedFile("prices.csv", CONTENT, content_type="text/csv")
    data = {"kind": "catalog", "file": upload, "encoding": "utf-8", "delimiter": "", "decimal_comma": "on", **fields}
    return client.post(reverse("admin:catalog_importjob_upload"), data)


def test_admin_upload_runs_task_and_shows_report(client, superuser, django_capture_on_commit_callbacks):
    client.force_login(superuser)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _post_upload(client)

    job = ImportJob.objects.get()
    assert len(callbacks) == 1
    assert response.status_code == 302
    assert response.url == reverse("admin:catalog_importjob_change", args=[job.pk])
    assert (job.status, job.source, job.created_by) == ("succeeded", "admin", superuser)
    assert (job.created_count, job.rejected_count) == (1, 1)
    assert Product.objects.get(sku="U-1").history.get().history_user == superuser

    page = client.get(response.url)
    assert page.status_code == 200
    assert b"1 created, 0 updated" in page.content
    assert b"Download the error report (CSV, 1 lines)" in page.content

    report = client.get(reverse("admin:catalog_importjob_report", args=[job.pk]))
    body = b"".join(report.streaming_content).decode()
    assert body == (
        "line,column,value,message,level\r\n"
        "3,list_price,abc,\"list_price 'abc' is not a number with a decimal comma (the file was declared to use them); "
        'write it without thousands separators, such as 1234,50",rejected\r\n'
    )
    job.upload.delete()


def test_admin_upload_dry_run_changes_nothing(client, superuser, django_capture_on_commit_callbacks):
    client.force_login(superuser)

    with django_capture_on_commit_callbacks(execute=True):
        _post_upload(client, dry_run="on")

    job = ImportJob.objects.get()
    assert (job.dry_run, job.created_count, job.rejected_count) == (True, 1, 1)
    assert Product.objects.count() == 0
    job.upload.delete()


def test_admin_upload_denied_without_permission(client, db):
    staff = UserFactory(username="plain-staff")
    client.force_login(staff)

    response = _post_upload(client)

    assert response.status_code == 403
    assert ImportJob.objects.count() == 0


def test_admin_upload_bad_option_shows_error(client, superuser):
    client.force_login(superuser)

    response = _post_upload(client, encoding="ebcdic")

    assert response.status_code == 200
    assert ImportJob.objects.count() == 0
    assert b"Select a valid choice. ebcdic is not one of the available choices." in response.content


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_admin_upload_runs_on_real_celery_worker(client):
    from celery.contrib.testing.worker import start_worker

    UnitOfMeasureFactory(code="EA", name="each")
    user = UserFactory(username="import-admin", is_superuser=True)
    client.force_login(user)
    url = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL")
    previous = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager", "result_backend")}
    celery_app.conf.update(broker_url=url, task_always_eager=False, result_backend=None)
    # Earlier tests may have built the producer pool for the eager setup; publish through a fresh one.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            _post_upload(client)
            job = ImportJob.objects.get()
            deadline = time.monotonic() + 30
            while job.status in ("pending", "running") and time.monotonic() < deadline:
                time.sleep(0.2)
                job.refresh_from_db()
    finally:
        celery_app.conf.update(**previous)

    assert job.status == "succeeded"
    assert (job.created_count, job.rejected_count) == (1, 1)
    assert Product.objects.filter(sku="U-1").exists()
    job.upload.delete()
