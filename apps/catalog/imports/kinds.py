"""The kinds of import: for each, its columns, row parsing, references, keys and stored values.

A parsed record is a dict of model attribute names (``list_price``, ``unit_id``) to clean values,
with the raw references (``uom``, ``category_code``, ``sku``) under their file column names until
``resolve`` turns them into ids. Optional columns missing from a file are missing from the record,
so that an update keeps the stored value and a new row gets the model's default.
"""

import datetime as dt
import functools
import operator
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from simple_history.utils import bulk_create_with_history

from apps.catalog.imports import fields as parse
from apps.catalog.imports.fingerprints import RowFingerprints
from apps.catalog.imports.readers import SourceRow
from apps.catalog.models import Category, ImportKind, Product, StockLevel, Warehouse
from apps.catalog.units import match_units
from apps.contracts.models import Contract, ContractPrice, Customer
from apps.core.money import ISO_4217_CODES
from apps.integrations.ownership import System, fields_owned_by

# Problems of one row as (column, value, reason); a row with any is rejected.
Problems = list[tuple[str, str, str]]
CellParser = Callable[[Sequence[str]], dict[str, Any] | None]


@dataclass
class ResolveCache:
    """References already looked up during one import, so that each batch queries only new ones."""

    units: dict[str, int] = field(default_factory=dict)
    unit_errors: dict[str, str] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    warehouses: dict[str, int] | None = None
    contracts: dict[str, int] = field(default_factory=dict)
    contract_customers: dict[str, int] = field(default_factory=dict)
    # The ids of the customers whose rows the import may change; None allows every customer.
    customer_scope: frozenset[int] | None = None


@dataclass(frozen=True)
class KindSpec:
    """The mapping of one kind of import from file rows to a model."""

    kind: str
    model: type[models.Model]
    columns: tuple[str, ...]
    required: tuple[str, ...]
    # Attribute names that identify a stored row, and the columns compared to decide "changed".
    key_fields: tuple[str, ...]
    compared_fields: tuple[str, ...]
    # The source system's change time of the row; an older row than the stored one is stale. None: not checked.
    # A record without it (an optional column left out) is not checked and keeps the stored time.
    stamp_field: str | None
    # Values for a new row's fields that the file does not carry, as SQL literals for the PostgreSQL path.
    insert_defaults_sql: dict[str, str]
    parse: Callable[[SourceRow, bool], tuple[dict[str, Any], Problems]]
    # The key of a row within the file, from its raw values, for finding duplicates: a tuple of the
    # key's values, or the value itself where the key is one field. The catalog uses the bare SKU.
    # The keys stay in memory for the whole import, and with a tuple per row the garbage collector
    # took 40 to 80 ms of an unchanged rerun of 100,000 rows on 2 vCPUs, against 5 ms with the SKU.
    file_key: Callable[[dict[str, Any]], Hashable]
    resolve: Callable[[list[tuple[SourceRow, dict[str, Any]]], ResolveCache, bool], dict[int, Problems]]
    # The PostgreSQL conflict targets: (target SQL, filter on the staged rows ``st`` that use it).
    conflict_targets: tuple[tuple[str, str], ...]
    # PostgreSQL array types of the key fields, so that stored rows are fetched with one array parameter
    # per key field. Empty when a key field can be NULL, because NULL keys need the ORM's lookup.
    key_array_types: tuple[str, ...] = ()
    # False keeps the kind on the ORM path on PostgreSQL too: for small tables whose new rows need the
    # model's defaults for fields that another part of the project may add.
    staged: bool = True
    # True lets several threads write batches at once, each on its own connection. Only for kinds
    # whose batches take no locks that a later batch of the same file needs: a key comes once per
    # file (last-wins imports keep one thread), and no listener or contract change is involved.
    parallel_batches: bool = False
    # Optional, for CSV files. Called with the header's column names, it returns a parser of each
    # record's values, or None when that header does not suit one. The parser returns the record of
    # a usual row, and None for a row that ``parse`` must check.
    cell_parser: Callable[[list[str]], CellParser | None] | None = None
    # The model field that keeps a digest of the file row that its values came from, so that an import
    # skips rows whose text it has stored (apps/catalog/imports/fingerprints.py). Needs ``cell_parser``.
    fingerprint_field: str | None = None
    # Record fields that the file calls by another name, mapped to (file column, attribute of the related
    # row that the column holds, or None for a plain value). Reports name the column and show that value.
    file_columns: dict[str, tuple[str, str | None]] = field(default_factory=dict)


