"""Time ``price_lines`` for one request of many lines against PostgreSQL.

Run from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice_bench DJANGO_DEBUG=1 \\
        .venv/bin/python -m bench.pricing

It creates the database when it is missing (on 127.0.0.1 or localhost
only), migrates it and generates the data once (see ``bench.pricing_data``).
Then it prices the same request several times and prints the median,
minimum and maximum wall time of the ``price_lines`` call, with the CPU time
of this process. ``--profile`` adds a cProfile listing of one call.
"""

import argparse
import cProfile
import os
import pstats
import random
import statistics
import sys
import time
from collections import Counter
from decimal import Decimal

from bench.database import create_database_if_missing

DATABASE_URL_EXAMPLE = "postgres://postgres@127.0.0.1:5432/backoffice_bench"


def main() -> None:
    options = _parse_arguments()
    database_url = os.environ.get("DATABASE_URL", "")
    create_database_if_missing(database_url, example_url=DATABASE_URL_EXAMPLE)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

    from django.core.management import call_command
    from django.db import connection, reset_queries

    from apps.contracts.pricing import price_lines
    from bench.pricing_data import ON_DATE, ensure_pricing_data

    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    data = ensure_pricing_data(product_count=options.products)
    print(f"data ready in {time.perf_counter() - started:.1f} s: {len(data.product_ids)} products")

    rng = random.Random(options.seed)
    lines = [(rng.choice(data.product_ids), rng.randint(1, 150)) for _ in range(options.lines)]

    def run():
        return price_lines(customer=data.customer, lines=lines, on_date=ON_DATE)

    run()  # warm-up: connection, caches, imports
    # The web process freezes its start-up objects the same way (config/wsgi.py).
    from config.wsgi import freeze_startup_objects

    freeze_startup_objects()
    reset_queries()
    result = run()
    query_count = len(connection.queries)
    priced = sum(1 for line in result.lines if line.priced)
    outcomes = Counter(str(line.source or line.reason_code) for line in result.lines)
    total = f"{result.total} {result.currency}"
    _check_figures(result, lines)
    # A server drops each result after its response, so none is kept alive
    # while timing: live objects make every garbage collection slower.
    del result

    timings = []
    cpu_timings = []
    for _ in range(options.runs):
        started = time.perf_counter()
        cpu_started = time.process_time()
        run()
        cpu_timings.append((time.process_time() - cpu_started) * 1000)
        timings.append((time.perf_counter() - started) * 1000)

    print(f"PostgreSQL {connection.cursor().connection.info.server_version}")
    print(f"lines: {len(lines)}, priced: {priced}, queries per call: {query_count}")
    print("lines by outcome: " + ", ".join(f"{key}={count}" for key, count in sorted(outcomes.items())))
    print(f"total: {total}")
    print(
        f"price_lines wall time over {options.runs} runs: median {statistics.median(timings):.1f} ms, "
        f"min {min(timings):.1f} ms, max {max(timings):.1f} ms"
    )
    print(
        "CPU time of this process per call (PostgreSQL's own work not included): "
        f"median {statistics.median(cpu_timings):.1f} ms, min {min(cpu_timings):.1f} ms"
    )
    print(f"per line (median wall time): {statistics.median(timings) * 1000 / len(lines):.2f} µs")
    print(f"load average (1, 5, 15 min) after the runs: {os.getloadavg()}")

    if options.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run)
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000, help="request lines per call (default 10000)")
    parser.add_argument("--runs", type=int, default=9, help="timed calls; the median is reported (default 9)")
    parser.add_argument(
        "--products", type=int, default=12_000, help="products to generate on the first run (default 12000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the request lines (default 1)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile listing of one call")
    options = parser.parse_args()
    if options.lines < 1 or options.runs < 1 or options.products < 1000:
        parser.error("--lines and --runs must be at least 1, and --products at least 1000")
    return options


def _check_figures(result, lines) -> None:
    """Stop with an error when the timed call priced a suspicious share of lines, so a broken run is not recorded."""
    priced = sum(1 for line in result.lines if line.priced)
    if len(result.lines) != len(lines) or priced < len(lines) // 2:
        raise SystemExit(f"Only {priced} of {len(lines)} lines were priced; the benchmark data looks wrong.")
    if result.total <= Decimal(0):
        raise SystemExit(f"The request total is {result.total}; the benchmark data looks wrong.")


if __name__ == "__main__":
    main()
