"""Time pricing and checking a 200-line configured quote against PostgreSQL (target: under 300 ms).

Run from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bo_quotes_bench DJANGO_DEBUG=1 \\
        .venv/bin/python -m bench.quote_pricing

It creates the database when it is missing (on 127.0.0.1 or localhost
only), migrates it and creates the data once. The data is a customer under
contract and a configurable server with five option groups, four rules and
costs; its two memory options are catalog products with contract prices.
The request is 200 lines,
each a valid random configuration with a manual discount. The script times
``price_quote_lines`` (configuration checks and the whole waterfall) and
then ``quote_create`` (the same, plus writing the quote, its 200 lines and
their history), and prints median, minimum and maximum wall times.
"""

import argparse
import datetime as dt
import os
import random
import statistics
import time
from decimal import Decimal

from bench.database import create_database_if_missing

DATABASE_URL_EXAMPLE = "postgres://postgres@127.0.0.1:5432/bo_quotes_bench"
SERVER_SKU = "BENCH-SRV-2U"
ON_DATE = dt.date(2026, 6, 1)


def main() -> None:
    options = _parse_arguments()
    create_database_if_missing(os.environ.get("DATABASE_URL", ""), example_url=DATABASE_URL_EXAMPLE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

    from django.core.management import call_command
    from django.db import connection, reset_queries, transaction

    from apps.quotes.pricing import LineRequest, price_quote_lines
    from apps.quotes.services import quote_create

    call_command("migrate", verbosity=0, interactive=False)
    data = _ensure_data()

    rng = random.Random(options.seed)
    lines = [
        LineRequest(
            product=data["server"].pk,
            quantity=rng.randint(1, 20),
            configuration=_random_configuration(rng),
            discount_percent=Decimal(rng.randint(0, 15)),
        )
        for _ in range(options.lines)
    ]

    def price():
        return price_quote_lines(customer=data["customer"], currency="EUR", lines=lines, on_date=ON_DATE)

    priced = price()  # warm-up: connection, caches, imports
    problems = [problem for line in priced for problem in line.problems()]
    if problems:
        raise SystemExit(f"{len(problems)} lines could not be quoted, such as: {problems[0]}")
    reset_queries()
    price()
    queries = len(connection.queries)
    total = sum(line.line_total for line in priced)

    pricing_times = _time(price, options.runs)

    def create():
        # Rolled back, so that every run writes into the same tables and the database does not grow.
        with transaction.atomic():
            quote_create(actor=None, sales_person=data["sales"], customer=data["customer"], lines=lines)
            transaction.set_rollback(True)

    create_times = _time(create, max(3, options.runs // 3))

    print(f"PostgreSQL {connection.cursor().connection.info.server_version}")
    print(f"lines: {len(lines)}, queries per pricing call: {queries}, total: {total} EUR")
    _report("price_quote_lines (check and price)", pricing_times)
    _report("quote_create (check, price and write)", create_times)
    print(f"load average (1, 5, 15 min) after the runs: {os.getloadavg()}")


def _time(function, runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def _report(label: str, timings: list[float]) -> None:
    print(
        f"{label} over {len(timings)} runs: median {statistics.median(timings):.1f} ms, "
        f"min {min(timings):.1f} ms, max {max(timings):.1f} ms"
    )


def _random_configuration(rng: random.Random) -> dict[str, int]:
    """Return a configuration the bench server's rules accept."""
    cpu = rng.choice(["cpu-16c", "cpu-32c"])
    memory = rng.choice(["mem-32g", "mem-64g"]) if cpu == "cpu-32c" else "mem-32g"
    configuration = {cpu: 1, memory: 2 * rng.randint(1, 8), rng.choice(["sup-1y", "sup-3y", "sup-5y"]): 1}
    if cpu == "cpu-32c" and rng.random() < 0.5:
        configuration["gpu-a"] = 1
        configuration["psu-1600"] = 1
    return configuration


def _ensure_data() -> dict:
    """Create the bench data once; later runs find it by the server's SKU."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from apps.catalog.models import Category, Product, UnitOfMeasure
    from apps.contracts.models import Contract, ContractPrice, Customer
    from apps.quotes.models import (
        ConfigurableProduct,
        ConfigurationOption,
        ConfigurationRule,
        OptionGroup,
        ProductCost,
    )

    sales, _ = get_user_model().objects.get_or_create(username="bench-sales", defaults={"is_staff": True})
    customer, _ = Customer.objects.get_or_create(
        account_number="BENCH-Q-001", defaults={"name": "Quote bench customer", "currency": "EUR"}
    )
    server = Product.objects.filter(sku=SERVER_SKU).first()
    if server is not None:
        return {"server": server, "customer": customer, "sales": sales}

    with transaction.atomic():
        contract = Contract.objects.create(
            customer=customer, number="BENCH-Q-2026", valid_from=dt.date(2026, 1, 1), currency="EUR", status="active"
        )
        category, _ = Category.objects.get_or_create(code="BENCH-Q", defaults={"name": "Quote bench"})
        unit = UnitOfMeasure.objects.get(code="EA")

        def product(sku, price, cost, configurable=False):
            created = Product.objects.create(
                sku=sku,
                name=sku,
                category=category,
                unit=unit,
                list_price=Decimal(price),
                currency="EUR",
                is_configurable=configurable,
            )
            ProductCost.objects.create(product=created, currency="EUR", unit_cost=Decimal(cost))
            return created

        server = product(SERVER_SKU, "3400.00", "2100.00", configurable=True)
        modules = {
            "32": product("BENCH-MEM-32G", "185.00", "110.00"),
            "64": product("BENCH-MEM-64G", "340.00", "210.00"),
        }
        ContractPrice.objects.create(contract=contract, product=server, price=Decimal("3150.00"))
        ContractPrice.objects.create(contract=contract, product=modules["32"], discount_percent=Decimal("8"))
        ContractPrice.objects.create(
            contract=contract, product=modules["32"], min_quantity=Decimal("64"), discount_percent=Decimal("12")
        )

        configurable = ConfigurableProduct.objects.create(product=server)
        groups = {}
        for position, (code, minimum) in enumerate([("cpu", 1), ("mem", 1), ("support", 1), ("gpu", 0), ("psu", 0)]):
            groups[code] = OptionGroup.objects.create(
                configurable=configurable, code=code, name=code, position=position, min_choices=minimum, max_choices=1
            )
        options = {}
        for code, group, adder in [
            ("cpu-16c", "cpu", "0"),
            ("cpu-32c", "cpu", "1450"),
            ("sup-1y", "support", "0"),
            ("sup-3y", "support", "690"),
            ("sup-5y", "support", "1190"),
            ("gpu-a", "gpu", "2400"),
            ("psu-1600", "psu", "180"),
        ]:
            options[code] = ConfigurationOption.objects.create(
                group=groups[group], code=code, name=code, price_adder=Decimal(adder), currency="EUR",
                cost=Decimal(adder) / 2,
            )  # fmt: skip
        for size, module in modules.items():
            options[f"mem-{size}g"] = ConfigurationOption.objects.create(
                group=groups["mem"], code=f"mem-{size}g", name=f"{size} GB", product=module, max_quantity=16
            )
        ConfigurationRule.objects.create(
            configurable=configurable, kind="quantity", group=groups["mem"], multiple_of=2, min_quantity=2,
            max_quantity=16,
        )  # fmt: skip
        ConfigurationRule.objects.create(
            configurable=configurable, kind="excludes", option=options["cpu-16c"], target_option=options["mem-64g"]
        )
        ConfigurationRule.objects.create(
            configurable=configurable, kind="requires", option=options["gpu-a"], target_group=groups["psu"]
        )
        ConfigurationRule.objects.create(
            configurable=configurable, kind="excludes", option=options["cpu-16c"], target_group=groups["gpu"]
        )
    return {"server": server, "customer": customer, "sales": sales}


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200, help="configured quote lines (default 200)")
    parser.add_argument("--runs", type=int, default=15, help="timed pricing calls; the median is reported")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the configurations (default 1)")
    options = parser.parse_args()
    if options.lines < 1 or options.runs < 1:
        parser.error("--lines and --runs must be at least 1")
    return options


if __name__ == "__main__":
    main()
