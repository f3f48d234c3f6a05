from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core import mail

from apps.exceptions.errors import (
    AssigneeNotInTeam,
    CaseActionNotPermitted,
    CaseStateConflict,
    DismissReasonMissing,
    InvalidCaseInput,
    ResolutionFailed,
    UnknownResolutionAction,
)
from apps.exceptions.models import CaseState, ExceptionCase
from apps.exceptions.registry import (
    register_close_handler,
    register_resolution,
    resolutions_for,
    unregister_close_handler,
    unregister_resolution,
)
from apps.exceptions.selectors import has_blocking_open_cases, open_cases_for
from apps.exceptions.services import case_assign, case_dismiss, case_open, case_resolve, case_take
from tests.factories import ProductFactory, RoutingRuleFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_open_same_cause_returns_active_case(open_case):
    # given
    first = open_case()

    # when
    again = open_case(summary="changed summary")

    # then
    assert again.pk == first.pk
    assert again.summary == "price_mismatch on line 1"
    assert ExceptionCase.objects.count() == 1


def test_open_other_cause_makes_second_case(open_case):
    # when
    open_case(cause_key="line-1")
    open_case(cause_key="line-2")
    open_case(kind="out_of_stock", cause_key="line-1")

    # then
    assert ExceptionCase.objects.count() == 3


def test_open_same_cause_reopens_closed_case(open_case, sales_user):
    # given
    case = open_case()
    case_dismiss(case=case, reason="Buyer will resend", actor=sales_user)

    # when
    reopened = open_case(facts={"buyer_price": "80.00"}, summary="Price still wrong")

    # then
    assert reopened.pk == case.pk
    assert reopened.state == CaseState.OPEN
    assert reopened.reopen_count == 1
    assert reopened.resolution_note == ""
    assert reopened.resolved_by is None
    assert reopened.facts == {"buyer_price": "80.00"}
    assert reopened.summary == "Price still wrong"
    assert reopened.history.first().history_change_reason == "Reopened: the cause came back"
    assert ExceptionCase.objects.count() == 1


def test_open_stores_decimal_facts_as_strings(open_case):
    # when
    case = open_case()
    case.refresh_from_db()

    # then
    assert case.facts == {"buyer_price": "90.00", "our_price": "100.00", "currency": "EUR"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "nonsense"}, "Case kind 'nonsense' is unknown"),
        ({"severity": "urgent"}, "Severity 'urgent' is unknown"),
        ({"facts": ["a"]}, "Case facts must be a dict, not list."),
        ({"facts": {"when": object()}}, "Case facts cannot be stored as JSON"),
        ({"summary": "  "}, "A case summary must have 1 to 300 characters."),
        ({"cause_key": ""}, "Cause key '' must have 1 to 200 characters."),
        ({"order_value": Decimal("5"), "currency": "EURO"}, "Currency 'EURO' is not an ISO 4217 code"),
        ({"reference": "R" * 65}, "reference"),
    ],
)
def test_open_rejects_bad_input(open_case, overrides, message):
    # when
    with pytest.raises(InvalidCaseInput) as error:
        open_case(**overrides)

    # then
    assert message in error.value.message
    assert ExceptionCase.objects.count() == 0


def test_open_rejects_unsaved_object(db):
    # when
    with pytest.raises(InvalidCaseInput) as error:
        case_open(kind="unknown_product", concerning=ProductFactory.build(), facts={}, summary="x", cause_key="k")

    # then
    assert "must be saved first" in error.value.message


