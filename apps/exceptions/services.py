"""Open, take, assign, resolve, dismiss and escalate exception cases.

Every function takes keyword arguments only, with the acting user as
``actor``. The staff actions check the transition permission and the
actor's membership of the case's team (superusers pass), lock the case row,
run the transition and save in one transaction, and send mail only after
commit.
"""

import datetime as dt
import json
import logging
from decimal import Decimal
from functools import partial

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition, can_proceed, has_transition_perm

from apps.core.history import save_with_history
from apps.core.money import InvalidCurrency, validate_currency
from apps.exceptions import notifications
from apps.exceptions.errors import (
    AssigneeNotInTeam,
    CaseActionNotPermitted,
    CaseStateConflict,
    DismissReasonMissing,
    InvalidCaseInput,
)
from apps.exceptions.models import (
    ACTIVE_STATES,
    CaseEscalation,
    CaseKind,
    ExceptionCase,
    Severity,
)
from apps.exceptions.registry import close_handlers_for, get_resolution
from apps.exceptions.routing import Route, choose_assignee, route_case, team_members

logger = logging.getLogger(__name__)

# Cases handled per run of cases_escalate_overdue, for each of its two steps;
# the beat task runs every minute, so a backlog drains over a few runs while
# each run stays short.
ESCALATION_BATCH_SIZE = 500

NOTIFIED_SEVERITIES = (Severity.HIGH, Severity.CRITICAL)


def case_open(
    *,
    kind: str,
    concerning=None,
    customer=None,
    facts: dict,
    summary: str,
    cause_key: str,
    severity: str | None = None,
    reference: str = "",
    po_number: str = "",
    sku: str = "",
    order_value: Decimal | None = None,
    currency: str | None = None,
    region: str | None = None,
    team=None,
    actor=None,
    concerning_created: bool = False,
) -> ExceptionCase:
    """Open a case, or return the active case of the same kind and cause on the object, or reopen a closed one.

    A new or reopened case is routed by the rules (or to the fallback team),
    assigned as the rule says, given its due and escalation times, and, when
    its severity is high or critical, mailed to its team after commit.
    ``team`` (a Group) sends the case to that team whatever the rule names,
    for callers that know who must act, such as the group a quote approval
    needs; the matching rule still sets the due time, severity and escalation.
    ``concerning_created`` says that the caller inserted ``concerning`` in its
    open transaction, so no case of it can exist yet, and the case is
    inserted without first locking a case of the same cause.
    """
    _validate_open_input(
        kind=kind,
        facts=facts,
        summary=summary,
        cause_key=cause_key,
        severity=severity,
        identifiers={"reference": reference, "po_number": po_number, "sku": sku},
    )
    currency = _validated_currency(currency) if order_value is not None or currency else None
    content_type, object_id = _object_key(concerning)
    if customer is not None and customer.pk is None:
        raise InvalidCaseInput("The customer of a case must be saved first.")

    now = timezone.now()
    details = {
        "facts": facts,
        "summary": summary.strip(),
        "customer": customer,
        "reference": reference.strip(),
        "po_number": po_number.strip(),
        "sku": sku.strip(),
    }
    # A case of a new object needs no savepoint, because its insert cannot conflict. Any error fails the
    # caller's transaction, which is the one that created the object.
    fresh = concerning_created and concerning is not None
    with transaction.atomic(savepoint=not fresh):
        existing = None if fresh else _lock_same_cause(kind, content_type, object_id, cause_key)
        if existing is not None and existing.is_active:
            return existing

        route = route_case(
            kind=kind,
            severity=severity,
            customer=customer,
            order_value=order_value,
            currency=currency,
            region=region,
            now=now,
            team=team,
        )
        assignee = choose_assignee(route)
        if existing is None:
            case = ExceptionCase(kind=kind, content_type=content_type, object_id=object_id, cause_key=cause_key)
            _apply_details(case, details)
            _apply_route(case, route)
            case.assignee = assignee
            try:
                with transaction.atomic(savepoint=not fresh):
                    save_with_history(case, actor=actor, reason="Opened")
            except IntegrityError:
                if fresh:
                    raise
                # Another transaction opened the same cause first; use its case.
                existing = _lock_same_cause(kind, content_type, object_id, cause_key)
                if existing is None:
                    raise
                if existing.is_active:
                    return existing
        if existing is not None:
            case = existing
            case.reopen()
            _apply_details(case, details)
            _apply_route(case, route)
            case.assignee = assignee
            _save(case, actor, "Reopened: the cause came back", None)

        if case.severity in NOTIFIED_SEVERITIES:
            transaction.on_commit(partial(notifications.send_new_case_mail, case.pk))

    logger.info(
        "Exception case opened",
        extra={"case_id": case.pk, "kind": kind, "team": case.team.name, "reopen_count": case.reopen_count},
    )
    return case


