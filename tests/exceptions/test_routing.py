import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.exceptions.models import AssignmentMode, CaseState, RoutingRule
from apps.exceptions.services import case_open
from tests.exceptions.conftest import member_of
from tests.factories import CustomerFactory, RoutingRuleFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "team", "blocking", "escalation_group"),
    [
        ("price_mismatch", "sales", True, "sales-manager"),
        ("out_of_stock", "sales", True, "sales-manager"),
        ("unknown_product", "sales", True, "sales-manager"),
        ("unit_of_measure", "sales", True, "sales-manager"),
        ("duplicate_order", "sales", True, "sales-manager"),
        ("credit", "finance", True, "finance"),
        ("tax_mismatch", "finance", True, "finance"),
        ("quote_approval", "sales-manager", True, "sales-manager"),
        ("catalog_anomaly", "sales", False, "sales-manager"),
    ],
)
def test_default_rule_routes_kind(open_case, kind, team, blocking, escalation_group):
    # when
    case = open_case(kind=kind)

    # then
    assert case.team.name == team
    assert case.blocking is blocking
    assert case.escalation_group.name == escalation_group
    assert case.rule.name.startswith("Default: ")
    assert case.state == CaseState.OPEN
    assert case.assignee is None


def test_default_rule_due_time_follows_severity(open_case):
    # given
    before = timezone.now()

    # when
    normal = open_case(cause_key="a")
    critical = open_case(cause_key="b", severity="critical")

    # then
    assert before + dt.timedelta(hours=24) <= normal.due_at <= timezone.now() + dt.timedelta(hours=24)
    assert before + dt.timedelta(minutes=60) <= critical.due_at <= timezone.now() + dt.timedelta(minutes=60)
    assert normal.escalate_at == normal.due_at


@pytest.mark.parametrize("kind", ["integration_failure", "integration_conflict"])
def test_kind_without_rule_goes_to_fallback_team(open_case, kind):
    # when
    case = open_case(kind=kind)

    # then
    assert case.rule is None
    assert case.team.name == "sales-manager"
    assert case.blocking is True
    assert case.severity == "normal"


def test_fallback_team_is_created_from_setting(open_case, settings):
    # given
    settings.EXCEPTIONS_FALLBACK_TEAM = "operations"
    RoutingRule.objects.filter(kind="credit").update(is_active=False)

    # when
    case = open_case(kind="credit")

    # then
    assert case.team.name == "operations"
    assert Group.objects.filter(name="operations").count() == 1


def test_rule_with_min_order_value_matches_at_or_above_amount(open_case):
    # given
    RoutingRuleFactory(
        kind="credit",
        min_order_value=Decimal("50000.00"),
        min_order_value_currency="EUR",
        team=Group.objects.get(name="sales-manager"),
    )

    # when
    large = open_case(kind="credit", cause_key="large", order_value=Decimal("50000.00"), currency="EUR")
    small = open_case(kind="credit", cause_key="small", order_value=Decimal("49999.99"), currency="EUR")
    other_currency = open_case(kind="credit", cause_key="usd", order_value=Decimal("90000"), currency="USD")
    no_value = open_case(kind="credit", cause_key="none")

    # then
    assert large.team.name == "sales-manager"
    assert small.team.name == "finance"
    assert other_currency.team.name == "finance"
    assert no_value.team.name == "finance"


def test_rule_for_customer_matches_only_that_customer(open_case, customer):
    # given
    RoutingRuleFactory(kind="out_of_stock", customer=customer, team=Group.objects.get(name="sales-manager"))
    other = CustomerFactory()

    # when
    own = open_case(kind="out_of_stock", cause_key="own")
    others = open_case(kind="out_of_stock", cause_key="other", customer=other)

    # then
    assert own.team.name == "sales-manager"
    assert others.team.name == "sales"


def test_rule_for_region_matches_argument_or_customer_region(open_case, customer):
    # given
    apac = Group.objects.create(name="sales-apac")
    RoutingRuleFactory(kind="price_mismatch", region="apac", team=apac)

    # when
    by_argument = open_case(cause_key="arg", region="APAC")
    by_customer = open_case(cause_key="cust", customer=CustomerFactory(region="APAC"))
    elsewhere = open_case(cause_key="emea")

    # then
    assert by_argument.team == apac
    assert by_customer.team == apac
    assert elsewhere.team.name == "sales"


def test_lower_priority_number_wins_and_inactive_rules_are_skipped(open_case):
    # given
    first = Group.objects.create(name="first")
    RoutingRuleFactory(kind="tax_mismatch", priority=5, team=first, is_active=False)
    RoutingRuleFactory(kind="tax_mismatch", priority=20, team=Group.objects.create(name="second"))
    RoutingRuleFactory(kind="tax_mismatch", priority=10, team=Group.objects.create(name="third"))

    # when
    case = open_case(kind="tax_mismatch")

    # then
    assert case.team.name == "third"


def test_round_robin_cycles_through_active_members(open_case):
    # given
    team = Group.objects.create(name="rr-team")
    ann, bob = member_of("ann", "rr-team"), member_of("bob", "rr-team")
    inactive = member_of("cid", "rr-team")
    inactive.is_active = False
    inactive.save()
    RoutingRuleFactory(kind="price_mismatch", team=team, assignment_mode=AssignmentMode.ROUND_ROBIN)

    # when
    assignees = [open_case(cause_key=f"line-{n}").assignee for n in range(3)]

    # then
    assert assignees == [ann, bob, ann]


def test_fewest_open_picks_least_loaded_member(open_case):
    # given
    team = Group.objects.create(name="fo-team")
    busy, free = member_of("busy", "fo-team"), member_of("free", "fo-team")
    RoutingRuleFactory(kind="duplicate_order", team=team, assignment_mode=AssignmentMode.ROUND_ROBIN)
    first = open_case(kind="duplicate_order", cause_key="x")
    RoutingRule.objects.filter(team=team).update(assignment_mode=AssignmentMode.FEWEST_OPEN)

    # when
    second = open_case(kind="duplicate_order", cause_key="y")
    third = open_case(kind="duplicate_order", cause_key="z")

    # then
    assert first.assignee == busy
    assert second.assignee == free
    assert third.assignee == busy


def test_case_without_object_or_customer_is_routed(db):
    # when
    case = case_open(kind="integration_failure", facts={}, summary="ERP down", cause_key="erp-outbound")

    # then
    assert case.team.name == "sales-manager"
    assert case.content_type is None
    assert case.customer_account == ""