def _field(problems: Problems, values: dict[str, str], column: str, parser, **kwargs):
    raw = values.get(column, "")
    try:
        return parser(raw, column=column, **kwargs)
    except parse.InvalidValue as error:
        problems.append((column, raw, str(error)))
        return None


# Catalog ---------------------------------------------------------------------------------------

CATALOG_COLUMNS = (
    "sku",
    "name",
    "description",
    "manufacturer",
    "manufacturer_part_number",
    "category_code",
    "category_name",
    "unspsc",
    "uom",
    "list_price",
    "currency",
    "lead_time_days",
    "active",
    "updated_at",
)
CATALOG_REQUIRED = ("sku", "name", "uom", "list_price", "currency", "updated_at")
# The Product model fields that a catalog file sets, by model field name: the ones the ERP owns, besides
# its change time in source_updated_at.
PRODUCT_FEED_FIELDS = tuple(
    name for name in fields_owned_by("catalog.Product", System.ERP) if name != "source_updated_at"
)
PRODUCT_COMPARED = (
    "name",
    "description",
    "manufacturer",
    "manufacturer_part_number",
    "category_id",
    "unspsc",
    "unit_id",
    "list_price",
    "currency",
    "lead_time_days",
    "is_active",
)


def parse_catalog_row(row: SourceRow, decimal_comma: bool) -> tuple[dict[str, Any], Problems]:
    """Parse a catalog row; the common valid case takes the fast paths, and any failure the full parsers.

    This runs once per row of files of 100,000 rows and more. A row with every column and usual
    values is parsed by ``_parse_usual_catalog_row`` in one pass. Any other row is checked value by
    value, the usual values inline with C-level string methods and one precompiled pattern. Only an
    unusual value goes to its full parser in ``fields``, which words the reason for a rejection.
    """
    values = row.values
    if len(values) == _CATALOG_WIDTH and not decimal_comma:
        record = _parse_usual_catalog_row(None, _catalog_cells(values))
        if record is not None:
            return record, []
    problems: Problems = []
    get = values.get

    sku = get("sku", "").strip()
    if not sku or len(sku) > 64 or len(sku.split()) != 1:
        sku = _field(problems, values, "sku", parse.text, max_length=64, required=True)
        if sku and len(sku.split()) != 1:
            problems.append(("sku", sku, f"sku {sku!r} contains white space"))
    name = get("name", "").strip()
    if not name or len(name) > 255:
        name = _field(problems, values, "name", parse.text, max_length=255, required=True)
    uom = get("uom", "").strip()
    if not uom:
        problems.append(("uom", "", "uom is required, as a UN/CEFACT code such as EA or a known alias"))
    raw = get("list_price", "").strip()
    if not decimal_comma and _PLAIN_PRICE(raw):
        price = Decimal(raw)
    else:
        price = _field(problems, values, "list_price", parse.decimal, decimal_comma=decimal_comma, **_PRICE)
        if price is not None and price < 0:
            problems.append(("list_price", get("list_price", ""), f"list_price {raw!r} is below the minimum of 0"))
    currency = get("currency", "").strip().upper()
    if currency not in ISO_4217_CODES:
        currency = _field(problems, values, "currency", parse.currency)
    try:
        stamp = _from_iso(get("updated_at", ""))
    except ValueError:
        stamp = _field(problems, values, "updated_at", parse.timestamp)
    else:
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.UTC)
        if parse.too_far_ahead(stamp):
            stamp = _field(problems, values, "updated_at", parse.timestamp)
    record: dict[str, Any] = {
        "sku": sku,
        "name": name,
        "uom": uom,
        "list_price": price,
        "currency": currency,
        "source_updated_at": stamp,
    }
    raw = get("description")
    if raw is not None:
        raw = raw.strip()
        record["description"] = (
            raw if len(raw) <= 100_000 else _field(problems, values, "description", parse.text, max_length=100_000)
        )
    raw = get("manufacturer")
    if raw is not None:
        raw = raw.strip()
        record["manufacturer"] = (
            raw if len(raw) <= 200 else _field(problems, values, "manufacturer", parse.text, max_length=200)
        )
    raw = get("manufacturer_part_number")
    if raw is not None:
        raw = raw.strip()
        record["manufacturer_part_number"] = (
            raw if len(raw) <= 100 else _field(problems, values, "manufacturer_part_number", parse.text, max_length=100)
        )
    raw = get("unspsc")
    if raw is not None:
        raw = raw.strip()
        record["unspsc"] = (
            raw if not raw or (len(raw) == 8 and raw.isdigit()) else _field(problems, values, "unspsc", parse.unspsc)
        )
    raw = get("lead_time_days")
    if raw is not None:
        raw = raw.strip()
        record["lead_time_days"] = (
            int(raw)
            if raw.isdigit() and len(raw) <= 4 and int(raw) <= 3650
            else (_field(problems, values, "lead_time_days", parse.integer, maximum=3650) if raw else 0)
        )
    raw = get("active")
    if raw is not None:
        flag = _BOOLEANS.get(raw.strip().lower())
        record["is_active"] = (
            flag if flag is not None else _field(problems, values, "active", parse.boolean, empty=True)
        )
    code = get("category_code")
    if code is not None:
        code = code.strip()
        if len(code) > 64:
            code = _field(problems, values, "category_code", parse.text, max_length=64)
        if code and "/" in code:
            problems.append(("category_code", code, f"category_code {code!r} contains '/', which is not allowed"))
        record["category_code"] = code or ""
        category_name = get("category_name", "").strip()
        if len(category_name) > 200:
            category_name = _field(problems, values, "category_name", parse.text, max_length=200)
        record["category_name"] = category_name or ""
    return record, problems


