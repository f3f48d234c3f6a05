"""Celery tasks of the PunchOut app."""

from celery import shared_task

from apps.punchout.services import punchout_sessions_expire_idle


@shared_task(name="punchout.expire_idle_sessions")
def expire_idle_sessions() -> int:
    """Mark sessions past their idle deadline expired; run by beat, safe to run twice or in parallel."""
    return punchout_sessions_expire_idle()