def case_take(*, case: ExceptionCase, actor) -> ExceptionCase:
    """Assign an open case to the actor and mark it in progress."""
    with transaction.atomic():
        case = _lock(case)
        _check_actor(case, case.take, actor, "take")

        case.take(by=actor)

        return _save(case, actor, "Taken", ["state", "assignee", "updated_at"])


def case_assign(*, case: ExceptionCase, assignee, actor) -> ExceptionCase:
    """Assign an active case to an active member of its team, keeping its state."""
    with transaction.atomic():
        case = _lock(case)
        _check_actor(case, case.assign, actor, "assign")
        if assignee is None or not team_members(case.team).filter(pk=assignee.pk).exists():
            name = getattr(assignee, "username", None)
            raise AssigneeNotInTeam(
                f"{name or 'Nobody'} is not an active member of team {case.team.name}; "
                "pick a member of the case's team."
            )

        case.assign(to=assignee)

        return _save(case, actor, f"Assigned to {assignee.get_username()}", ["assignee", "updated_at"])


def case_resolve(*, case: ExceptionCase, action: str, note: str, actor) -> ExceptionCase:
    """Run the registered resolution action for the case's kind, then resolve the case, in one transaction.

    An error raised by the action rolls everything back and leaves the case as it was.
    """
    resolution = get_resolution(case.kind, action)
    note = (note or "").strip()
    with transaction.atomic():
        case = _lock(case)
        _check_actor(case, case.resolve, actor, "resolve")

        resolution.perform(case, actor, note)
        case.resolve(action=action, note=note, by=actor, at=timezone.now())

        reason = f"Resolved: {resolution.label}" + (f" ({note})" if note else "")
        _save(
            case,
            actor,
            reason,
            ["state", "resolution_action", "resolution_note", "resolved_by", "resolved_at", "updated_at"],
        )

        _run_close_handlers(case, actor)
        return case


def case_dismiss(*, case: ExceptionCase, reason: str, actor) -> ExceptionCase:
    """Close a case without acting on it; the reason is required and kept."""
    reason = (reason or "").strip()
    if not reason:
        raise DismissReasonMissing("Give a reason to dismiss a case; it is kept in the case's history.")
    with transaction.atomic():
        case = _lock(case)
        _check_actor(case, case.dismiss, actor, "dismiss")

        case.dismiss(reason=reason, by=actor, at=timezone.now())

        _save(
            case,
            actor,
            f"Dismissed: {reason}",
            ["state", "resolution_action", "resolution_note", "resolved_by", "resolved_at", "updated_at"],
        )

        _run_close_handlers(case, actor)
        return case


def case_supersede(*, case: ExceptionCase, reason: str) -> ExceptionCase:
    """Dismiss an active case as the system because a newer document replaced what it was about.

    No user acts, so no permission is checked, and the close handlers do not
    run: the caller owns the concerned object, has just checked it again, and
    moves it on itself. A case that is no longer active is returned unchanged.
    """
    reason = (reason or "").strip()
    if not reason:
        raise DismissReasonMissing("Give a reason to dismiss a case; it is kept in the case's history.")
    with transaction.atomic():
        case = _lock(case)
        if not case.is_active:
            return case

        case.dismiss(reason=reason, by=None, at=timezone.now())

        _save(
            case,
            None,
            f"Superseded: {reason}",
            ["state", "resolution_action", "resolution_note", "resolved_by", "resolved_at", "updated_at"],
        )
        logger.info("Exception case superseded", extra={"case_id": case.pk, "cause": case.cause_key})
        return case