_CATALOG_WIDTH = len(CATALOG_COLUMNS)
# The values of a row with every catalog column, in the order of CATALOG_COLUMNS.
_catalog_cells = operator.itemgetter(*CATALOG_COLUMNS)


class UnchangedRecord(dict):
    """The record of a row whose fingerprint is stored: only its key, since the product already contains the rest."""

    __slots__ = ()


def catalog_cell_parser(names: list[str], fingerprints: RowFingerprints | None = None) -> CellParser | None:
    """Return a parser of CSV records with these header names, or None unless they are the catalog columns.

    The header may list the columns in any order. Records of a header in the order of
    CATALOG_COLUMNS go to ``_parse_usual_catalog_row`` as they are, and others are put in that
    order first. With ``fingerprints``, a record whose fingerprint is stored comes back as an
    ``UnchangedRecord`` unparsed, and a parsed record carries its fingerprint in
    ``import_fingerprint``.
    """
    if sorted(names) != sorted(CATALOG_COLUMNS):
        return None
    parse_cells = _catalog_cells_parser(names)
    if fingerprints is None or not fingerprints.start(names):
        return parse_cells
    fingerprint_of = fingerprints.of
    known = fingerprints.known
    sku_at = names.index("sku")

    def parse_or_skip(cells: Sequence[str]) -> dict[str, Any] | None:
        fingerprint = fingerprint_of(cells)
        if fingerprint in known:
            # The stored product came from this very text, so its SKU passed the checks then.
            return UnchangedRecord(sku=cells[sku_at].strip())
        record = parse_cells(cells)
        if record is not None:
            record["import_fingerprint"] = fingerprint
        return record

    return parse_or_skip


def _catalog_cells_parser(names: list[str]) -> CellParser:
    # The latest accepted source time (now plus the allowed lead) only grows while the file is read.
    # A time before its value at the start passes without a clock reading per row, and a later one
    # gets the full check.
    # NOTE: if the system clock steps back during the import, a time beyond the limit by at most the step passes.
    # The limit is bound as a positional argument. In CPython 3.11 a partial with keyword arguments
    # copies them into a new dict on every call: about 150 ns a call on 2 vCPUs, against 60 ns.
    parse_cells = functools.partial(_parse_usual_catalog_row, parse.latest_source_time())
    if tuple(names) == CATALOG_COLUMNS:
        return parse_cells
    in_catalog_order = operator.itemgetter(*(names.index(column) for column in CATALOG_COLUMNS))
    return lambda cells: parse_cells(in_catalog_order(cells))


