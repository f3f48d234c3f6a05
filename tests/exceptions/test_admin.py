import datetime as dt
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.exceptions.models import CaseState, ExceptionCase, RoutingRule
from apps.exceptions.services import case_dismiss
from tests.factories import CustomerFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:exceptions_exceptioncase_changelist")


def change_url(case, view="change"):
    return reverse(f"admin:exceptions_exceptioncase_{view}", args=[case.pk])


def listed_ids(response):
    return [case.pk for case in response.context["cl"].result_list]


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    """Pages here are rendered, so static files come from the finders."""


@pytest.fixture
def sales_client(client, sales_user):
    client.force_login(sales_user)
    return client


def test_queue_lists_own_active_cases_by_due(sales_client, open_case, sales_user):
    # given
    normal = open_case(cause_key="normal")
    critical = open_case(cause_key="critical", severity="critical")
    closed = open_case(cause_key="closed")
    case_dismiss(case=closed, reason="dup", actor=sales_user)
    open_case(kind="credit", cause_key="finance")

    # when
    response = sales_client.get(CHANGELIST)

    # then
    assert response.status_code == 200
    assert listed_ids(response) == [critical.pk, normal.pk]
    assert response.context["queue"]["total"] == 2
    assert response.context["queue"]["by_kind"] == [{"kind": "price_mismatch", "count": 2}]
    assert "Your exception queue" in response.content.decode()


def test_queue_all_states_still_hides_other_teams(sales_client, open_case):
    # given
    own = open_case()
    open_case(kind="credit")

    # when
    response = sales_client.get(CHANGELIST, {"state": "all"})

    # then
    assert listed_ids(response) == [own.pk]


def test_overdue_case_is_marked_and_filtered(sales_client, open_case):
    # given
    late = open_case(cause_key="late")
    on_time = open_case(cause_key="on-time")
    ExceptionCase.objects.filter(pk=late.pk).update(due_at=timezone.now() - dt.timedelta(minutes=5))

    # when
    everything = sales_client.get(CHANGELIST)
    overdue = sales_client.get(CHANGELIST, {"overdue": "yes"})
    not_overdue = sales_client.get(CHANGELIST, {"overdue": "no"})

    # then
    assert everything.content.decode().count(">overdue</strong>") == 1
    assert listed_ids(overdue) == [late.pk]
    assert listed_ids(not_overdue) == [on_time.pk]


@pytest.mark.parametrize("term", ["so-10", "PO-7", "sku-case", "acme-0", "Acme Ind"])
def test_search_matches_prefixes(sales_client, open_case, term):
    # given
    case = open_case()
    open_case(cause_key="other", reference="SO-2000", po_number="PO-99", sku="X-1", customer=CustomerFactory())

    # when
    response = sales_client.get(CHANGELIST, {"q": term})

    # then
    assert listed_ids(response) == [case.pk]


def test_search_does_not_match_inside_values(sales_client, open_case):
    # given
    open_case()

    # when
    response = sales_client.get(CHANGELIST, {"q": "1001"})

    # then
    assert listed_ids(response) == []


def test_customer_account_filter(sales_client, open_case):
    # given
    case = open_case()
    open_case(cause_key="other", customer=CustomerFactory(account_number="GLOBEX-002"))

    # when
    response = sales_client.get(CHANGELIST, {"customer_account": "acme-001"})

    # then
    assert listed_ids(response) == [case.pk]
    assert 'name="customer_account" value="acme-001"' in response.content.decode()


def test_queue_query_count_does_not_grow(sales_client, open_case):
    # given
    open_case(cause_key="first")
    with CaptureQueriesContext(connection) as one_case:
        sales_client.get(CHANGELIST)
    for number in range(19):
        open_case(cause_key=f"more-{number}", customer=CustomerFactory(), concerning=ProductFactory())

    # when
    with CaptureQueriesContext(connection) as twenty_cases:
        response = sales_client.get(CHANGELIST)

    # then
    assert len(response.context["cl"].result_list) == 20
    assert len(twenty_cases.captured_queries) == len(one_case.captured_queries)


def test_other_teams_case_page_is_not_shown(sales_client, open_case):
    # given
    finance_case = open_case(kind="credit")

    # when
    change = sales_client.get(change_url(finance_case))
    history = sales_client.get(change_url(finance_case, "history"))

    # then
    assert change.status_code == 302
    assert change.url == reverse("admin:index")
    assert history.status_code == 404


@pytest.mark.parametrize("view", ["take", "assign", "resolve", "dismiss"])
def test_other_teams_case_views_answer_404(sales_client, open_case, view):
    # given
    finance_case = open_case(kind="credit")

    # when
    response = sales_client.post(change_url(finance_case, view), {"_step": "confirm", "reason": "x"})

    # then
    assert response.status_code == 404
    finance_case.refresh_from_db()
    assert finance_case.state == CaseState.OPEN


