"""HTML for the case change page: the facts as tables, the concerned object's link and the case history."""

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from apps.exceptions.models import ExceptionCase

# History rows shown on the change page; the History button lists them all.
TIMELINE_ROWS = 50


def facts_html(facts) -> SafeString:
    """Render a case's facts: a row per key, with nested mappings and lists of mappings as small tables."""
    if not isinstance(facts, dict) or not facts:
        return mark_safe("<p>No facts were recorded.</p>")
    rows = format_html_join(
        "", "<tr><th>{}</th><td>{}</td></tr>", ((_label(k), _value_html(v)) for k, v in facts.items())
    )
    return format_html('<table class="exception-facts">{}</table>', rows)


def _label(key) -> str:
    return str(key).replace("_", " ").capitalize()


def _value_html(value) -> SafeString:
    if isinstance(value, dict):
        return facts_html(value)
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        columns = list(dict.fromkeys(key for item in value for key in item))
        head = format_html_join("", "<th>{}</th>", ((_label(column),) for column in columns))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((_scalar(item.get(c)),) for c in columns)),) for item in value),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)
    if isinstance(value, list):
        return format_html("{}", ", ".join(_scalar(item) for item in value))
    return format_html("{}", _scalar(value))


def _scalar(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def concerning_html(case: ExceptionCase) -> SafeString:
    """Link to the admin page of the object the case concerns, or name it when it has none."""
    if case.content_type_id is None:
        return mark_safe("—")
    content_type = case.content_type
    model = content_type.model_class()
    obj = case.concerning
    if model is None or obj is None:
        return format_html("{} {} (no longer exists)", content_type.name, case.object_id)
    try:
        url = reverse(f"admin:{content_type.app_label}_{content_type.model}_change", args=[case.object_id])
    except NoReverseMatch:
        return format_html("{}: {}", model._meta.verbose_name.capitalize(), obj)
    return format_html('<a href="{}">{}: {}</a>', url, model._meta.verbose_name.capitalize(), obj)


def timeline_html(case: ExceptionCase) -> SafeString:
    """Render the latest history rows of a case: when, who, state, assignee and the reason given."""
    records = case.history.select_related("history_user", "assignee").order_by("-history_date", "-history_id")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                f"{record.history_date:%Y-%m-%d %H:%M}",
                record.history_user.get_username() if record.history_user else "system",
                record.get_state_display(),
                record.assignee.get_username() if record.assignee else "—",
                record.history_change_reason or "",
            )
            for record in records[:TIMELINE_ROWS]
        ),
    )
    return format_html(
        "<table><thead><tr><th>When (UTC)</th><th>Who</th><th>State</th><th>Assignee</th><th>Reason</th></tr>"
        "</thead><tbody>{}</tbody></table>",
        rows,
    )
