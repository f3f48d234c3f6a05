"""Time the exception queue's admin changelist with 1,000,000 orders and 100,000 cases in PostgreSQL.

Run from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice_bench_queue DJANGO_DEBUG=1 \\
        .venv/bin/python -m bench.exception_queue

It creates the database when it is missing (on 127.0.0.1 or localhost
only), migrates it and generates the data once (see
``bench.exception_queue_data``). Then it renders the queue as a ``sales``
user through Django's test client with DEBUG off, for each of the queue
views below, and prints the median, minimum and maximum wall time of the
request and its number of SQL queries. ``--exact-counts`` measures the
same pages with Django's own COUNT(*) queries. ``--explain`` prints the plan of
the default queue's page query with EXPLAIN (ANALYZE, BUFFERS).
"""

import argparse
import os
import statistics
import time

from bench.database import create_database_if_missing

DATABASE_URL_EXAMPLE = "postgres://postgres@127.0.0.1:5432/backoffice_bench_queue"
# The time each queue page must stay under.
TARGET_MS = 300.0


def main() -> None:
    options = _parse_arguments()
    database_url = os.environ.get("DATABASE_URL", "")
    create_database_if_missing(database_url, example_url=DATABASE_URL_EXAMPLE)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command

    from bench.exception_queue_data import ensure_queue_data

    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    data = ensure_queue_data(order_count=options.orders, case_count=options.cases, customer_count=options.customers)
    print(
        f"data ready in {time.perf_counter() - started:.1f} s: {data.order_count} orders, "
        f"{data.case_count} cases, {data.active_case_count} active"
    )

    # The web process serves with DEBUG off; the test client needs testserver allowed and no manifest.
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.SECURE_SSL_REDIRECT = False
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": STATIC_STORAGE}}
    if options.exact_counts:
        _use_exact_counts()
    _time_views(data, runs=options.runs, explain=options.explain)


STATIC_STORAGE = "django.contrib.staticfiles.storage.StaticFilesStorage"


def _use_exact_counts() -> None:
    """Give the queue Django's own paginator and full result count, to measure what the estimates save."""
    from django.contrib import admin
    from django.core.paginator import Paginator

    from apps.exceptions.models import ExceptionCase

    queue_admin = admin.site._registry[ExceptionCase]
    queue_admin.paginator = Paginator
    queue_admin.show_full_result_count = True
    print("counting with Django's Paginator and the full result count (--exact-counts)")


def _queue_views(data) -> list[tuple[str, dict[str, str]]]:
    from django.contrib.auth.models import Group

    sample = _sample_active_case()
    return [
        ("default queue", {}),
        ("kind = price mismatch", {"kind__exact": "price_mismatch"}),
        ("search order number prefix", {"q": sample["reference"][:8]}),
        ("search customer name", {"q": sample["customer_name"].split()[0] + " " + sample["customer_name"].split()[1]}),
        ("search customer account", {"q": sample["customer_account"]}),
        ("overdue", {"overdue": "yes"}),
        ("team = sales, page 2", {"team": str(Group.objects.get(name="sales").pk), "p": "2"}),
        ("all states, page 2", {"state": "all", "p": "2"}),
    ]


def _sample_active_case() -> dict[str, str]:
    from apps.exceptions.models import ACTIVE_STATES, ExceptionCase

    return (
        ExceptionCase.objects.filter(state__in=ACTIVE_STATES, team__name="sales")
        .order_by("id")
        .values("reference", "customer_account", "customer_name")
        .first()
    )


def _time_views(data, *, runs: int, explain: bool) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    user = get_user_model().objects.get(username=data.sales_username)
    client = Client(raise_request_exception=True)
    client.force_login(user)
    url = reverse("admin:exceptions_exceptioncase_changelist")

    print(f"PostgreSQL {connection.cursor().connection.info.server_version}")
    print(f"{'view':<30} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'queries':>8} {'rows':>6}  result")
    failures = []
    for label, params in _queue_views(data):
        response = client.get(url, params)  # warm-up
        _check_response(label, response)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, params)
        # Read the count now, because each request clears the connection's query log.
        query_count = len(captured.captured_queries)
        rows = response.content.count(b'name="_selected_action"')
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get(url, params)
            timings.append((time.perf_counter() - started) * 1000)
        median = statistics.median(timings)
        verdict = "ok" if median < TARGET_MS else f"over {TARGET_MS:.0f} ms"
        if median >= TARGET_MS:
            failures.append(label)
        print(
            f"{label:<30} {median:>10.1f} {min(timings):>8.1f} {max(timings):>8.1f} "
            f"{query_count:>8} {rows:>6}  {verdict}"
        )
    print(f"load average (1, 5, 15 min) after the runs: {os.getloadavg()}")
    if explain:
        _print_queue_plan(user)
    if failures:
        raise SystemExit(f"Over {TARGET_MS:.0f} ms: {', '.join(failures)}.")


def _check_response(label: str, response) -> None:
    if response.status_code != 200:
        raise SystemExit(f"{label}: the queue returned HTTP {response.status_code} instead of 200.")
    if b'id="changelist"' not in response.content:
        raise SystemExit(f"{label}: the response has no changelist; the admin showed another page.")


def _print_queue_plan(user) -> None:
    from django.contrib import admin

    from apps.exceptions.models import ACTIVE_STATES, ExceptionCase
    from apps.exceptions.selectors import cases_visible_to

    active = cases_visible_to(user).filter(state__in=ACTIVE_STATES).select_related("team", "assignee")
    _print_plan("the default queue's page query", active.order_by("due_at", "id")[:50])

    sample = _sample_active_case()
    queue_admin = admin.site._registry[ExceptionCase]
    searched, _ = queue_admin.get_search_results(None, active, sample["reference"][:8])
    _print_plan(f"the search for {sample['reference'][:8]!r}", searched.order_by("due_at", "id")[:50])


def _print_plan(title: str, queryset) -> None:
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        print(f"\nplan of {title}:")
        for (line,) in cursor.fetchall():
            print(line)


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders to generate (default 1000000)")
    parser.add_argument("--cases", type=int, default=100_000, help="exception cases to generate (default 100000)")
    parser.add_argument("--customers", type=int, default=5_000, help="customers to generate (default 5000)")
    parser.add_argument("--runs", type=int, default=7, help="timed requests per view; the median is reported")
    parser.add_argument(
        "--exact-counts",
        action="store_true",
        help="time the queue with Django's Paginator and full result count instead of the estimates",
    )
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the default queue query")
    options = parser.parse_args()
    if options.runs < 1 or options.customers < 10 or options.cases < 1000:
        parser.error("--runs must be at least 1, --customers at least 10 and --cases at least 1000")
    if options.cases > options.orders:
        parser.error(f"--cases ({options.cases}) must not exceed --orders ({options.orders}): each case has its order")
    return options


if __name__ == "__main__":
    main()