@pytest.mark.parametrize("action", ["take_cases", "dismiss_cases"])
def test_actions_ignore_other_teams_cases(sales_client, open_case, action):
    # given
    finance_case = open_case(kind="credit")

    # when
    response = sales_client.post(
        CHANGELIST,
        {"action": action, ACTION_CHECKBOX_NAME: [finance_case.pk], "_step": "confirm", "reason": "not mine"},
    )

    # then
    assert response.status_code == 302
    finance_case.refresh_from_db()
    assert finance_case.state == CaseState.OPEN
    assert finance_case.assignee is None


def test_change_page_shows_facts_object_history_and_buttons(sales_client, open_case, product):
    # given
    case = open_case(
        facts={
            "buyer_price": "90.00",
            "stock": [{"warehouse": "WH1", "on_hand": "2"}, {"warehouse": "WH2", "on_hand": "0"}],
        }
    )

    # when
    response = sales_client.get(change_url(case))

    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "<th>Buyer price</th><td>90.00</td>" in page
    # PostgreSQL's jsonb does not keep key order, so the columns may come in either order.
    assert re.search(r"<thead><tr>(<th>Warehouse</th><th>On hand</th>|<th>On hand</th><th>Warehouse</th>)</tr>", page)
    assert re.search(r"<tr>(<td>WH2</td><td>0</td>|<td>0</td><td>WH2</td>)</tr>", page)
    assert f"Product: {product}" in page
    assert "<td>Opened</td>" in page
    assert [button["label"] for button in response.context["case_buttons"]] == ["Take", "Assign", "Resolve", "Dismiss"]
    assert 'name="_save"' not in page


def test_take_button_view_takes_case(sales_client, open_case, sales_user):
    # given
    case = open_case()

    # when
    confirm = sales_client.get(change_url(case, "take"))
    response = sales_client.post(change_url(case, "take"), {"_step": "confirm"})

    # then
    assert confirm.status_code == 200
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == CaseState.IN_PROGRESS
    assert case.assignee == sales_user


def test_bulk_take(sales_client, open_case, sales_user):
    # given
    cases = [open_case(cause_key=f"line-{n}") for n in range(3)]

    # when
    response = sales_client.post(
        CHANGELIST, {"action": "take_cases", ACTION_CHECKBOX_NAME: [case.pk for case in cases]}, follow=True
    )

    # then
    assert "3 cases taken." in response.content.decode()
    assert set(ExceptionCase.objects.values_list("assignee", flat=True)) == {sales_user.pk}


def test_bulk_resolve_shows_what_it_will_do_then_resolves(sales_client, open_case, fake_resolution):
    # given
    cases = [open_case(cause_key=f"line-{n}") for n in range(2)]
    selection = {"action": "resolve_cases", ACTION_CHECKBOX_NAME: [case.pk for case in cases]}

    # when
    choose = sales_client.post(CHANGELIST, selection)
    confirm = sales_client.post(
        CHANGELIST, {**selection, "_step": "choose", "resolution": "accept_buyer_price", "note": "ok"}
    )

    # then
    assert choose.status_code == 200
    assert "Accept the buyer&#x27;s price" in choose.content.decode()
    assert confirm.status_code == 200
    assert confirm.content.decode().count("Sets line price to 90.00 EUR.") == 2
    assert fake_resolution["calls"] == []
    assert set(ExceptionCase.objects.values_list("state", flat=True)) == {CaseState.OPEN}

    # when
    done = sales_client.post(
        CHANGELIST, {**selection, "_step": "confirm", "resolution": "accept_buyer_price", "note": "ok"}, follow=True
    )

    # then
    assert "2 cases resolved (Accept the buyer&#x27;s price)." in done.content.decode()
    assert sorted(call[0] for call in fake_resolution["calls"]) == sorted(case.pk for case in cases)
    assert set(ExceptionCase.objects.values_list("state", flat=True)) == {CaseState.RESOLVED}


def test_bulk_resolve_rejects_mixed_kinds(sales_client, open_case, fake_resolution):
    # given
    price = open_case()
    stock = open_case(kind="out_of_stock")

    # when
    response = sales_client.post(
        CHANGELIST, {"action": "resolve_cases", ACTION_CHECKBOX_NAME: [price.pk, stock.pk]}, follow=True
    )

    # then
    assert (
        "Cases of different kinds (out of stock, price mismatch) cannot be resolved together"
        in response.content.decode()
    )
    assert set(ExceptionCase.objects.values_list("state", flat=True)) == {CaseState.OPEN}


