"""Mail to a team about a new urgent case or an escalation, sent through Django's mail backend."""

import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from apps.exceptions.models import ExceptionCase
from apps.exceptions.routing import team_members

logger = logging.getLogger(__name__)


def send_new_case_mail(case_id: int) -> None:
    """Mail the case's team that a high or critical case arrived."""
    case = _load(case_id)
    if case is None:
        return
    subject = f"[{case.get_severity_display()}] New {case.get_kind_display()} case: {_label(case)}"
    intro = f"A {case.get_severity_display()} case arrived in the {case.team.name} queue."
    _send(case, case.team, subject, intro, kind="new_case")


def send_escalation_mail(case_id: int) -> None:
    """Mail the group a case escalated to that the case is overdue."""
    case = _load(case_id)
    if case is None:
        return
    subject = f"[Escalated] Overdue {case.get_kind_display()} case: {_label(case)}"
    intro = (
        f"This case in the {case.team.name} queue was due at {case.due_at:%Y-%m-%d %H:%M} UTC "
        f"and is still {case.get_state_display()}."
    )
    _send(case, case.escalation_group, subject, intro, kind="escalation")


def _load(case_id: int) -> ExceptionCase | None:
    case = (
        ExceptionCase.objects.select_related("team", "escalation_group", "assignee", "customer")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        logger.warning("Case to mail about no longer exists", extra={"case_id": case_id})
    return case


def _label(case: ExceptionCase) -> str:
    return case.reference or case.sku or f"#{case.pk}"


def _send(case: ExceptionCase, group, subject: str, intro: str, *, kind: str) -> None:
    recipients = list(team_members(group).exclude(email="").values_list("email", flat=True))
    if not recipients:
        logger.warning(
            "No member of the group has an email address; nobody was mailed",
            extra={"case_id": case.pk, "group": group.name, "mail": kind},
        )
        return
    link = settings.PUBLIC_BASE_URL.rstrip("/") + reverse("admin:exceptions_exceptioncase_change", args=[case.pk])
    lines = [
        intro,
        "",
        case.summary,
        "",
        f"Customer: {case.customer_account} {case.customer_name}".rstrip(),
        f"Severity: {case.get_severity_display()}",
        f"Assignee: {case.assignee.get_username() if case.assignee else 'nobody yet'}",
        f"Due: {case.due_at:%Y-%m-%d %H:%M} UTC",
        "",
        f"Open the case: {link}",
    ]
    try:
        send_mail(subject[:200], "\n".join(lines), None, recipients)
    except (smtplib.SMTPException, OSError):
        # The case is already committed and waits in the queue. A mail server
        # that is down must not turn the action that opened it into an error.
        logger.exception(
            "Case mail could not be sent; check EMAIL_HOST and the mail server",
            extra={"case_id": case.pk, "group": group.name, "mail": kind},
        )
        return
    logger.info(
        "Case mail sent", extra={"case_id": case.pk, "group": group.name, "mail": kind, "recipients": len(recipients)}
    )
