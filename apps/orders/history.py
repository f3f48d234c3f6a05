"""History rows written in bulk, for the order services' hot paths.

``Model.history`` builds a new manager class on every access
(django-simple-history 3.13), which cost more CPU time per one-line order
than some of its queries, so the historical model is looked up once per model.
"""

from functools import cache

from django.utils import timezone


@cache
def history_model(model):
    """Return the historical model that django-simple-history made for ``model``."""
    return model.history.model


def write_history(model, rows: list[tuple[object, str, str]], *, actor, date=None) -> list:
    """Insert history rows for (instance, history type "+" or "~", reason) in one statement; return them.

    The history date is the instance's ``_history_date`` when it has one, else ``date``, else now.
    """
    history = history_model(model)
    now = date or timezone.now()
    return history.objects.bulk_create(
        history(
            history_date=getattr(instance, "_history_date", now),
            history_user=actor,
            history_change_reason=reason[:100],
            history_type=kind,
            **{field.attname: getattr(instance, field.attname) for field in history.tracked_fields},
        )
        for instance, kind, reason in rows
    )