def cases_escalate_overdue(*, now: dt.datetime | None = None) -> int:
    """Mark active cases past their due time overdue and escalate those past their escalation time.

    A case escalates at most once per level and reopening round: the
    escalation row is unique, and the case row is locked while it is
    written. Returns the number of escalations made by this run.
    """
    now = now or timezone.now()
    marked = 0
    overdue_ids = list(
        ExceptionCase.objects.filter(state__in=ACTIVE_STATES, overdue=False, due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", flat=True)[:ESCALATION_BATCH_SIZE]
    )
    for case_id in overdue_ids:
        marked += _mark_overdue(case_id, now)

    escalated = 0
    escalation_ids = list(
        ExceptionCase.objects.filter(state__in=ACTIVE_STATES, escalation_level=0, escalate_at__lte=now)
        .order_by("escalate_at")
        .values_list("pk", flat=True)[:ESCALATION_BATCH_SIZE]
    )
    for case_id in escalation_ids:
        escalated += _escalate(case_id, now)

    logger.info("Overdue cases checked", extra={"marked_overdue": marked, "escalated": escalated})
    return escalated


def _mark_overdue(case_id: int, now: dt.datetime) -> int:
    with transaction.atomic():
        case = ExceptionCase.objects.select_for_update().filter(pk=case_id).first()
        if case is None or not case.is_active or case.overdue or case.due_at > now:
            logger.info("Case no longer needs marking overdue", extra={"case_id": case_id})
            return 0
        case.overdue = True
        _save(case, None, "Overdue: the due time passed", ["overdue", "updated_at"])
    return 1


def _escalate(case_id: int, now: dt.datetime) -> int:
    level = 1
    with transaction.atomic():
        case = ExceptionCase.objects.select_for_update().filter(pk=case_id).first()
        if case is None or not case.is_active or case.escalation_level >= level or case.escalate_at > now:
            logger.info("Case no longer needs escalating", extra={"case_id": case_id})
            return 0
        try:
            with transaction.atomic():
                CaseEscalation.objects.create(
                    case=case, round=case.reopen_count, level=level, group_id=case.escalation_group_id, escalated_at=now
                )
        except IntegrityError:
            logger.info("Case already escalated at this level", extra={"case_id": case_id, "level": level})
            return 0

        case.escalation_level = level
        case.overdue = case.overdue or case.due_at <= now
        _save(case, None, f"Escalated to {case.escalation_group.name}", ["escalation_level", "overdue", "updated_at"])

        transaction.on_commit(partial(notifications.send_escalation_mail, case.pk))
    logger.info("Case escalated", extra={"case_id": case_id, "level": level})
    return 1


def _run_close_handlers(case: ExceptionCase, actor) -> None:
    # NOTE: the order hooks go here and in the registry. The orders work is
    # expected to register its resolutions (accept the buyer's price, keep
    # ours, substitute or backorder, release the credit hold...) with
    # register_resolution and a close handler for "orders.order" that
    # continues the order once has_blocking_open_cases(order) is False. No
    # handler exists until then, so closing a case moves nothing else on.
    if case.content_type_id is None:
        return
    content_type = ContentType.objects.get_for_id(case.content_type_id)
    label = f"{content_type.app_label}.{content_type.model}"
    for handler in close_handlers_for(label):
        handler(case, actor)


def _validate_open_input(*, kind, facts, summary, cause_key, severity, identifiers) -> None:
    if kind not in CaseKind.values:
        raise InvalidCaseInput(f"Case kind {kind!r} is unknown; use one of {', '.join(CaseKind.values)}.")
    if severity is not None and severity not in Severity.values:
        raise InvalidCaseInput(f"Severity {severity!r} is unknown; use one of {', '.join(Severity.values)}.")
    if not isinstance(facts, dict):
        raise InvalidCaseInput(f"Case facts must be a dict, not {type(facts).__name__}.")
    try:
        json.dumps(facts, cls=DjangoJSONEncoder)
    except (TypeError, ValueError) as error:
        raise InvalidCaseInput(f"Case facts cannot be stored as JSON: {error}.") from None
    if not (summary or "").strip() or len(summary.strip()) > 300:
        raise InvalidCaseInput("A case summary must have 1 to 300 characters.")
    if not (cause_key or "").strip() or len(cause_key) > 200:
        raise InvalidCaseInput(f"Cause key {cause_key!r} must have 1 to 200 characters.")
    for name, value in identifiers.items():
        if len(value.strip()) > 64:
            raise InvalidCaseInput(f"{name} {value!r} is longer than 64 characters.")


def _validated_currency(currency: str | None) -> str:
    try:
        return validate_currency(currency or "")
    except InvalidCurrency as error:
        raise InvalidCaseInput(str(error)) from None


def _object_key(concerning) -> tuple[ContentType | None, str]:
    if concerning is None:
        return None, ""
    if getattr(concerning, "pk", None) is None:
        raise InvalidCaseInput(f"The object a case concerns must be saved first: {concerning!r}.")
    object_id = str(concerning.pk)
    if len(object_id) > 64:
        raise InvalidCaseInput(f"The id {object_id!r} of the concerned object is longer than 64 characters.")
    return ContentType.objects.get_for_model(concerning), object_id


def _lock_same_cause(kind, content_type, object_id, cause_key) -> ExceptionCase | None:
    return (
        ExceptionCase.objects.select_for_update()
        .filter(kind=kind, content_type=content_type, object_id=object_id, cause_key=cause_key)
        .first()
    )


def _apply_details(case: ExceptionCase, details: dict) -> None:
    customer = details["customer"]
    case.facts = details["facts"]
    case.summary = details["summary"]
    case.customer = customer
    case.reference = details["reference"]
    case.po_number = details["po_number"]
    case.sku = details["sku"]
    case.customer_account = customer.account_number if customer is not None else ""
    case.customer_name = customer.name if customer is not None else ""


def _apply_route(case: ExceptionCase, route: Route) -> None:
    case.rule = route.rule
    case.team = route.team
    case.blocking = route.blocking
    case.severity = route.severity
    case.due_at = route.due_at
    case.escalation_group = route.escalation_group
    case.escalate_at = route.escalate_at


def _lock(case: ExceptionCase) -> ExceptionCase:
    return ExceptionCase.objects.select_for_update().select_related("team").get(pk=case.pk)


def _check_actor(case: ExceptionCase, transition_method, actor, verb: str) -> None:
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise CaseActionNotPermitted(f"Only a signed-in active user can {verb} case {case.pk}.")
    if not can_proceed(transition_method):
        raise CaseStateConflict(f"Case {case.pk} is {case.get_state_display()}; it cannot be {_past(verb)} now.")
    if not has_transition_perm(transition_method, actor):
        raise CaseActionNotPermitted(f"{actor.get_username()} lacks the permission to {verb} exception cases.")
    if not can_act_on(actor, case):
        raise CaseActionNotPermitted(
            f"{actor.get_username()} is not in team {case.team.name}, so cannot {verb} case {case.pk}."
        )


def can_act_on(user, case: ExceptionCase) -> bool:
    """Return whether the user is a superuser, in the case's team, or in the group it escalated to."""
    if user.is_superuser:
        return True
    group_ids = [case.team_id]
    if case.escalation_level > 0:
        group_ids.append(case.escalation_group_id)
    return user.groups.filter(pk__in=group_ids).exists()


def _past(verb: str) -> str:
    return {"take": "taken", "assign": "assigned", "resolve": "resolved", "dismiss": "dismissed"}[verb]


def _save(case: ExceptionCase, actor, reason: str, update_fields: list[str] | None) -> ExceptionCase:
    case._history_user = actor
    case._change_reason = reason[:100]
    try:
        case.save(update_fields=update_fields)
    except ConcurrentTransition:
        raise CaseStateConflict(f"Case {case.pk} was changed by someone else meanwhile; reload it.") from None
    return case