def test_resolve_failure_is_shown_and_case_stays_open(sales_client, open_case, fake_resolution):
    # given
    case = open_case()
    fake_resolution["fail"] = True

    # when
    response = sales_client.post(
        change_url(case, "resolve"),
        {"_step": "confirm", "resolution": "accept_buyer_price", "note": ""},
        follow=True,
    )

    # then
    assert f"Case #{case.pk} (price mismatch: SO-1001): The order changed meanwhile." in response.content.decode()
    case.refresh_from_db()
    assert case.state == CaseState.OPEN


def test_dismiss_without_reason_shows_form_again(sales_client, open_case):
    # given
    case = open_case()

    # when
    response = sales_client.post(change_url(case, "dismiss"), {"_step": "confirm", "reason": ""})

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    case.refresh_from_db()
    assert case.state == CaseState.OPEN


def test_bulk_dismiss_with_reason(sales_client, open_case):
    # given
    cases = [open_case(cause_key=f"line-{n}") for n in range(2)]

    # when
    sales_client.post(
        CHANGELIST,
        {"action": "dismiss_cases", ACTION_CHECKBOX_NAME: [c.pk for c in cases], "_step": "confirm", "reason": "test"},
    )

    # then
    assert list(ExceptionCase.objects.values_list("state", "resolution_note")) == [("dismissed", "test")] * 2


def test_assign_to_colleague(sales_client, open_case, sales_colleague):
    # given
    case = open_case()

    # when
    form = sales_client.get(change_url(case, "assign"))
    sales_client.post(change_url(case, "assign"), {"_step": "confirm", "assignee": sales_colleague.pk})

    # then
    choices = form.context["form"].fields["assignee"].queryset
    assert sorted(user.username for user in choices) == ["sales-colleague", "sales-test"]
    case.refresh_from_db()
    assert case.assignee == sales_colleague


def test_assign_rejects_user_outside_team(sales_client, open_case, finance_user):
    # given
    case = open_case()

    # when
    response = sales_client.post(change_url(case, "assign"), {"_step": "confirm", "assignee": finance_user.pk})

    # then
    assert response.status_code == 200
    assert "assignee" in response.context["form"].errors
    case.refresh_from_db()
    assert case.assignee is None


def test_admin_index_shows_queue_counts(sales_client, open_case):
    # given
    open_case()
    open_case(kind="out_of_stock")

    # when
    response = sales_client.get(reverse("admin:index"))

    # then
    page = response.content.decode()
    assert "Your exception queue</a>: 2 open or in progress · 0 overdue · 0 assigned to you" in page


def test_admin_index_without_case_permission_has_no_queue(client, db):
    # given
    client.force_login(UserFactory(username="plain-staff"))

    # when
    response = client.get(reverse("admin:index"))

    # then
    assert response.status_code == 200
    assert "Your exception queue" not in response.content.decode()


def test_superuser_sees_every_team(client, superuser, open_case):
    # given
    client.force_login(superuser)
    sales_case = open_case()
    finance_case = open_case(kind="credit")

    # when
    response = client.get(CHANGELIST)

    # then
    assert sorted(listed_ids(response)) == sorted([sales_case.pk, finance_case.pk])


def test_routing_rule_pages_render_for_superuser(client, superuser):
    # given
    client.force_login(superuser)
    rule = RoutingRule.objects.get(kind="credit")

    # when
    changelist = client.get(reverse("admin:exceptions_routingrule_changelist"))
    change = client.get(reverse("admin:exceptions_routingrule_change", args=[rule.pk]))
    add = client.get(reverse("admin:exceptions_routingrule_add"))

    # then
    assert (changelist.status_code, change.status_code, add.status_code) == (200, 200, 200)
    assert "Default: credit" in changelist.content.decode()


def test_routing_rule_rejects_minimum_without_currency(client, superuser):
    # given
    client.force_login(superuser)
    finance = Group.objects.get(name="finance")

    # when
    response = client.post(
        reverse("admin:exceptions_routingrule_add"),
        {
            "name": "Large credit",
            "kind": "credit",
            "priority": 10,
            "is_active": "on",
            "min_order_value": "50000",
            "min_order_value_currency": "",
            "team": finance.pk,
            "assignment_mode": "queue",
            "default_severity": "high",
            "due_minutes_low": 60,
            "due_minutes_normal": 60,
            "due_minutes_high": 60,
            "due_minutes_critical": 30,
            "escalation_delay_minutes": 0,
        },
    )

    # then
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "min_order_value_currency": ["Set the currency of the minimum order value."]
    }
    assert not RoutingRule.objects.filter(name="Large credit").exists()
