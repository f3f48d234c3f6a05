"""Choose the routing rule, team, due time, escalation and assignee of a new or reopened case.

A case that no active rule matches goes to the fallback team, the group
named by the ``EXCEPTIONS_FALLBACK_TEAM`` setting ("sales-manager" when
unset), which is created when missing, so that no case is ever lost. The
fallback blocks the object, leaves the case in the queue, uses the due times
below and escalates to the fallback team itself.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count, Q

from apps.core.prepared import placeholder_text, prepared
from apps.exceptions.models import ACTIVE_STATES, AssignmentMode, RoutingRule, Severity

logger = logging.getLogger(__name__)

DEFAULT_FALLBACK_TEAM = "sales-manager"

# Due times of a case that no rule routes, in minutes per severity; the same
# as a new rule's defaults.
FALLBACK_DUE_MINUTES = {
    Severity.LOW: 3 * 24 * 60,
    Severity.NORMAL: 24 * 60,
    Severity.HIGH: 4 * 60,
    Severity.CRITICAL: 60,
}


@dataclass(frozen=True)
class Route:
    """Where a case goes and when it is due, as chosen by a rule or by the fallback."""

    rule: RoutingRule | None
    team: Group
    blocking: bool
    severity: str
    due_at: dt.datetime
    escalation_group: Group
    escalate_at: dt.datetime
    assignment_mode: str


def fallback_team() -> Group:
    """Return the fallback team's group, creating it when missing."""
    name = getattr(settings, "EXCEPTIONS_FALLBACK_TEAM", DEFAULT_FALLBACK_TEAM) or DEFAULT_FALLBACK_TEAM
    group, created = Group.objects.get_or_create(name=name)
    if created:
        logger.warning("Created the missing fallback team group %s", name, extra={"group": name})
    return group


def match_rule(
    *,
    kind: str,
    customer=None,
    order_value: Decimal | None,
    currency: str | None,
    region: str | None,
) -> RoutingRule | None:
    """Return the first active rule of the kind whose conditions hold, or None."""
    query = prepared("exceptions.active_rules", _active_rules, {"kind": placeholder_text("kind")})
    rules = query.run({"kind": str(kind)})
    if region is None and customer is not None:
        region = customer.region
    for rule in rules:
        if _rule_matches(rule, customer=customer, order_value=order_value, currency=currency, region=region):
            return rule
    return None


def _active_rules(kind: str):
    return (
        RoutingRule.objects.filter(kind=kind, is_active=True)
        .select_related("team", "escalation_group")
        .order_by("priority", "id")
    )


def _rule_matches(rule: RoutingRule, *, customer, order_value, currency, region) -> bool:
    if rule.customer_id is not None and (customer is None or customer.pk != rule.customer_id):
        return False
    if rule.region and (not region or region.strip().casefold() != rule.region.strip().casefold()):
        return False
    if rule.min_order_value is not None:
        # No currency conversion: a value in another currency does not match.
        if order_value is None or (currency or "").upper() != rule.min_order_value_currency.upper():
            return False
        if order_value < rule.min_order_value:
            return False
    return True


def route_case(
    *,
    kind: str,
    severity: str | None,
    customer,
    order_value: Decimal | None,
    currency: str | None,
    region: str | None,
    now: dt.datetime,
    team: Group | None = None,
) -> Route:
    """Choose the rule (or the fallback) for a case and compute its due and escalation times.

    A given ``team`` replaces the team the rule or the fallback names, and
    is the escalation group unless the rule names one.
    """
    rule = match_rule(kind=kind, customer=customer, order_value=order_value, currency=currency, region=region)
    if rule is None:
        team = team or fallback_team()
        severity = severity or Severity.NORMAL
        due_at = now + dt.timedelta(minutes=FALLBACK_DUE_MINUTES[severity])
        logger.warning(
            "No routing rule matched; the case goes to the fallback team",
            extra={"kind": kind, "team": team.name},
        )
        return Route(
            rule=None,
            team=team,
            blocking=True,
            severity=severity,
            due_at=due_at,
            escalation_group=team,
            escalate_at=due_at,
            assignment_mode=AssignmentMode.QUEUE,
        )

    severity = severity or rule.default_severity
    due_at = now + dt.timedelta(minutes=rule.due_minutes_for(severity))
    team = team or rule.team
    return Route(
        rule=rule,
        team=team,
        blocking=rule.blocking,
        severity=severity,
        due_at=due_at,
        escalation_group=rule.escalation_group or team,
        escalate_at=due_at + dt.timedelta(minutes=rule.escalation_delay_minutes),
        assignment_mode=rule.assignment_mode,
    )


def team_members(team: Group):
    """Return the active users of a team, by id."""
    return get_user_model().objects.filter(groups=team, is_active=True).order_by("pk")


def choose_assignee(route: Route):
    """Return the member the route's assignment mode picks, or None to leave the case in the queue.

    Round-robin and fewest-open lock the rule's row, so that cases opened at
    the same time by the same rule are assigned one after the other.
    """
    if route.rule is None or route.assignment_mode == AssignmentMode.QUEUE:
        return None
    RoutingRule.objects.select_for_update().filter(pk=route.rule.pk).values_list("pk", flat=True).first()
    members = team_members(route.team)

    if route.assignment_mode == AssignmentMode.ROUND_ROBIN:
        last_assignee_id = (
            route.rule.cases.filter(assignee__isnull=False)
            .order_by("-id")
            .values_list("assignee_id", flat=True)
            .first()
        )
        if last_assignee_id is not None:
            following = members.filter(pk__gt=last_assignee_id).first()
            if following is not None:
                return following
        return members.first()

    open_cases = Count("assigned_exception_cases", filter=Q(assigned_exception_cases__state__in=ACTIVE_STATES))
    return members.annotate(open_cases=open_cases).order_by("open_cases", "pk").first()
