"""Import jobs whose worker was lost: heartbeats, and beat's sweep that restarts or fails them.

The same recovery with a real worker killed by SIGKILL is in tests/security/test_faults.py.
"""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from apps.catalog.imports.jobs import import_job_create_from_upload, import_jobs_recover_lost
from apps.catalog.imports.service import ImportOptions, import_rows
from apps.catalog.models import ImportJob, ImportRowError, Product
from apps.catalog.tasks import recover_lost_import_jobs
from tests.factories import UnitOfMeasureFactory, UserFactory

ROWS = 12
STAMP = "2026-03-01T00:00:00+00:00"
CONTENT = "sku,name,uom,list_price,currency,updated_at\n" + "\n".join(
    f"LOST-{index:03d},Product {index},EA,{10 + index}.00,EUR,{STAMP}" for index in range(ROWS)
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # With DEBUG off the manifest storage needs collectstatic, which tests do not run.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _unit(db):
    UnitOfMeasureFactory(code="EA", name="each")


@pytest.fixture
def uploaded_job(django_capture_on_commit_callbacks):
    """An admin upload whose task has not run yet; its stored file is deleted after the test."""
    upload = SimpleUploadedFile("lost.csv", CONTENT.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=False):
        job = import_job_create_from_upload(
            kind="catalog", upload=upload, options=ImportOptions(batch_size=4), dry_run=False, actor=None
        )
    yield job
    job.upload.delete(save=False)


def lose_worker(job: ImportJob, *, batches: int, minutes_ago: int = 30) -> None:
    """Leave the job as a killed worker does: running, some batches committed, the last heartbeat long ago."""
    stamp = timezone.now() - dt.timedelta(minutes=minutes_ago)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING,
        attempts=job.attempts + 1,
        started_at=stamp,
        heartbeat_at=stamp,
        batches_committed=batches,
        rows_read=batches * 4,
        created_count=batches * 4,
    )
    ImportRowError.objects.create(job=job, line=3, column="list_price", value="x", message="a row of the lost run")
    job.refresh_from_db()


def test_running_import_stores_heartbeat_and_attempt():
    before = timezone.now()

    job = import_rows(
        "catalog",
        [{"sku": "HB-1", "name": "Pen", "uom": "EA", "list_price": "1.00", "currency": "EUR", "updated_at": STAMP}],
    )

    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.created_count == 1
    assert job.attempts == 1
    assert job.heartbeat_at is not None
    assert job.heartbeat_at >= before


def test_sweep_leaves_job_with_recent_heartbeat(uploaded_job):
    lose_worker(uploaded_job, batches=1, minutes_ago=1)

    recovered = import_jobs_recover_lost()

    assert recovered.restarted == recovered.failed == []
    uploaded_job.refresh_from_db()
    assert uploaded_job.status == ImportJob.Status.RUNNING


def test_sweep_restarts_lost_upload_from_first_row(uploaded_job, django_capture_on_commit_callbacks):
    # Given a job whose worker died after two committed batches, with their rows in the catalog
    import_rows(
        "catalog",
        [
            {
                "sku": f"LOST-{i:03d}",
                "name": f"Product {i}",
                "uom": "EA",
                "list_price": f"{10 + i}.00",
                "currency": "EUR",
                "updated_at": STAMP,
            }
            for i in range(8)
        ],
    )
    lose_worker(uploaded_job, batches=2)

    # When beat's sweep runs, and the requeued task runs (eagerly here) once the sweep commits
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = recover_lost_import_jobs()

    # Then the job ran again from the first row and the whole file is applied
    assert result == {"restarted": [uploaded_job.pk], "failed": []}
    assert len(callbacks) == 1
    uploaded_job.refresh_from_db()
    assert uploaded_job.status == ImportJob.Status.SUCCEEDED
    assert uploaded_job.attempts == 2
    assert uploaded_job.rows_read == ROWS
    assert (uploaded_job.created_count, uploaded_job.updated_count, uploaded_job.unchanged_count) == (4, 0, 8)
    assert Product.objects.filter(sku__startswith="LOST-").count() == ROWS

    # And the report keeps only a notice of the lost attempt, not the lost run's own report lines
    report = list(uploaded_job.row_errors.values_list("line", "level", "message"))
    assert len(report) == 1
    line, level, message = report[0]
    assert (line, level) == (0, ImportRowError.Level.NOTICE)
    assert "Attempt 1 of this import stopped without finishing" in message
    assert "2 committed batches (8 rows read) stay applied" in message
    assert "queued again to read the file from its first row" in message