def _parse_usual_catalog_row(accepted_before: dt.datetime | None, cells: Sequence[str]) -> dict[str, Any] | None:
    """Return the record of a row's values in the order of CATALOG_COLUMNS, or None when any needs a closer look.

    It accepts only values that the checks of ``parse_catalog_row`` pass unchanged, and it builds
    the same record from them. A row it declines goes through those checks, which find and word
    the problem. Decimal commas are never accepted here. A source time before ``accepted_before``
    skips the check against the clock.
    """
    (
        sku,
        name,
        description,
        manufacturer,
        part_number,
        code,
        category_name,
        unspsc,
        uom,
        price,
        currency,
        lead_time,
        active,
        updated_at,
    ) = cells
    sku = sku.strip()
    name = name.strip()
    uom = uom.strip()
    price = price.strip()
    currency = currency.strip().upper()
    description = description.strip()
    manufacturer = manufacturer.strip()
    part_number = part_number.strip()
    unspsc = unspsc.strip()
    lead_time = lead_time.strip()
    active = _BOOLEANS.get(active.strip().lower())
    code = code.strip()
    category_name = category_name.strip()
    if not (
        sku
        and len(sku) <= 64
        and len(sku.split()) == 1
        and name
        and len(name) <= 255
        and uom
        and _PLAIN_PRICE(price)
        and currency in ISO_4217_CODES
        and active is not None
        and len(description) <= 100_000
        and len(manufacturer) <= 200
        and len(part_number) <= 100
        and (not unspsc or (len(unspsc) == 8 and unspsc.isdigit()))
        and (not lead_time or (lead_time.isdigit() and len(lead_time) <= 4 and int(lead_time) <= 3650))
        and len(code) <= 64
        and "/" not in code
        and len(category_name) <= 200
    ):
        return None
    try:
        stamp = _from_iso(updated_at)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    if (accepted_before is None or stamp >= accepted_before) and parse.too_far_ahead(stamp):
        return None
    return {
        "sku": sku,
        "name": name,
        "uom": uom,
        "list_price": Decimal(price),
        "currency": currency,
        "source_updated_at": stamp,
        "description": description,
        "manufacturer": manufacturer,
        "manufacturer_part_number": part_number,
        "unspsc": unspsc,
        "lead_time_days": int(lead_time) if lead_time else 0,
        "is_active": active,
        "category_code": code,
        "category_name": category_name,
    }


# A non-negative list price with at most 14 digits before the point and 4 after (numeric(18, 4)).
_PLAIN_PRICE = re.compile(r"[0-9]{1,14}(?:\.[0-9]{0,4})?").fullmatch
_PRICE = {"max_digits": 18, "decimal_places": 4}
_from_iso = dt.datetime.fromisoformat


_BOOLEANS = {
    "": True,
    "1": True,
    "true": True,
    "yes": True,
    "y": True,
    "t": True,
    "x": True,
    "0": False,
    "false": False,
    "no": False,
    "n": False,
    "f": False,
}


def resolve_catalog(batch, cache: ResolveCache, dry_run: bool) -> dict[int, Problems]:
    """Set ``unit_id`` and ``category_id`` on the batch's records; create categories unless ``dry_run``."""
    problems: dict[int, Problems] = {}
    new_spellings = {record["uom"] for _, record in batch} - cache.units.keys() - cache.unit_errors.keys()
    if new_spellings:
        matches = match_units(new_spellings, context="erp")
        for raw, unit in matches.units.items():
            cache.units[raw] = unit.pk
        for raw, error in matches.errors.items():
            cache.unit_errors[raw] = error.message

    codes = {record.get("category_code") for _, record in batch} - {None, ""} - cache.categories.keys()
    if codes:
        cache.categories.update(Category.objects.filter(code__in=codes).values_list("code", "id"))

    # New categories are created together after the loop: code -> name, and the records waiting for them.
    new_categories: dict[str, str] = {}
    waiting: list[tuple[dict[str, Any], str]] = []
    units = cache.units
    categories = cache.categories
    for index, (_row, record) in enumerate(batch):
        raw_unit = record.pop("uom")
        unit_id = units.get(raw_unit)
        if unit_id is not None:
            record["unit_id"] = unit_id
        else:
            problems.setdefault(index, []).append(("uom", raw_unit, cache.unit_errors[raw_unit]))
        code = record.pop("category_code", None)
        if code is None:
            continue
        name = record.pop("category_name")
        if not code:
            record["category_id"] = None
        elif code in categories:
            # NOTE: a category is matched by code only; a different category_name does not rename it.
            record["category_id"] = categories[code]
        elif code in new_categories:
            waiting.append((record, code))
        elif not name:
            problems.setdefault(index, []).append(
                ("category_code", code, f"Category {code!r} does not exist; give category_name to create it")
            )
        elif dry_run:
            record["category_id"] = -1
        else:
            new_categories[code] = name
            waiting.append((record, code))
    if new_categories:
        # New categories go at the top of the tree, so each path is its own code (Category.save's rule).
        # Outside a batch's transaction (several writer threads), the atomic block commits them with their history.
        with transaction.atomic():
            created = bulk_create_with_history(
                [Category(code=code, name=name, path=f"/{code}/") for code, name in new_categories.items()],
                Category,
                default_change_reason="Created by a catalog import",
            )
        cache.categories.update((category.code, category.pk) for category in created)
    for record, code in waiting:
        record["category_id"] = cache.categories[code]
    return problems