def test_open_high_severity_mails_team_on_commit(open_case, sales_user, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        case = open_case(severity="high")

    # then
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["sales-test@example.com"]
    assert mail.outbox[0].subject == "[high] New price mismatch case: SO-1001"
    assert f"/admin/exceptions/exceptioncase/{case.pk}/change/" in mail.outbox[0].body


def test_open_high_severity_survives_mail_server_failure(
    open_case, sales_user, django_capture_on_commit_callbacks, settings, caplog
):
    # given a mail server that refuses connections
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 1
    settings.EMAIL_TIMEOUT = 2

    # when
    with django_capture_on_commit_callbacks(execute=True):
        case = open_case(severity="high")

    # then the case is open and the failure is logged, not raised
    assert ExceptionCase.objects.get(pk=case.pk).state == CaseState.OPEN
    assert "Case mail could not be sent" in caplog.text


def test_open_normal_severity_sends_no_mail(open_case, sales_user, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        open_case()

    # then
    assert mail.outbox == []


def test_selectors_find_open_blocking_cases(open_case, product, sales_user):
    # given
    blocking = open_case()
    open_case(kind="catalog_anomaly", cause_key="jump")
    other = ProductFactory()

    # then
    assert list(open_cases_for(product).values_list("kind", flat=True)) == ["price_mismatch", "catalog_anomaly"]
    assert has_blocking_open_cases(product) is True
    assert has_blocking_open_cases(other) is False

    # when
    case_dismiss(case=blocking, reason="duplicate", actor=sales_user)

    # then
    assert has_blocking_open_cases(product) is False


def test_take_assigns_actor_and_starts_work(open_case, sales_user):
    # given
    case = open_case()

    # when
    taken = case_take(case=case, actor=sales_user)

    # then
    case.refresh_from_db()
    assert taken.state == CaseState.IN_PROGRESS
    assert case.state == CaseState.IN_PROGRESS
    assert case.assignee == sales_user
    assert case.history.first().history_user == sales_user


def test_take_twice_conflicts(open_case, sales_user, sales_colleague):
    # given
    case = open_case()
    case_take(case=case, actor=sales_user)

    # when
    with pytest.raises(CaseStateConflict) as error:
        case_take(case=case, actor=sales_colleague)

    # then
    assert error.value.message == f"Case {case.pk} is in progress; it cannot be taken now."
    case.refresh_from_db()
    assert case.assignee == sales_user


def test_assign_to_team_member(open_case, sales_user, sales_colleague):
    # given
    case = open_case()

    # when
    case_assign(case=case, assignee=sales_colleague, actor=sales_user)

    # then
    case.refresh_from_db()
    assert case.assignee == sales_colleague
    assert case.state == CaseState.OPEN


def test_assign_outside_team_is_rejected(open_case, sales_user, finance_user):
    # given
    case = open_case()

    # when
    with pytest.raises(AssigneeNotInTeam) as error:
        case_assign(case=case, assignee=finance_user, actor=sales_user)

    # then
    assert error.value.message == (
        "finance-test is not an active member of team sales; pick a member of the case's team."
    )
    case.refresh_from_db()
    assert case.assignee is None


def test_resolve_runs_registered_action_and_records_it(open_case, sales_user, fake_resolution):
    # given
    case = open_case()
    case_take(case=case, actor=sales_user)

    # when
    case_resolve(case=case, action="accept_buyer_price", note="Agreed by phone", actor=sales_user)

    # then
    case.refresh_from_db()
    assert fake_resolution["calls"] == [(case.pk, "sales-test", "Agreed by phone")]
    assert case.state == CaseState.RESOLVED
    assert case.resolution_action == "accept_buyer_price"
    assert case.resolution_note == "Agreed by phone"
    assert case.resolved_by == sales_user
    assert case.resolved_at is not None


def test_history_records_who_resolved_and_why(open_case, sales_user, fake_resolution):
    # given
    case = open_case()

    # when
    case_resolve(case=case, action="accept_buyer_price", note="Agreed by phone", actor=sales_user)

    # then
    latest = case.history.first()
    assert latest.history_user == sales_user
    assert latest.history_change_reason == "Resolved: Accept the buyer's price (Agreed by phone)"
    assert latest.state == CaseState.RESOLVED
    assert latest.resolution_note == "Agreed by phone"
    assert [record.history_change_reason for record in case.history.order_by("history_id")] == [
        "Opened",
        "Resolved: Accept the buyer's price (Agreed by phone)",
    ]


def test_resolve_with_unregistered_action_is_rejected(open_case, sales_user, fake_resolution):
    # given
    case = open_case()

    # when
    with pytest.raises(UnknownResolutionAction) as error:
        case_resolve(case=case, action="acknowledge", note="", actor=sales_user)

    # then
    # Other apps register their own price-mismatch actions, so the list is checked by its names.
    prefix = "Resolution 'acknowledge' is not registered for price mismatch cases; available: "
    assert error.value.message.startswith(prefix)
    available = error.value.message.removeprefix(prefix).removesuffix(".").split(", ")
    assert available == sorted(action.name for action in resolutions_for("price_mismatch"))
    assert "accept_buyer_price" in available
    assert "acknowledge" not in available
    case.refresh_from_db()
    assert case.state == CaseState.OPEN


def test_failing_action_leaves_case_unresolved(open_case, sales_user, fake_resolution):
    # given
    case = open_case()
    fake_resolution["fail"] = True

    # when
    with pytest.raises(ResolutionFailed):
        case_resolve(case=case, action="accept_buyer_price", note="", actor=sales_user)

    # then
    case.refresh_from_db()
    assert case.state == CaseState.OPEN
    assert case.resolved_by is None
    assert case.history.count() == 1


def test_builtin_acknowledge_resolves_integration_failure(open_case, manager_user):
    # given
    case = open_case(kind="integration_failure", cause_key="erp-ack")

    # when
    case_resolve(case=case, action="acknowledge", note="ERP fixed the mapping", actor=manager_user)

    # then
    case.refresh_from_db()
    assert case.state == CaseState.RESOLVED
    assert case.resolution_action == "acknowledge"


def test_dismiss_needs_reason(open_case, sales_user):
    # given
    case = open_case()

    # when
    with pytest.raises(DismissReasonMissing):
        case_dismiss(case=case, reason="   ", actor=sales_user)

    # then
    case.refresh_from_db()
    assert case.state == CaseState.OPEN


def test_dismiss_records_reason(open_case, sales_user):
    # given
    case = open_case()

    # when
    case_dismiss(case=case, reason="Test order from the buyer", actor=sales_user)

    # then
    case.refresh_from_db()
    assert case.state == CaseState.DISMISSED
    assert case.resolution_note == "Test order from the buyer"
    assert case.history.first().history_change_reason == "Dismissed: Test order from the buyer"


def test_closed_case_cannot_be_resolved_again(open_case, sales_user, fake_resolution):
    # given
    case = open_case()
    case_dismiss(case=case, reason="duplicate", actor=sales_user)

    # when
    with pytest.raises(CaseStateConflict):
        case_resolve(case=case, action="accept_buyer_price", note="", actor=sales_user)

    # then
    assert fake_resolution["calls"] == []


@pytest.fixture
def credit_resolution():
    performed = []
    register_resolution(
        "credit",
        "release_hold",
        "Release the credit hold",
        describe=lambda case: "Releases the hold.",
        perform=lambda case, actor, note: performed.append(case.pk),
    )
    yield performed
    unregister_resolution("credit", "release_hold")


@pytest.mark.parametrize("operation", ["take", "resolve", "dismiss", "assign"])
def test_sales_user_cannot_act_on_finance_case(open_case, sales_user, finance_user, credit_resolution, operation):
    # given
    case = open_case(kind="credit", cause_key="limit")
    attempts = {
        "take": lambda: case_take(case=case, actor=sales_user),
        "resolve": lambda: case_resolve(case=case, action="release_hold", note="", actor=sales_user),
        "dismiss": lambda: case_dismiss(case=case, reason="not mine", actor=sales_user),
        "assign": lambda: case_assign(case=case, assignee=finance_user, actor=sales_user),
    }

    # when
    with pytest.raises(CaseActionNotPermitted) as error:
        attempts[operation]()

    # then
    assert error.value.message.startswith("sales-test is not in team finance")
    assert credit_resolution == []
    case.refresh_from_db()
    assert case.state == CaseState.OPEN
    assert case.assignee is None
    assert case.history.count() == 1


def test_finance_user_resolves_finance_case(open_case, finance_user, credit_resolution):
    # given
    case = open_case(kind="credit", cause_key="limit")

    # when
    case_resolve(case=case, action="release_hold", note="Paid in advance", actor=finance_user)

    # then
    case.refresh_from_db()
    assert case.state == CaseState.RESOLVED
    assert credit_resolution == [case.pk]


def test_team_member_without_permission_cannot_take(open_case):
    # given
    interns = Group.objects.create(name="interns")
    RoutingRuleFactory(kind="price_mismatch", team=interns)
    intern = UserFactory(username="intern")
    intern.groups.add(interns)
    case = open_case()

    # when
    with pytest.raises(CaseActionNotPermitted) as error:
        case_take(case=case, actor=intern)

    # then
    assert error.value.message == "intern lacks the permission to take exception cases."
    case.refresh_from_db()
    assert case.state == CaseState.OPEN


def test_superuser_acts_on_any_case(open_case, superuser):
    # given
    case = open_case(kind="credit")

    # when
    case_take(case=case, actor=superuser)

    # then
    case.refresh_from_db()
    assert case.assignee == superuser


def test_close_handler_sees_object_released_after_last_case(open_case, product, sales_user, fake_resolution):
    # given
    price = open_case(cause_key="line-1")
    stock = open_case(kind="out_of_stock", cause_key="line-2")
    seen = []

    def handler(case, actor):
        seen.append((case.pk, actor.username, has_blocking_open_cases(case.concerning)))

    register_close_handler("catalog.Product", handler)
    try:
        # when
        case_resolve(case=price, action="accept_buyer_price", note="", actor=sales_user)
        case_dismiss(case=stock, reason="restocked", actor=sales_user)
    finally:
        unregister_close_handler("catalog.Product", handler)

    # then
    assert seen == [(price.pk, "sales-test", True), (stock.pk, "sales-test", False)]


def test_failing_close_handler_rolls_back_resolution(open_case, sales_user, fake_resolution):
    # given
    case = open_case()

    def handler(case, actor):
        raise ResolutionFailed("The order cannot continue: it was cancelled.")

    register_close_handler("catalog.product", handler)
    try:
        # when
        with pytest.raises(ResolutionFailed):
            case_resolve(case=case, action="accept_buyer_price", note="", actor=sales_user)
    finally:
        unregister_close_handler("catalog.product", handler)

    # then
    case.refresh_from_db()
    assert case.state == CaseState.OPEN
