"""Celery tasks of the document log: pruning rows past their retention period."""

import logging

from celery import shared_task

from apps.integrations.services import document_log_prune

logger = logging.getLogger(__name__)


@shared_task(name="integrations.prune_document_log", ignore_result=True)
def prune_document_log() -> int:
    """Delete document log rows older than INTEGRATION_LOG_RETENTION_DAYS; return how many were deleted."""
    return document_log_prune()
