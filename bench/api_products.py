"""Page through every product of the partner API with prices, and compare with plain Django values() pages.

Run from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bo_api_bench DJANGO_DEBUG=1 \\
        .venv/bin/python -m bench.api_products

It creates the database when it is missing (on 127.0.0.1 or localhost
only), migrates it and generates the data once (see
``bench.api_products_data``). Then, in one process and in turns, it reads
all pages of ``GET /api/v1/products/`` (100 products per page, following the
``next`` links, with key authentication, throttling, pricing, stock and
ETag) and all pages of a plain Django view that selects the same rows with
``.values()`` by keyset and returns them as ``JsonResponse``, one page of
each in turn. Both go through Django's test client, so both pay the same
middleware and the same share of any other load on the machine. It prints
the median, p99 and maximum time per page and the total for each, and the
ratio of the totals, in wall time and in the CPU time of this process
(PostgreSQL's own work is not in the latter). ``--profile N`` adds a
cProfile listing of N more API pages, counted in process CPU time.
"""

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time

from bench.database import create_database_if_missing

DATABASE_URL_EXAMPLE = "postgres://postgres@127.0.0.1:5432/bo_api_bench"
PAGE_SIZE = 100


def main() -> None:
    options = _parse_arguments()
    database_url = os.environ.get("DATABASE_URL", "")
    create_database_if_missing(database_url, example_url=DATABASE_URL_EXAMPLE)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from bench.api_products_data import ensure_api_data

    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    data = ensure_api_data(product_count=options.products)
    print(f"data ready in {time.perf_counter() - started:.1f} s: {data.product_count} products")

    setup_test_environment()
    # No query log and no request limit while timing: the benchmark measures the page, not the limiter's ceiling.
    settings.DEBUG = False
    settings.API_PARTNER_REQUESTS_PER_MINUTE = 10_000_000
    settings.ROOT_URLCONF = "bench.api_products_urls"
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {data.api_key}"}

    def api_page(url: str) -> tuple[float, float, list, str | None]:
        page_started = time.perf_counter()
        cpu_started = time.process_time()
        response = client.get(url, **headers)
        body = json.loads(response.content)
        cpu = (time.process_time() - cpu_started) * 1000
        elapsed = (time.perf_counter() - page_started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"GET {url} returned {response.status_code}: {response.content[:300]!r}")
        return elapsed, cpu, body["results"], body["next"]

    def plain_page(after: str) -> tuple[float, float, list, str | None]:
        page_started = time.perf_counter()
        cpu_started = time.process_time()
        response = client.get("/bench/plain-products/", {"after": after})
        body = json.loads(response.content)
        cpu = (time.process_time() - cpu_started) * 1000
        elapsed = (time.perf_counter() - page_started) * 1000
        return elapsed, cpu, body["results"], body["next"]

    # Warm-up: connections, imports, the planner's caches.
    api_page(f"/api/v1/products/?page_size={PAGE_SIZE}")
    plain_page("")

    # The two variants take turns page by page, so that other load on the machine slows both alike.
    results: dict[str, list[float]] = {"api": [], "plain": []}
    cpu_results: dict[str, list[float]] = {"api": [], "plain": []}
    for _ in range(options.rounds):
        api_url: str | None = f"/api/v1/products/?page_size={PAGE_SIZE}"
        plain_after: str | None = ""
        rows = {"api": 0, "plain": 0}
        while api_url or plain_after is not None:
            if api_url:
                elapsed, cpu, page, api_url = api_page(api_url)
                results["api"].append(elapsed)
                cpu_results["api"].append(cpu)
                rows["api"] += len(page)
            if plain_after is not None:
                elapsed, cpu, page, plain_after = plain_page(plain_after)
                results["plain"].append(elapsed)
                cpu_results["plain"].append(cpu)
                rows["plain"] += len(page)
        _check_rows(rows["api"], data.product_count, "API")
        _check_rows(rows["plain"], data.product_count, "plain values()")

    print(f"PostgreSQL {connection.cursor().connection.info.server_version}, rounds: {options.rounds}")
    for name, label in (("api", "API /api/v1/products/"), ("plain", "plain values() view")):
        timings = sorted(results[name])
        print(
            f"{label}: {len(timings)} pages, median {statistics.median(timings):.1f} ms, "
            f"p99 {_percentile(timings, 99):.1f} ms, max {timings[-1]:.1f} ms, "
            f"total {sum(timings) / options.rounds / 1000:.2f} s per pass; "
            f"CPU time of this process per page: median {statistics.median(cpu_results[name]):.1f} ms"
        )
    ratio = sum(results["api"]) / sum(results["plain"])
    cpu_ratio = sum(cpu_results["api"]) / sum(cpu_results["plain"])
    print(f"API time / plain values() time: {ratio:.2f} wall, {cpu_ratio:.2f} CPU of this process (target at most 2.0)")
    print(f"load average (1, 5, 15 min) after the runs: {os.getloadavg()}")

    if options.profile:
        # CPU time, so that waiting for PostgreSQL and for other processes stays out of the listing.
        profiler = cProfile.Profile(time.process_time)
        url: str | None = f"/api/v1/products/?page_size={PAGE_SIZE}"
        for _ in range(options.profile):
            if url is None:
                break
            url = profiler.runcall(api_page, url)[3]
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)


def _percentile(sorted_values: list[float], percent: int) -> float:
    index = min(len(sorted_values) - 1, max(0, round(len(sorted_values) * percent / 100) - 1))
    return sorted_values[index]


def _check_rows(rows: int, expected: int, label: str) -> None:
    if rows != expected:
        raise SystemExit(f"The {label} pages held {rows} products, not {expected}; the benchmark data looks wrong.")


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--products", type=int, default=100_000, help="products to generate on the first run (default 100000)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="passes over all pages per variant (default 2)")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="PAGES", help="print a cProfile listing of this many more API pages"
    )
    options = parser.parse_args()
    if options.products < 1000 or options.rounds < 1 or options.profile < 0:
        parser.error("--products must be at least 1000, --rounds at least 1 and --profile at least 0")
    return options


if __name__ == "__main__":
    main()
