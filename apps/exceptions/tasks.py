"""Celery tasks of the exceptions app."""

import logging

from celery import shared_task

from apps.exceptions.services import cases_escalate_overdue

logger = logging.getLogger(__name__)


@shared_task(name="exceptions.escalate_overdue_cases")
def escalate_overdue_cases() -> int:
    """Mark overdue cases and escalate them; run by beat every minute, safe to run twice or in parallel."""
    return cases_escalate_overdue()