CATALOG = KindSpec(
    kind=ImportKind.CATALOG,
    model=Product,
    columns=CATALOG_COLUMNS,
    required=CATALOG_REQUIRED,
    key_fields=("sku",),
    compared_fields=PRODUCT_COMPARED,
    stamp_field="source_updated_at",
    insert_defaults_sql={"is_configurable": "false", "attributes": "'{}'::jsonb"},
    parse=parse_catalog_row,
    file_key=operator.itemgetter("sku"),
    resolve=resolve_catalog,
    conflict_targets=(("(sku)", "TRUE"),),
    key_array_types=("text[]",),
    cell_parser=catalog_cell_parser,
    parallel_batches=True,
    fingerprint_field="import_fingerprint",
    file_columns={
        "category_id": ("category_code", "code"),
        "unit_id": ("uom", "code"),
        "is_active": ("active", None),
        "source_updated_at": ("updated_at", None),
    },
)

PRODUCT_DEFAULTS = {
    "description": "",
    "manufacturer": "",
    "manufacturer_part_number": "",
    "category_id": None,
    "unspsc": "",
    "lead_time_days": 0,
    "is_active": True,
}


# Stock -----------------------------------------------------------------------------------------

STOCK_COLUMNS = ("sku", "warehouse", "on_hand", "as_of")


def parse_stock_row(row: SourceRow, decimal_comma: bool) -> tuple[dict[str, Any], Problems]:
    values = row.values
    problems: Problems = []
    record = {
        "sku": _field(problems, values, "sku", parse.text, max_length=64, required=True),
        "warehouse": _field(problems, values, "warehouse", parse.text, max_length=32, required=True),
        "on_hand": _field(
            problems, values, "on_hand", parse.decimal, decimal_comma=decimal_comma, max_digits=14, decimal_places=3
        ),
        "as_of": _field(problems, values, "as_of", parse.timestamp),
    }
    return record, problems


def resolve_stock(batch, cache: ResolveCache, dry_run: bool) -> dict[int, Problems]:
    problems: dict[int, Problems] = {}
    if cache.warehouses is None:
        cache.warehouses = dict(Warehouse.objects.values_list("code", "id"))
    product_ids = _product_ids({record["sku"] for _, record in batch})
    for index, (_row, record) in enumerate(batch):
        sku = record.pop("sku")
        code = record.pop("warehouse")
        record["product_id"] = product_ids.get(sku)
        record["warehouse_id"] = cache.warehouses.get(code)
        if record["product_id"] is None:
            problems.setdefault(index, []).append(("sku", sku, f"SKU {sku!r} is not in the catalog"))
        if record["warehouse_id"] is None:
            problems.setdefault(index, []).append(
                ("warehouse", code, f"Warehouse {code!r} does not exist; add it in the admin first")
            )
    return problems


STOCK = KindSpec(
    kind=ImportKind.STOCK,
    model=StockLevel,
    columns=STOCK_COLUMNS,
    required=STOCK_COLUMNS,
    key_fields=("product_id", "warehouse_id"),
    compared_fields=("on_hand",),
    stamp_field="as_of",
    insert_defaults_sql={"reserved": "0"},
    parse=parse_stock_row,
    file_key=lambda record: (record["sku"], record["warehouse"]),
    resolve=resolve_stock,
    conflict_targets=(("(product_id, warehouse_id)", "TRUE"),),
    key_array_types=("bigint[]", "bigint[]"),
)


# Contract prices -------------------------------------------------------------------------------

# updated_at is optional and comes last: other systems send files with only the first seven columns,
# and those files are imported as before, without a stale check.
CONTRACT_PRICE_COLUMNS = (
    "contract",
    "sku",
    "min_quantity",
    "price",
    "discount_percent",
    "valid_from",
    "valid_to",
    "updated_at",
)


