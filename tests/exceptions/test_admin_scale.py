"""The queue's paginator: PostgreSQL row estimates above the threshold, the exact COUNT(*) below it and on SQLite."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.admin import EstimatedCountPaginator
from apps.exceptions.admin import ExceptionCaseAdmin
from apps.exceptions.models import ExceptionCase

pytestmark = pytest.mark.django_db


class LowThresholdPaginator(EstimatedCountPaginator):
    exact_count_threshold = 1


def open_cases(open_case, count):
    for number in range(count):
        open_case(cause_key=f"line-{number}")


def count_queries(captured):
    return [query["sql"] for query in captured.captured_queries if "COUNT(" in query["sql"].upper()]


def explain_queries(captured):
    return [query["sql"] for query in captured.captured_queries if query["sql"].startswith("EXPLAIN")]


def test_queue_admin_uses_estimating_paginator():
    assert ExceptionCaseAdmin.paginator is EstimatedCountPaginator
    assert ExceptionCaseAdmin.show_full_result_count is False


def test_paginator_counts_exactly_below_threshold(open_case):
    # given three cases, far below the default threshold
    open_cases(open_case, 3)
    paginator = EstimatedCountPaginator(ExceptionCase.objects.filter(state="open").order_by("id"), 2)

    # when the paginator counts
    with CaptureQueriesContext(connection) as captured:
        count = paginator.count

    # then it ran COUNT(*) and returned the exact number
    assert count == 3
    assert paginator.num_pages == 2
    assert len(count_queries(captured)) == 1


def test_paginator_counts_exactly_on_sqlite(open_case):
    if connection.vendor != "sqlite":
        pytest.skip("checks the SQLite fallback")
    # given a threshold every estimate would pass
    open_cases(open_case, 3)
    paginator = LowThresholdPaginator(ExceptionCase.objects.all().order_by("id"), 2)

    # when the paginator counts
    with CaptureQueriesContext(connection) as captured:
        count = paginator.count

    # then SQLite got an exact COUNT(*) and no EXPLAIN
    assert count == 3
    assert len(count_queries(captured)) == 1
    assert explain_queries(captured) == []


def test_paginator_counts_a_list_exactly():
    paginator = LowThresholdPaginator(["a", "b", "c"], 2)

    assert paginator.count == 3


@pytest.mark.postgres
def test_paginator_estimates_filtered_queryset_above_threshold(open_case):
    # given analyzed statistics and a threshold below the estimate
    open_cases(open_case, 40)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE exceptions_exceptioncase")
    queryset = ExceptionCase.objects.filter(state="open").order_by("due_at", "id")
    paginator = LowThresholdPaginator(queryset, 10)

    # when the paginator counts
    with CaptureQueriesContext(connection) as captured:
        count = paginator.count

    # then it read the planner's estimate instead of running COUNT(*)
    assert count_queries(captured) == []
    assert len(explain_queries(captured)) == 1
    assert count >= 1


@pytest.mark.postgres
def test_paginator_estimates_whole_table_from_reltuples(open_case):
    # given analyzed statistics of 40 cases
    open_cases(open_case, 40)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE exceptions_exceptioncase")
    paginator = LowThresholdPaginator(ExceptionCase.objects.order_by("id"), 10)

    # when the paginator counts the unfiltered table
    with CaptureQueriesContext(connection) as captured:
        count = paginator.count

    # then pg_class.reltuples gave the count
    assert count == 40
    assert count_queries(captured) == []
    assert len(captured.captured_queries) == 1
    assert "pg_class" in captured.captured_queries[0]["sql"]


def test_queue_query_count_constant(client, sales_user, open_case, settings):
    # given the queue's plain static storage, as in the other admin tests
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client.force_login(sales_user)
    url = reverse("admin:exceptions_exceptioncase_changelist")
    open_cases(open_case, 2)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)

    # when ten times more cases are listed
    for number in range(2, 20):
        open_case(cause_key=f"more-{number}")
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)

    # then the page runs as many queries
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 20
    assert len(many.captured_queries) == len(few.captured_queries)
