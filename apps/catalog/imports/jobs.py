"""Creating import jobs from admin uploads and queueing them for the Celery worker."""

from functools import partial

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from apps.catalog.imports.service import ImportOptions
from apps.catalog.models import ImportJob
from apps.catalog.tasks import run_import_job


def import_job_create_from_upload(
    *, kind: str, upload: UploadedFile, options: ImportOptions, dry_run: bool, actor
) -> ImportJob:
    """Store the uploaded file with a pending job and queue the job's task once the job is committed."""
    with transaction.atomic():
        job = ImportJob(
            kind=kind,
            source=ImportJob.Source.ADMIN,
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
