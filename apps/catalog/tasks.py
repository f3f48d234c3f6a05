"""Celery tasks of the catalog: running an uploaded import job."""

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from apps.catalog.imports.errors import CatalogImportError
from apps.catalog.imports.service import ImportOptions, import_file, log_import_job
from apps.catalog.models import ImportJob

logger = logging.getLogger(__name__)


@shared_task(name="catalog.run_import_job")
def run_import_job(job_id: int) -> str:
    """Run a pending uploaded import job; return its final status. A job already started is left alone."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("Import job not found", extra={"job_id": job_id})
            return "missing"
        if job.status != ImportJob.Status.PENDING:
            logger.info("Import job already started", extra={"job_id": job_id, "status": job.status})
            return job.status
        # Claim the job so that a second delivery of this task does not run it again.
        job.status = ImportJob.Status.RUNNING
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["status", "heartbeat_at"])

    try:
        options = ImportOptions.from_dict(job.options)
        with job.upload.open("rb") as stream:
            import_file(
                stream,
                kind=job.kind,
                source=job.source,
                actor=job.created_by,
                options=options,
                dry_run=job.dry_run,
                file_name=job.file_name,
                job=job,
            )
    except CatalogImportError as error:
        logger.info("Uploaded import rejected", extra={"job_id": job_id, "error": error.message})
        _mark_failed_if_running(job_id, error.message)
    except Exception as error:
        # The service logs the traceback of errors raised while importing; this covers opening the file.
        logger.exception("Uploaded import failed", extra={"job_id": job_id})
        _mark_failed_if_running(job_id, f"The import failed: {error!r}")
    return ImportJob.objects.values_list("status", flat=True).get(pk=job_id)


def _mark_failed_if_running(job_id: int, error: str) -> None:
    """Record a failure the service could not record itself (bad stored options, a missing upload)."""
    marked = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.FAILED, error=error, finished_at=timezone.now()
    )
    if marked:
        log_import_job(ImportJob.objects.get(pk=job_id))


@shared_task(name="catalog.recover_lost_import_jobs")
def recover_lost_import_jobs() -> dict[str, list[int]]:
    """Restart or fail running import jobs without a recent heartbeat; beat runs this every minute."""
    # Imported here: the jobs module queues run_import_job from this module.
    from apps.catalog.imports.jobs import import_jobs_recover_lost

    recovered = import_jobs_recover_lost()
    return {"restarted": recovered.restarted, "failed": recovered.failed}
