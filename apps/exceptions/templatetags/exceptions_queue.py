"""The "my queue" box that the admin index shows to users who work exception cases."""

from django import template

from apps.exceptions.models import CaseKind
from apps.exceptions.selectors import queue_summary

register = template.Library()


@register.inclusion_tag("admin/exceptions/queue_summary.html", takes_context=True)
def exceptions_queue_summary(context):
    """Render the user's queue counts, or nothing for users who cannot view cases or are in no team."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("exceptions.view_exceptioncase"):
        return {"queue": None}
    if not user.is_superuser and not user.groups.exists():
        return {"queue": None}
    return {"queue": queue_summary(user), "kind_labels": dict(CaseKind.choices)}