def parse_contract_price_row(row: SourceRow, decimal_comma: bool) -> tuple[dict[str, Any], Problems]:
    values = row.values
    problems: Problems = []
    record: dict[str, Any] = {
        "contract": _field(problems, values, "contract", parse.text, max_length=32, required=True),
        "sku": _field(problems, values, "sku", parse.text, max_length=64, required=True),
        "valid_from": _field(problems, values, "valid_from", parse.date),
        "valid_to": _field(problems, values, "valid_to", parse.date),
        "price": None,
        "discount_percent": None,
    }
    raw_quantity = values.get("min_quantity", "")
    record["min_quantity"] = (
        _field(
            problems,
            values,
            "min_quantity",
            parse.decimal,
            decimal_comma=decimal_comma,
            max_digits=14,
            decimal_places=3,
            minimum=Decimal("0.001"),
        )
        if raw_quantity.strip()
        else Decimal(1)
    )
    has_price = bool(values.get("price", "").strip())
    has_discount = bool(values.get("discount_percent", "").strip())
    if has_price == has_discount:
        problems.append(("price", values.get("price", ""), "give exactly one of price and discount_percent"))
    elif has_price:
        record["price"] = _field(
            problems,
            values,
            "price",
            parse.decimal,
            decimal_comma=decimal_comma,
            max_digits=18,
            decimal_places=4,
            minimum=Decimal(0),
        )
    else:
        record["discount_percent"] = _field(
            problems,
            values,
            "discount_percent",
            parse.decimal,
            decimal_comma=decimal_comma,
            max_digits=5,
            decimal_places=2,
            minimum=Decimal(0),
            maximum=Decimal(100),
        )
    if record["valid_from"] and record["valid_to"] and record["valid_to"] < record["valid_from"]:
        problems.append(("valid_to", values.get("valid_to", ""), "valid_to is before valid_from"))
    if values.get("updated_at", "").strip():
        # Left out or empty, the row has no change time and is applied whatever the stored one is.
        record["source_updated_at"] = _field(problems, values, "updated_at", parse.timestamp)
    return record, problems


def resolve_contract_prices(batch, cache: ResolveCache, dry_run: bool) -> dict[int, Problems]:
    problems: dict[int, Problems] = {}
    _cache_contracts(cache, {record["contract"] for _, record in batch})
    product_ids = _product_ids({record["sku"] for _, record in batch})
    for index, (_row, record) in enumerate(batch):
        number = record.pop("contract")
        sku = record.pop("sku")
        record["contract_id"] = cache.contracts.get(number)
        record["product_id"] = product_ids.get(sku)
        if record["contract_id"] is None or not _in_scope(cache, cache.contract_customers.get(number)):
            record["contract_id"] = None
            problems.setdefault(index, []).append(("contract", number, _contract_not_found(cache, number)))
        if record["product_id"] is None:
            problems.setdefault(index, []).append(("sku", sku, f"SKU {sku!r} is not in the catalog"))
    return problems


CONTRACT_PRICES = KindSpec(
    kind=ImportKind.CONTRACT_PRICES,
    model=ContractPrice,
    columns=CONTRACT_PRICE_COLUMNS,
    required=("contract", "sku"),
    key_fields=("contract_id", "product_id", "min_quantity", "valid_from"),
    compared_fields=("price", "discount_percent", "valid_to"),
    stamp_field="source_updated_at",
    insert_defaults_sql={},
    parse=parse_contract_price_row,
    file_key=lambda record: (record["contract"], record["sku"], record["min_quantity"], record["valid_from"]),
    resolve=resolve_contract_prices,
    # NULLs never conflict in a plain unique index, so open-start tiers use the partial one.
    conflict_targets=(
        ("(contract_id, product_id, min_quantity, valid_from)", "st.valid_from IS NOT NULL"),
        ("(contract_id, product_id, min_quantity) WHERE valid_from IS NULL", "st.valid_from IS NULL"),
    ),
)


def _cache_contracts(cache: ResolveCache, numbers: set[str]) -> None:
    numbers = numbers - cache.contracts.keys()
    if not numbers:
        return
    stored = Contract.objects.filter(number__in=numbers).values_list("number", "id", "customer_id")
    for number, pk, customer_id in stored:
        cache.contracts[number] = pk
        cache.contract_customers[number] = customer_id


def _in_scope(cache: ResolveCache, customer_id: int | None) -> bool:
    return cache.customer_scope is None or customer_id in cache.customer_scope


# A limited sender gets the same words whether a contract or customer is missing or belongs to a
# customer it may not change, so that a partner's key learns nothing about other customers.
def _contract_not_found(cache: ResolveCache, number: str) -> str:
    if cache.customer_scope is None:
        return f"Contract {number!r} does not exist"
    return f"Contract {number!r} does not exist among the contracts this sender may change"


def _customer_not_found(cache: ResolveCache, account: str) -> str:
    if cache.customer_scope is None:
        return f"Customer {account!r} does not exist; send it first (customers/updates or import_customers)"
    return (
        f"Customer {account!r} is not among the customers this sender may change; "
        "ask the supplier to link it to your partner account"
    )


# Customers --------------------------------------------------------------------------------------

