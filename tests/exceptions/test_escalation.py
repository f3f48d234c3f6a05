import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from apps.exceptions.models import CaseEscalation, CaseState, ExceptionCase
from apps.exceptions.selectors import cases_visible_to
from apps.exceptions.services import case_dismiss, case_take, cases_escalate_overdue
from apps.exceptions.tasks import escalate_overdue_cases
from tests.exceptions.conftest import member_of
from tests.factories import RoutingRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(db):
    return member_of("boss", "sales-manager")


def test_task_twice_escalates_once(open_case, manager, django_capture_on_commit_callbacks):
    # given
    case = open_case()
    past_due = timezone.now() + dt.timedelta(days=2)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        first = cases_escalate_overdue(now=past_due)
        second = cases_escalate_overdue(now=past_due)

    # then
    case.refresh_from_db()
    assert (first, second) == (1, 0)
    assert case.overdue is True
    assert case.escalation_level == 1
    assert CaseEscalation.objects.filter(case=case).count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["boss@example.com"]
    assert mail.outbox[0].subject == "[Escalated] Overdue price mismatch case: SO-1001"


def test_beat_task_escalates_past_due_cases(open_case, manager, django_capture_on_commit_callbacks):
    # given
    due = open_case(cause_key="due")
    not_due = open_case(cause_key="later")
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    ExceptionCase.objects.filter(pk=due.pk).update(due_at=an_hour_ago, escalate_at=an_hour_ago)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        escalated = escalate_overdue_cases()

    # then
    due.refresh_from_db()
    not_due.refresh_from_db()
    assert escalated == 1
    assert (due.overdue, due.escalation_level) == (True, 1)
    assert (not_due.overdue, not_due.escalation_level) == (False, 0)
    assert len(mail.outbox) == 1


def test_overdue_marked_before_escalation_delay(open_case, manager):
    # given
    RoutingRuleFactory(kind="out_of_stock", escalation_delay_minutes=120, escalation_group=manager.groups.get())
    case = open_case(kind="out_of_stock")
    just_after_due = case.due_at + dt.timedelta(minutes=1)

    # when
    escalated = cases_escalate_overdue(now=just_after_due)

    # then
    case.refresh_from_db()
    assert escalated == 0
    assert case.overdue is True
    assert case.escalation_level == 0
    assert case.history.first().history_change_reason == "Overdue: the due time passed"

    # when
    escalated = cases_escalate_overdue(now=case.due_at + dt.timedelta(minutes=120))

    # then
    case.refresh_from_db()
    assert escalated == 1
    assert case.escalation_level == 1


def test_closed_case_does_not_escalate(open_case, sales_user):
    # given
    case = open_case()
    case_dismiss(case=case, reason="duplicate", actor=sales_user)

    # when
    escalated = cases_escalate_overdue(now=timezone.now() + dt.timedelta(days=5))

    # then
    case.refresh_from_db()
    assert escalated == 0
    assert case.overdue is False
    assert CaseEscalation.objects.count() == 0


def test_reopened_case_escalates_again_in_new_round(open_case, sales_user):
    # given
    case = open_case()
    cases_escalate_overdue(now=timezone.now() + dt.timedelta(days=2))
    case_dismiss(case=case, reason="buyer resends", actor=sales_user)
    reopened = open_case()

    # when
    escalated = cases_escalate_overdue(now=timezone.now() + dt.timedelta(days=2))

    # then
    assert reopened.state == CaseState.OPEN
    assert escalated == 1
    assert list(CaseEscalation.objects.order_by("round").values_list("round", "level")) == [(0, 1), (1, 1)]


def test_escalation_group_members_see_and_act_on_escalated_case(open_case, manager):
    # given
    RoutingRuleFactory(
        kind="credit", team=member_of("fin", "finance").groups.get(), escalation_group=manager.groups.get()
    )
    case = open_case(kind="credit")
    assert not cases_visible_to(manager).filter(pk=case.pk).exists()

    # when
    cases_escalate_overdue(now=timezone.now() + dt.timedelta(days=2))

    # then
    assert cases_visible_to(manager).filter(pk=case.pk).exists()
    case_take(case=case, actor=manager)
    case.refresh_from_db()
    assert case.assignee == manager
