"""Write the catalog and stock files of the import benchmark: realistic columns, a fixed seed, any size.

``write_catalog`` writes the nightly full catalog. ``write_changed_catalog`` writes the same file with
a share of the list prices moved by up to 10% (below the anomaly threshold) and those rows' change
time advanced. ``write_stock`` writes on-hand figures for every SKU in each warehouse. The headers are
the import's own column lists, so importing this module needs Django set up.
"""

import csv
import random
from pathlib import Path

from apps.catalog.imports.kinds import CATALOG_COLUMNS, STOCK_COLUMNS

WAREHOUSES = ("BENCH-NORTH", "BENCH-SOUTH", "BENCH-EAST")
MANUFACTURERS = ("Acme Tools", "Brightline", "Contoso Office", "Dunder Paper", "Evergreen Labs", "Fabrikam")
NOUNS = ("stapler", "toner cartridge", "safety glove", "cable tie", "drill bit", "label roll", "notebook", "fuse")
ADJECTIVES = ("heavy-duty", "compact", "recycled", "industrial", "blue", "anti-static", "premium", "standard")
# Codes that resolve without an alias: each, piece, box, kilogram, metre, pack.
UNITS = ("EA", "H87", "XBX", "KGM", "MTR", "XPK")
CATEGORY_COUNT = 200
NIGHTLY_TIME = "2026-03-01T02:00:00Z"
CHANGED_TIME = "2026-03-02T02:00:00Z"
PRICE_INDEX = CATALOG_COLUMNS.index("list_price")
UPDATED_AT_INDEX = CATALOG_COLUMNS.index("updated_at")


def sku_of(number: int) -> str:
    return f"BENCH-{number:07d}"


def write_catalog(path: Path, *, rows: int, seed: int = 7) -> None:
    """Write a full catalog of ``rows`` products; the same seed always writes the same file."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CATALOG_COLUMNS)
        for number in range(rows):
            writer.writerow(_catalog_row(rng, number, price=None, updated_at=NIGHTLY_TIME))


def write_changed_catalog(path: Path, *, rows: int, changed_share: float, seed: int = 7) -> int:
    """Write the catalog again with ``changed_share`` of the prices moved; return how many rows changed."""
    rng = random.Random(seed)
    change_rng = random.Random(seed + 1)
    changed = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CATALOG_COLUMNS)
        for number in range(rows):
            row = _catalog_row(rng, number, price=None, updated_at=NIGHTLY_TIME)
            if change_rng.random() < changed_share:
                price = float(row[PRICE_INDEX]) * change_rng.uniform(1.01, 1.10)
                row[PRICE_INDEX] = f"{price:.2f}"
                row[UPDATED_AT_INDEX] = CHANGED_TIME
                changed += 1
            writer.writerow(row)
    return changed


def write_stock(path: Path, *, rows: int, seed: int = 11) -> None:
    """Write the on-hand figure of each of the ``rows`` SKUs in each benchmark warehouse."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(STOCK_COLUMNS)
        for number in range(rows):
            for warehouse in WAREHOUSES:
                writer.writerow([sku_of(number), warehouse, rng.randint(0, 5000), NIGHTLY_TIME])


def _catalog_row(rng: random.Random, number: int, *, price, updated_at: str) -> list[str]:
    """Build one product's values in the order of ``CATALOG_COLUMNS``."""
    category = rng.randrange(CATEGORY_COUNT)
    noun = rng.choice(NOUNS)
    adjective = rng.choice(ADJECTIVES)
    manufacturer = rng.choice(MANUFACTURERS)
    list_price = price if price is not None else round(rng.uniform(0.5, 2500), 2)
    return [
        sku_of(number),
        f"{adjective.capitalize()} {noun} {number % 997}",
        f"{adjective.capitalize()} {noun} by {manufacturer}, sold in {rng.choice(('singles', 'packs', 'boxes'))}.",
        manufacturer,
        f"MPN-{rng.randrange(10**8):08d}",
        f"BCAT-{category:03d}",
        f"Benchmark category {category}",
        f"{43000000 + category * 101:08d}",
        rng.choice(UNITS),
        f"{list_price:.2f}",
        "EUR",
        str(rng.randrange(0, 30)),
        "true",
        updated_at,
    ]