CUSTOMER_COLUMNS = (
    "account",
    "name",
    "currency",
    "payment_terms",
    "credit_limit",
    "region",
    "tax_exempt",
    "updated_at",
)
CUSTOMER_DEFAULTS = {"payment_terms": "", "credit_limit": Decimal("0"), "region": "", "tax_exempt": False}


def parse_customer_row(row: SourceRow, decimal_comma: bool) -> tuple[dict[str, Any], Problems]:
    values = row.values
    problems: Problems = []
    record: dict[str, Any] = {
        "account_number": _field(problems, values, "account", parse.text, max_length=32, required=True),
        "name": _field(problems, values, "name", parse.text, max_length=200, required=True),
        "currency": _field(problems, values, "currency", parse.currency),
        "source_updated_at": _field(problems, values, "updated_at", parse.timestamp),
    }
    if "payment_terms" in values:
        record["payment_terms"] = _field(problems, values, "payment_terms", parse.text, max_length=32)
    if "credit_limit" in values:
        record["credit_limit"] = (
            _field(
                problems,
                values,
                "credit_limit",
                parse.decimal,
                decimal_comma=decimal_comma,
                max_digits=18,
                decimal_places=2,
                minimum=Decimal(0),
            )
            if values["credit_limit"].strip()
            else Decimal(0)
        )
    if "region" in values:
        record["region"] = _field(problems, values, "region", parse.text, max_length=32)
    if "tax_exempt" in values:
        record["tax_exempt"] = _field(problems, values, "tax_exempt", parse.boolean, empty=False)
    return record, problems


def resolve_customers(batch, cache: ResolveCache, dry_run: bool) -> dict[int, Problems]:
    """Reject rows of customers outside the sender's scope; a new account is outside any limited scope."""
    if cache.customer_scope is None:
        return {}
    accounts = {record["account_number"] for _, record in batch}
    ids = dict(Customer.objects.filter(account_number__in=accounts).values_list("account_number", "id"))
    problems: dict[int, Problems] = {}
    for index, (_row, record) in enumerate(batch):
        account = record["account_number"]
        if not _in_scope(cache, ids.get(account, -1)):
            problems[index] = [("account", account, _customer_not_found(cache, account))]
    return problems


CUSTOMERS = KindSpec(
    kind=ImportKind.CUSTOMERS,
    model=Customer,
    columns=CUSTOMER_COLUMNS,
    required=("account", "name", "currency", "updated_at"),
    key_fields=("account_number",),
    compared_fields=("name", "currency", "payment_terms", "credit_limit", "region", "tax_exempt"),
    stamp_field="source_updated_at",
    insert_defaults_sql={},
    parse=parse_customer_row,
    file_key=lambda record: (record["account_number"],),
    resolve=resolve_customers,
    conflict_targets=(),
    staged=False,
)


# Contracts (headers) -------------------------------------------------------------------------------

CONTRACT_COLUMNS = ("contract", "customer", "name", "currency", "valid_from", "valid_to", "status", "updated_at")
CONTRACT_DEFAULTS = {"name": "", "valid_to": None}


def parse_contract_row(row: SourceRow, decimal_comma: bool) -> tuple[dict[str, Any], Problems]:
    values = row.values
    problems: Problems = []
    record: dict[str, Any] = {
        "number": _field(problems, values, "contract", parse.text, max_length=32, required=True),
        "customer": _field(problems, values, "customer", parse.text, max_length=32, required=True),
        "currency": _field(problems, values, "currency", parse.currency),
        "valid_from": _field(problems, values, "valid_from", parse.date),
        "source_updated_at": _field(problems, values, "updated_at", parse.timestamp),
    }
    if record["valid_from"] is None and not any(column == "valid_from" for column, _, _ in problems):
        problems.append(("valid_from", "", "valid_from is required, as an ISO 8601 date such as 2026-03-01"))
    status = values.get("status", "").strip().lower()
    if status not in Contract.Status.values:
        problems.append(
            ("status", values.get("status", ""), f"status must be one of {', '.join(Contract.Status.values)}")
        )
    record["status"] = status
    if "name" in values:
        record["name"] = _field(problems, values, "name", parse.text, max_length=200)
    if "valid_to" in values:
        # Present and empty: the contract is open-ended from now on.
        record["valid_to"] = _field(problems, values, "valid_to", parse.date)
        if record["valid_to"] and record["valid_from"] and record["valid_to"] < record["valid_from"]:
            problems.append(("valid_to", values["valid_to"], "valid_to is before valid_from"))
    return record, problems


