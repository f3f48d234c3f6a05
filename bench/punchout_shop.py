"""Time the PunchOut shop pages on a catalog of 100,000 products in PostgreSQL.

Run from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice_bench_punchout_shop DJANGO_DEBUG=1 \\
        .venv/bin/python -m bench.punchout_shop

It reuses the pricing benchmark's generated catalog (``bench.pricing_data``),
whose SELECTED contract covers about 60% of the products with contract
prices and quantity breaks. It adds a cXML buyer connection for that
customer, opens a session with ten cart lines, and requests each shop page
several times through Django's test client. It prints the median wall time and the number
of queries of each page. The contract is valid through 2026-12-31, so the
script stops after that date.
"""

import argparse
import os
import statistics
import time

from bench.database import create_database_if_missing

DATABASE_URL_EXAMPLE = "postgres://postgres@127.0.0.1:5432/backoffice_bench_punchout_shop"

# Generated products are named "Bench product <n>" with SKU "BENCH-<n, 6 digits>".
PAGES = {
    "catalog home": "",
    "catalog after the 80,000th SKU": "?after=BENCH-080000",
    "category": "?category=BENCH-R1",
    "search, common word": "search/?q=product",
    "search, rare word": "search/?q=04242",
    "search, two words": "search/?q=product 4242",
    "search, no hit": "search/?q=zzzzzz",
    "product detail": "product/{sku}/",
    "cart (10 lines)": "cart/",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000, help="products in the generated catalog")
    parser.add_argument("--repeat", type=int, default=7, help="requests per page")
    options = parser.parse_args()
    create_database_if_missing(os.environ.get("DATABASE_URL", ""), example_url=DATABASE_URL_EXAMPLE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.contracts.selectors import visible_products
    from apps.punchout import services
    from apps.punchout.models import BuyerConnection, PunchOutSession
    from apps.punchout.services.opening import _create_session as create_session
    from bench.pricing_data import ensure_pricing_data

    call_command("migrate", verbosity=0, interactive=False)
    data = ensure_pricing_data(product_count=options.products)
    buyer, _ = BuyerConnection.objects.get_or_create(
        protocol=BuyerConnection.Protocol.CXML,
        sender_domain="NetworkID",
        sender_identity="BENCH-SHOP",
        defaults={
            "name": "Shop benchmark",
            "customer": data.customer,
            "from_domain": "NetworkID",
            "from_identity": "BENCH-SHOP",
            "to_domain": "DUNS",
            "to_identity": "1",
            "allowed_return_hosts": "127.0.0.1",
        },
    )
    _session, start_token = create_session(
        connection=buyer,
        contract=services.contract_for_connection(buyer),
        operation=PunchOutSession.Operation.CREATE,
        buyer_cookie="bench",
        browser_form_post_url="http://127.0.0.1/return",
    )
    client = Client()
    base = client.get(f"/punchout/session/{start_token}/")["Location"]
    skus = list(
        visible_products(customer=data.customer, contract=data.contract)
        .order_by("sku")
        .values_list("sku", flat=True)[:10]
    )
    for sku in skus:
        client.post(base + "cart/", {"sku": sku, "quantity": "3"})

    print(f"{options.products} products, {visible_products(customer=data.customer).count()} in the assortment")
    print("| page | median ms | queries |")
    print("| --- | ---: | ---: |")
    for label, suffix in PAGES.items():
        path = base + suffix.format(sku=skus[0])
        client.get(path)  # warm-up: caches, connection
        timings = []
        for _ in range(options.repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(path)
                timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (label, response.status_code)
        print(f"| {label} | {statistics.median(timings):.1f} | {len(queries.captured_queries)} |")


if __name__ == "__main__":
    main()
