"""Creating import jobs from admin uploads, queueing them for the Celery worker, and recovering lost jobs."""

import datetime as dt
import logging
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.catalog.imports.service import RUN_COUNTER_FIELDS, ImportOptions, import_job_fail
from apps.catalog.models import ImportJob, ImportRowError
from apps.catalog.tasks import run_import_job

logger = logging.getLogger(__name__)


def import_job_create_from_upload(
    *, kind: str, upload: UploadedFile, options: ImportOptions, dry_run: bool, actor, sender: str = ""
) -> ImportJob:
    """Store the uploaded file with a pending job and queue the job's task once the job is committed.

    ``sender`` is the system the file comes from; empty means the system that owns the kind's rows.
    """
    with transaction.atomic():
        job = ImportJob(
            kind=kind,
            source=ImportJob.Source.ADMIN,
            sender=sender,
            file_name=(upload.name or "")[:255],
            options=options.as_dict(),
            dry_run=dry_run,
            created_by=actor,
        )
        job.upload.save(upload.name or "upload.csv", upload, save=False)
        job.progress_total = job.upload.size
        job.save()
        # The worker must find the committed job, so the task is queued after commit.
        transaction.on_commit(partial(run_import_job.delay, job.pk))
    return job


@dataclass
class RecoveredJobs:
    """Ids of the lost jobs that one sweep queued again and of those it marked failed."""

    restarted: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def import_jobs_recover_lost(*, now: dt.datetime | None = None) -> RecoveredJobs:
    """Restart or fail running jobs whose heartbeat is older than CATALOG_IMPORT_LOST_AFTER_SECONDS.

    Such a job's process died (a killed or restarted worker, a web process lost during an API push)
    after committing some batches. Running the whole file again is safe: rows that the lost run
    applied compare equal and count as unchanged, rows changed since by a newer update are skipped
    as stale, and each held change supersedes the lost run's pending one. So an admin upload, whose
    file is kept, is queued again from its first row until it has been started
    CATALOG_IMPORT_MAX_ATTEMPTS times (a file that kills its worker every time must stop there).
    A job from a command or an API push keeps no file, so it is marked failed with what to do.
    """
    now = now or timezone.now()
    limit = settings.CATALOG_IMPORT_LOST_AFTER_SECONDS
    lost = (
        ImportJob.objects.filter(status=ImportJob.Status.RUNNING)
        .alias(last_sign_of_life=Coalesce("heartbeat_at", "started_at", "created_at"))
        .filter(last_sign_of_life__lt=now - dt.timedelta(seconds=limit))
    )
    recovered = RecoveredJobs()
    for job_id in list(lost.values_list("pk", flat=True)):
        with transaction.atomic():
            # A run that has the row locked in its batch transaction is alive, so skip it.
            job = lost.select_for_update(skip_locked=True).filter(pk=job_id).first()
            if job is None:
                continue
            # NOTE: a run that is alive but silent for longer than the limit (a batch slower than it) is
            # restarted too, and then both runs write the same rows; the result is still the file's rows.
            if job.upload and job.attempts < settings.CATALOG_IMPORT_MAX_ATTEMPTS:
                _restart_lost_job(job, limit)
                recovered.restarted.append(job.pk)
            else:
                import_job_fail(job, _lost_job_error(job, limit))
                recovered.failed.append(job.pk)
                logger.warning("Lost import job marked failed", extra={"job_id": job.pk, "attempts": job.attempts})
    return recovered


def _lost_run_summary(job: ImportJob, limit: int) -> str:
    if job.dry_run:
        outcome = "It was a dry run, so nothing was changed."
    else:
        outcome = (
            f"Its {job.batches_committed} committed batches ({job.rows_read} rows read) stay applied; "
            "the rest of the file was not applied."
        )
    return (
        f"Attempt {job.attempts} of this import stopped without finishing: the process running it sent no "
        f"heartbeat for more than {limit} seconds, so it was most likely killed or restarted. {outcome}"
    )


def _lost_job_error(job: ImportJob, limit: int) -> str:
    if job.upload:
        reason = f"It is not restarted again after {job.attempts} attempts, in case the file itself stops the worker."
        what_next = "Upload the same file again"
    elif job.source == ImportJob.Source.API:
        reason = "An API push keeps no copy of its rows, so it cannot be restarted."
        what_next = "Push the same rows again"
    else:
        reason = "A command's file is not kept, so it cannot be restarted."
        what_next = "Run the same import command again"
    return (
        f"{_lost_run_summary(job, limit)} {reason} {what_next} to complete the import: rows already applied count "
        "as unchanged, and rows changed since by a newer update are skipped as stale."
    )


def _restart_lost_job(job: ImportJob, limit: int) -> None:
    """Reset the job to pending with an empty report and queue it again once this transaction commits."""
    notice = f"{_lost_run_summary(job, limit)} The job was queued again to read the file from its first row."
    job.row_errors.all().delete()
    # The new run counts from zero; rows that the lost run applied then count as unchanged.
    for name in RUN_COUNTER_FIELDS:
        setattr(job, name, 0)
    job.status = ImportJob.Status.PENDING
    job.error = ""
    job.finished_at = None
    job.save()
    ImportRowError.objects.create(job=job, line=0, message=notice, level=ImportRowError.Level.NOTICE)
    transaction.on_commit(partial(run_import_job.delay, job.pk))
    logger.warning("Lost import job queued again", extra={"job_id": job.pk, "attempts": job.attempts})