def resolve_contracts(batch, cache: ResolveCache, dry_run: bool) -> dict[int, Problems]:
    """Set ``customer_id``; reject customers and contracts outside the scope, and overlapping active contracts."""
    problems: dict[int, Problems] = {}
    accounts = {record["customer"] for _, record in batch}
    customer_ids = dict(Customer.objects.filter(account_number__in=accounts).values_list("account_number", "id"))
    _cache_contracts(cache, {record["number"] for _, record in batch})
    for index, (_row, record) in enumerate(batch):
        account = record.pop("customer")
        number = record["number"]
        record["customer_id"] = customer_ids.get(account)
        if record["customer_id"] is None or not _in_scope(cache, record["customer_id"]):
            problems.setdefault(index, []).append(("customer", account, _customer_not_found(cache, account)))
        if number in cache.contracts and not _in_scope(cache, cache.contract_customers[number]):
            problems.setdefault(index, []).append(("contract", number, _contract_not_found(cache, number)))
    for index, problem in _overlapping_active_contracts(batch, skip=problems.keys()).items():
        problems.setdefault(index, []).append(problem)
    return problems


def _overlapping_active_contracts(batch, skip) -> dict[int, tuple[str, str, str]]:
    """Find the active rows whose dates overlap another active contract of the same customer.

    The pricing engine needs one contract in force per customer and day. Stored contracts count as
    the batch leaves them, so a batch that ends one contract and starts the next is accepted.
    """
    rows = {
        record["number"]: (index, record)
        for index, (_row, record) in enumerate(batch)
        if index not in skip and record["customer_id"] is not None
    }
    customer_ids = {record["customer_id"] for _, record in rows.values()}
    periods: dict[str, tuple[int, str, dt.date, dt.date | None]] = {
        number: (customer_id, status, valid_from, valid_to)
        for number, customer_id, status, valid_from, valid_to in Contract.objects.filter(
            customer_id__in=customer_ids
        ).values_list("number", "customer_id", "status", "valid_from", "valid_to")
    }
    for number, (_index, record) in rows.items():
        stored_to = periods.get(number, (None, None, None, None))[3]
        periods[number] = (
            record["customer_id"],
            record["status"],
            record["valid_from"],
            record.get("valid_to", stored_to),
        )
    problems = {}
    for number, (index, _record) in rows.items():
        customer_id, status, start, end = periods[number]
        if status != Contract.Status.ACTIVE:
            continue
        for other, (other_customer, other_status, other_start, other_end) in periods.items():
            if other == number or other_customer != customer_id or other_status != Contract.Status.ACTIVE:
                continue
            if (end is None or other_start <= end) and (other_end is None or start <= other_end):
                problems[index] = (
                    "valid_from",
                    start.isoformat(),
                    f"Contract {other} is also active for this customer in these dates; end or suspend it "
                    "in the same push, or change this contract's dates",
                )
                break
    return problems


CONTRACTS = KindSpec(
    kind=ImportKind.CONTRACTS,
    model=Contract,
    columns=CONTRACT_COLUMNS,
    required=("contract", "customer", "currency", "valid_from", "status", "updated_at"),
    key_fields=("number",),
    compared_fields=("customer_id", "name", "currency", "valid_from", "valid_to", "status"),
    stamp_field="source_updated_at",
    insert_defaults_sql={},
    parse=parse_contract_row,
    file_key=lambda record: (record["number"],),
    resolve=resolve_contracts,
    conflict_targets=(),
    staged=False,
    file_columns={"customer_id": ("customer", "account_number"), "source_updated_at": ("updated_at", None)},
)

SPECS = {spec.kind: spec for spec in (CATALOG, STOCK, CONTRACT_PRICES, CUSTOMERS, CONTRACTS)}
DEFAULTS = {
    ImportKind.CATALOG: PRODUCT_DEFAULTS,
    ImportKind.STOCK: {},
    ImportKind.CONTRACT_PRICES: {},
    ImportKind.CUSTOMERS: CUSTOMER_DEFAULTS,
    ImportKind.CONTRACTS: CONTRACT_DEFAULTS,
}


def _product_ids(skus: set[str]) -> dict[str, int]:
    if connection.vendor == "postgresql":
        # One array parameter instead of thousands of placeholders.
        with connection.cursor() as cursor:
            cursor.execute("SELECT sku, id FROM catalog_product WHERE sku = ANY(%s)", [list(skus)])
            return dict(cursor.fetchall())
    return dict(Product.objects.filter(sku__in=skus).values_list("sku", "id"))
