import threading

import pytest
from django.db import connection

from apps.exceptions.errors import CaseStateConflict
from apps.exceptions.models import CaseState, ExceptionCase
from apps.exceptions.services import case_take


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_users_taking_same_case_one_wins(open_case, sales_user, sales_colleague):
    # given
    case = open_case()
    barrier = threading.Barrier(2)
    outcomes = {}

    def take(user):
        try:
            barrier.wait(timeout=10)
            case_take(case=ExceptionCase.objects.get(pk=case.pk), actor=user)
            outcomes[user.username] = "taken"
        except CaseStateConflict:
            outcomes[user.username] = "conflict"
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(user,)) for user in (sales_user, sales_colleague)]

    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then
    case.refresh_from_db()
    assert sorted(outcomes.values()) == ["conflict", "taken"]
    assert case.state == CaseState.IN_PROGRESS
    winner = next(name for name, outcome in outcomes.items() if outcome == "taken")
    assert case.assignee.username == winner
    assert case.history.filter(history_change_reason="Taken").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_opens_of_same_cause_make_one_case(product, customer):
    # given
    from apps.exceptions.services import case_open

    barrier = threading.Barrier(2)
    case_ids = []

    def open_one():
        try:
            barrier.wait(timeout=10)
            case = case_open(
                kind="out_of_stock",
                concerning=product,
                customer=customer,
                facts={},
                summary="none left",
                cause_key="l1",
            )
            case_ids.append(case.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=open_one) for _ in range(2)]

    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then
    assert len(case_ids) == 2
    assert case_ids[0] == case_ids[1]
    assert ExceptionCase.objects.count() == 1