def test_sweep_fails_upload_after_max_attempts(uploaded_job, settings, django_capture_on_commit_callbacks):
    settings.CATALOG_IMPORT_MAX_ATTEMPTS = 2
    lose_worker(uploaded_job, batches=1)
    lose_worker(uploaded_job, batches=1)
    assert uploaded_job.attempts == 2

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        recovered = import_jobs_recover_lost()

    assert recovered.failed == [uploaded_job.pk]
    assert callbacks == []
    uploaded_job.refresh_from_db()
    assert uploaded_job.status == ImportJob.Status.FAILED
    assert uploaded_job.finished_at is not None
    assert "Attempt 2 of this import stopped without finishing" in uploaded_job.error
    assert "no heartbeat for more than 600 seconds" in uploaded_job.error
    assert "not restarted again after 2 attempts" in uploaded_job.error
    assert "Upload the same file again" in uploaded_job.error
    # The lost runs' report lines stay, as the failed job's record.
    assert uploaded_job.row_errors.count() == 2


def test_sweep_fails_lost_api_push():
    job = ImportJob.objects.create(kind="catalog", source=ImportJob.Source.API)
    lose_worker(job, batches=3)

    recovered = import_jobs_recover_lost()

    assert recovered.failed == [job.pk]
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "3 committed batches (12 rows read) stay applied" in job.error
    assert "An API push keeps no copy of its rows" in job.error
    assert "Push the same rows again" in job.error


def test_sweep_fails_lost_dry_run_command():
    job = ImportJob.objects.create(kind="catalog", source=ImportJob.Source.COMMAND, dry_run=True)
    lose_worker(job, batches=1)

    import_jobs_recover_lost()

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "It was a dry run, so nothing was changed." in job.error
    assert "Run the same import command again" in job.error


def test_sweep_counts_job_without_heartbeat_from_start(uploaded_job):
    # A job left running by a version without heartbeats falls back to its start time.
    stamp = timezone.now() - dt.timedelta(hours=2)
    ImportJob.objects.filter(pk=uploaded_job.pk).update(
        status=ImportJob.Status.RUNNING, attempts=5, started_at=stamp, heartbeat_at=None
    )

    assert import_jobs_recover_lost().failed == [uploaded_job.pk]


def test_admin_shows_restarted_job(client, uploaded_job, django_capture_on_commit_callbacks):
    lose_worker(uploaded_job, batches=2)
    with django_capture_on_commit_callbacks(execute=True):
        import_jobs_recover_lost()
    client.force_login(UserFactory(username="import-admin", is_superuser=True))

    page = client.get(reverse("admin:catalog_importjob_change", args=[uploaded_job.pk]))
    listing = client.get(reverse("admin:catalog_importjob_changelist"))

    assert page.status_code == 200
    assert b"Attempt 2: an earlier attempt's worker was lost" in page.content
    assert b"Attempt 1 of this import stopped without finishing" in page.content
    assert listing.status_code == 200
    assert b'<td class="field-attempts">2</td>' in listing.content


def test_admin_shows_heartbeat_of_running_job(client, uploaded_job):
    lose_worker(uploaded_job, batches=1, minutes_ago=3)
    client.force_login(UserFactory(username="import-admin", is_superuser=True))

    page = client.get(reverse("admin:catalog_importjob_change", args=[uploaded_job.pk]))

    assert b"Last heartbeat from the worker: 3\xc2\xa0minutes ago" in page.content
    assert b"without one for 600 seconds counts as lost" in page.content
