"""Reusable reads of exception cases: what blocks an object, and what a user may see."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q, QuerySet

from apps.exceptions.models import ACTIVE_STATES, ExceptionCase


def open_cases_for(obj) -> QuerySet[ExceptionCase]:
    """Return the open and in-progress cases concerning an object, oldest due first."""
    content_type = ContentType.objects.get_for_model(obj)
    return ExceptionCase.objects.filter(
        content_type=content_type, object_id=str(obj.pk), state__in=ACTIVE_STATES
    ).order_by("due_at", "id")


def has_blocking_open_cases(obj) -> bool:
    """Return whether an open or in-progress blocking case holds the object."""
    return open_cases_for(obj).filter(blocking=True).exists()


def cases_visible_to(user) -> QuerySet[ExceptionCase]:
    """Return the cases of the user's teams, and escalated cases of the user's groups; every case for a superuser."""
    cases = ExceptionCase.objects.all()
    if user.is_superuser:
        return cases
    if not user.is_authenticated or not user.is_active:
        return cases.none()
    group_ids = list(user.groups.values_list("pk", flat=True))
    return cases.filter(Q(team_id__in=group_ids) | Q(escalation_level__gt=0, escalation_group_id__in=group_ids))


def queue_summary(user) -> dict:
    """Count the active cases the user can see: in total, overdue, assigned to them, and by kind, in one query."""
    rows = (
        cases_visible_to(user)
        .filter(state__in=ACTIVE_STATES)
        .order_by()
        .values("kind")
        .annotate(
            count=Count("pk"),
            overdue=Count("pk", filter=Q(overdue=True)),
            mine=Count("pk", filter=Q(assignee_id=user.pk)),
        )
    )
    by_kind = sorted(rows, key=lambda row: (-row["count"], row["kind"]))
    return {
        "total": sum(row["count"] for row in by_kind),
        "overdue": sum(row["overdue"] for row in by_kind),
        "mine": sum(row["mine"] for row in by_kind),
        "by_kind": [{"kind": row["kind"], "count": row["count"]} for row in by_kind],
    }
