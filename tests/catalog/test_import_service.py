"""Import behaviour: stale rows, history rows, held anomalies, interrupted imports, stock and contract prices."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings

from apps.catalog.imports import references, writers
from apps.catalog.imports.service import ImportOptions, import_file, import_rows
from apps.catalog.models import Category, HeldChange, ImportJob, ImportKind, Product, StockLevel
from apps.exceptions.models import CaseKind, ExceptionCase
from apps.exceptions.services import case_resolve
from tests.factories import (
    CategoryFactory,
    ContractFactory,
    ContractPriceFactory,
    ProductFactory,
    UnitOfMeasureFactory,
    UserFactory,
    WarehouseFactory,
)

JAN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MAR = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _row(sku, price="100.00", updated_at="2026-03-01T00:00:00Z", **extra):
    return {
        "sku": sku,
        "name": extra.pop("name", f"Product {sku}"),
        "uom": "EA",
        "list_price": price,
        "currency": "EUR",
        "updated_at": updated_at,
        **extra,
    }


def _push(rows, **options):
    return import_rows(ImportKind.CATALOG, rows, actor=options.pop("actor", None), options=ImportOptions(**options))


@pytest.fixture
def each(db):
    return UnitOfMeasureFactory(code="EA", name="each")


def test_stale_row_skipped_and_counted(each):
    ProductFactory(sku="A-1", name="Newer", list_price=Decimal("100"), unit=each, source_updated_at=MAR)

    job = _push([_row("A-1", name="Older", updated_at="2026-01-01T00:00:00Z")])

    assert (job.stale_count, job.updated_count, job.unchanged_count) == (1, 0, 0)
    assert Product.objects.get(sku="A-1").name == "Newer"


def test_newer_row_updates_and_equal_row_unchanged(each):
    ProductFactory(sku="A-1", name="Old", list_price=Decimal("100"), unit=each, source_updated_at=JAN)
    ProductFactory(
        sku="A-2",
        name="Product A-2",
        list_price=Decimal("100"),
        unit=each,
        source_updated_at=JAN,
        unspsc="",
        description="",
        manufacturer="",
        manufacturer_part_number="",
    )

    job = _push([_row("A-1", name="New"), _row("A-2")])

    assert (job.updated_count, job.unchanged_count, job.stale_count) == (1, 1, 0)
    product = Product.objects.get(sku="A-1")
    assert product.name == "New"
    assert product.source_updated_at == MAR


def test_history_written_only_for_changed_rows(each):
    user = UserFactory(username="erp-runner")
    _push([_row("A-1"), _row("A-2"), _row("A-3")], actor=user)
    first_job = ImportJob.objects.get()

    second = _push([_row("A-1", price="105.00"), _row("A-2"), _row("A-3")], actor=user)

    history = Product.history.model.objects.order_by("history_id")
    assert [(h.sku, h.history_type) for h in history] == [("A-1", "+"), ("A-2", "+"), ("A-3", "+"), ("A-1", "~")]
    last = history.last()
    assert last.list_price == Decimal("105.0000")
    assert last.history_user_id == user.pk
    assert last.history_change_reason == f"import job {second.pk}"
    assert history.first().history_change_reason == f"import job {first_job.pk}"
    assert (second.updated_count, second.unchanged_count) == (1, 2)


def test_price_jump_held_with_case_then_applied(each):
    ProductFactory(sku="A-1", list_price=Decimal("100"), unit=each, source_updated_at=JAN)
    manager = UserFactory(username="manager", is_superuser=True)

    job = _push([_row("A-1", price="131.00")])

    assert (job.flagged_count, job.updated_count) == (1, 0)
    assert Product.objects.get(sku="A-1").list_price == Decimal("100.0000")
    held = HeldChange.objects.get()
    assert (held.reason, held.status, held.line, held.payload["list_price"]) == ("price_jump", "pending", 1, "131.00")
    case = ExceptionCase.objects.get()
    assert case.kind == CaseKind.CATALOG_ANOMALY
    assert held.case == case
    assert case.facts["held_change"] == held.pk

    case_resolve(case=case, action="apply", note="confirmed with purchasing", actor=manager)

    product = Product.objects.get(sku="A-1")
    assert product.list_price == Decimal("131.0000")
    held.refresh_from_db()
    assert (held.status, held.decided_by) == ("applied", manager)
    last = Product.history.model.objects.order_by("history_id").last()
    assert (last.history_type, last.history_user_id) == ("~", manager.pk)


def test_price_jump_rejected_keeps_price(each):
    ProductFactory(sku="A-1", list_price=Decimal("100"), unit=each, source_updated_at=JAN)
    manager = UserFactory(username="manager", is_superuser=True)
    _push([_row("A-1", price="50.00")])
    case = ExceptionCase.objects.get()

    case_resolve(case=case, action="reject", note="typo in the ERP", actor=manager)

    assert Product.objects.get(sku="A-1").list_price == Decimal("100.0000")
    assert HeldChange.objects.get().status == "rejected"


def test_price_move_within_threshold_applied(each):
    ProductFactory(sku="A-1", list_price=Decimal("100"), unit=each, source_updated_at=JAN)

    job = _push([_row("A-1", price="130.00")])

    assert (job.flagged_count, job.updated_count) == (0, 1)


@override_settings(CATALOG_PRICE_CHANGE_THRESHOLD="0.10")
def test_threshold_read_from_settings(each):
    ProductFactory(sku="A-1", list_price=Decimal("100"), unit=each, source_updated_at=JAN)

    job = _push([_row("A-1", price="111.00")])

    assert job.flagged_count == 1


def test_zero_price_held_for_new_product(each):
    manager = UserFactory(username="manager", is_superuser=True)

    job = _push([_row("A-9", price="0")])

    assert (job.flagged_count, job.created_count) == (1, 0)
    assert not Product.objects.filter(sku="A-9").exists()
    case = ExceptionCase.objects.get()
    case_resolve(case=case, action="apply", note="free sample", actor=manager)
    assert Product.objects.get(sku="A-9").list_price == Decimal("0")


def test_held_change_not_applied_over_newer_import(each):
    ProductFactory(sku="A-1", list_price=Decimal("100"), unit=each, source_updated_at=JAN)
    manager = UserFactory(username="manager", is_superuser=True)
    _push([_row("A-1", price="200.00", updated_at="2026-02-01T00:00:00Z")])
    _push([_row("A-1", price="110.00", updated_at="2026-03-01T00:00:00Z")])
    case = ExceptionCase.objects.get()

    from apps.exceptions.errors import ResolutionFailed

    with pytest.raises(ResolutionFailed) as raised:
        case_resolve(case=case, action="apply", note="", actor=manager)

    assert raised.value.message == (
        "A-1 was updated by a newer import (2026-03-01T00:00:00+00:00) after this change "
        "(2026-02-01T00:00:00+00:00) was held; reject the held change instead."
    )
    assert Product.objects.get(sku="A-1").list_price == Decimal("110.0000")


def test_full_catalog_holds_missing_product_for_deactivation(each):
    ProductFactory(sku="GONE", list_price=Decimal("5"), unit=each, source_updated_at=JAN)
    manager = UserFactory(username="manager", is_superuser=True)
    rows = [_row(f"A-{n}") for n in range(20)]

    job = _push(rows, full_catalog=True)

    assert (job.created_count, job.flagged_count) == (20, 1)
    held = HeldChange.objects.get()
    assert (held.sku, held.reason) == ("GONE", "missing")
    assert Product.objects.get(sku="GONE").is_active is True
    case_resolve(case=held.case, action="apply", note="discontinued", actor=manager)
    assert Product.objects.get(sku="GONE").is_active is False


def test_full_catalog_cut_short_proposes_nothing(each):
    for n in range(5):
        ProductFactory(sku=f"OLD-{n}", unit=each, source_updated_at=JAN)

    job = _push([_row("OLD-0", price="100.00")], full_catalog=True)

    assert job.flagged_count == 0
    assert HeldChange.objects.count() == 0
    notice = job.row_errors.get()
    assert notice.message.startswith("The full-catalog file lacks 4 of 5 active products, more than 10%;")


def test_interrupted_import_keeps_earlier_batches_and_rerun_completes(each, monkeypatch, tmp_path):
    path = tmp_path / "catalog.csv"
    lines = ["sku,name,uom,list_price,currency,updated_at"]
    lines += [f"A-{n:02d},Item {n},EA,10.00,EUR,2026-03-01" for n in range(25)]
    path.write_text("\n".join(lines) + "\n")
    calls = {"count": 0}
    real_orm, real_pg = writers.write_orm, writers.write_postgresql

    def failing_on_third(real):
        def write(*args, **kwargs):
            calls["count"] += 1
            if calls["count"] == 3:
                real(*args, **kwargs)
                raise RuntimeError("database went away")
            return real(*args, **kwargs)

        return write

    from apps.catalog.imports import service

    monkeypatch.setattr(service, "write_orm", failing_on_third(real_orm))
    monkeypatch.setattr(service, "write_postgresql", failing_on_third(real_pg))

    with pytest.raises(RuntimeError):
        import_file(path, kind=ImportKind.CATALOG, source="command", options=ImportOptions(batch_size=10))

    failed = ImportJob.objects.get()
    assert failed.status == ImportJob.Status.FAILED
    assert failed.error == "The import failed in batch 3: RuntimeError('database went away')"
    assert (failed.created_count, failed.batches_committed, failed.rows_read) == (20, 2, 20)
    assert Product.objects.count() == 20

    monkeypatch.setattr(service, "write_orm", real_orm)
    monkeypatch.setattr(service, "write_postgresql", real_pg)
    rerun = import_file(path, kind=ImportKind.CATALOG, source="command", options=ImportOptions(batch_size=10))

    assert rerun.status == ImportJob.Status.SUCCEEDED
    assert (rerun.created_count, rerun.unchanged_count) == (5, 20)
    assert Product.objects.count() == 25


def test_stock_import_upserts_and_skips_stale(each):
    product = ProductFactory(sku="A-1", unit=each)
    main = WarehouseFactory(code="MAIN")
    WarehouseFactory(code="EAST")
    StockLevel.objects.create(product=product, warehouse=main, on_hand=Decimal("5"), as_of=MAR)
    rows = [
        {"sku": "A-1", "warehouse": "MAIN", "on_hand": "9", "as_of": "2026-02-01T00:00:00Z"},
        {"sku": "A-1", "warehouse": "EAST", "on_hand": "3.5", "as_of": "2026-03-02T00:00:00Z"},
        {"sku": "NOPE", "warehouse": "WEST", "on_hand": "1", "as_of": "2026-03-02T00:00:00Z"},
    ]

    job = import_rows(ImportKind.STOCK, rows)

    assert (job.created_count, job.stale_count, job.rejected_count) == (1, 1, 1)
    levels = dict(StockLevel.objects.values_list("warehouse__code", "on_hand"))
    assert levels == {"MAIN": Decimal("5.000"), "EAST": Decimal("3.500")}
    report = [(e.line, e.column, e.message) for e in job.row_errors.order_by("id")]
    assert report == [
        (3, "sku", "SKU 'NOPE' is not in the catalog"),
        (3, "warehouse", "Warehouse 'WEST' does not exist; add it in the admin first"),
    ]


def test_contract_price_import_creates_updates_and_validates(each):
    product = ProductFactory(sku="A-1", unit=each)
    contract = ContractFactory(number="K-1")
    ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("1"), price=Decimal("90"))
    rows = [
        {"contract": "K-1", "sku": "A-1", "min_quantity": "1", "price": "85.00"},
        {"contract": "K-1", "sku": "A-1", "min_quantity": "10", "discount_percent": "15", "valid_from": "2026-02-01"},
        {"contract": "K-1", "sku": "A-1", "min_quantity": "20", "price": "80", "discount_percent": "5"},
        {"contract": "K-9", "sku": "A-1", "price": "1"},
    ]

    job = import_rows(ImportKind.CONTRACT_PRICES, rows)

    assert (job.created_count, job.updated_count, job.rejected_count) == (1, 1, 2)
    tiers = list(contract.prices.order_by("min_quantity").values_list("min_quantity", "price", "discount_percent"))
    assert tiers == [(Decimal("1.000"), Decimal("85.0000"), None), (Decimal("10.000"), None, Decimal("15.00"))]
    report = [(e.line, e.column, e.message) for e in job.row_errors.order_by("id")]
    assert report == [
        (3, "price", "give exactly one of price and discount_percent"),
        (4, "contract", "Contract 'K-9' does not exist"),
    ]

    rerun = import_rows(ImportKind.CONTRACT_PRICES, rows[:2])
    assert (rerun.created_count, rerun.updated_count, rerun.unchanged_count) == (0, 0, 2)


@pytest.mark.postgres
def test_unchanged_rows_not_touched_on_postgresql(each):
    from django.db import connection

    _push([_row("A-1"), _row("A-2")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT sku, xmin::text FROM catalog_product ORDER BY sku")
        before = cursor.fetchall()

    job = _push([_row("A-1"), _row("A-2", price="101.00")])

    with connection.cursor() as cursor:
        cursor.execute("SELECT sku, xmin::text FROM catalog_product ORDER BY sku")
        after = cursor.fetchall()
    assert (job.unchanged_count, job.updated_count) == (1, 1)
    assert after[0] == before[0]
    assert after[1] != before[1]


def test_left_out_columns_keep_stored_values(each):
    tools = CategoryFactory(code="TOOLS")
    ProductFactory(
        sku="A-1",
        description="Kept",
        manufacturer="Acme",
        category=tools,
        lead_time_days=4,
        unit=each,
        source_updated_at=JAN,
    )
    ProductFactory(sku="A-2", description="Kept", category=tools, unit=each, source_updated_at=JAN)

    job = _push([_row("A-1", name="Renamed"), _row("A-2", name="Renamed", category_code="", lead_time_days="")])

    assert (job.updated_count, job.rejected_count) == (2, 0)
    first, second = Product.objects.order_by("sku")
    assert (first.name, first.description, first.manufacturer, first.category, first.lead_time_days) == (
        "Renamed",
        "Kept",
        "Acme",
        tools,
        4,
    )
    assert (second.name, second.description, second.category, second.lead_time_days) == ("Renamed", "Kept", None, 0)


def test_new_product_takes_defaults(each):
    job = _push([_row("A-1")])

    assert job.created_count == 1
    product = Product.objects.get(sku="A-1")
    assert (product.description, product.category, product.unspsc, product.lead_time_days, product.is_active) == (
        "",
        None,
        "",
        0,
        True,
    )


def _contract_price_rows(*rows):
    return import_rows(ImportKind.CONTRACT_PRICES, [{"contract": "K-1", "sku": "A-1", **row} for row in rows])


def test_contract_price_stale_row_skipped(each):
    product = ProductFactory(sku="A-1", unit=each)
    contract = ContractFactory(number="K-1")
    ContractPriceFactory(contract=contract, product=product, price=Decimal("90"), source_updated_at=MAR)

    job = _contract_price_rows(
        {"min_quantity": "1", "price": "70", "updated_at": "2026-02-01T00:00:00Z"},
        {"min_quantity": "10", "price": "80", "updated_at": "2026-04-01T00:00:00Z"},
    )

    assert (job.stale_count, job.created_count, job.updated_count, job.rejected_count) == (1, 1, 0, 0)
    tiers = list(contract.prices.order_by("min_quantity").values_list("price", "source_updated_at"))
    assert tiers == [
        (Decimal("90.0000"), MAR),
        (Decimal("80.0000"), dt.datetime(2026, 4, 1, tzinfo=dt.UTC)),
    ]

    newer = _contract_price_rows({"min_quantity": "1", "price": "85", "updated_at": "2026-03-02T00:00:00Z"})

    assert (newer.updated_count, newer.stale_count) == (1, 0)
    assert contract.prices.get(min_quantity=1).source_updated_at == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def test_contract_price_without_time_applies(each):
    product = ProductFactory(sku="A-1", unit=each)
    contract = ContractFactory(number="K-1")
    ContractPriceFactory(contract=contract, product=product, price=Decimal("90"), source_updated_at=MAR)

    job = _contract_price_rows({"min_quantity": "1", "price": "70"}, {"min_quantity": "5", "price": "60"})

    assert (job.updated_count, job.created_count, job.stale_count) == (1, 1, 0)
    tiers = list(contract.prices.order_by("min_quantity").values_list("price", "source_updated_at"))
    assert tiers == [(Decimal("70.0000"), MAR), (Decimal("60.0000"), None)]


def test_contract_price_file_time_column(each, tmp_path):
    product = ProductFactory(sku="A-1", unit=each)
    contract = ContractFactory(number="K-1")
    ContractPriceFactory(contract=contract, product=product, price=Decimal("90"), source_updated_at=MAR)
    with_column = tmp_path / "with.csv"
    with_column.write_text(
        "contract,sku,min_quantity,price,discount_percent,valid_from,valid_to,updated_at\n"
        "K-1,A-1,1,70,,,,2026-02-01T00:00:00Z\n"
        "K-1,A-1,5,60,,,,yesterday\n"
    )
    without_column = tmp_path / "without.csv"
    without_column.write_text("contract,sku,min_quantity,price,discount_percent,valid_from,valid_to\nK-1,A-1,1,75,,,\n")

    job = import_file(with_column, kind=ImportKind.CONTRACT_PRICES, source="command")

    assert (job.stale_count, job.rejected_count, job.created_count) == (1, 1, 0)
    report = [(e.line, e.column, e.message) for e in job.row_errors.all()]
    assert report == [
        (3, "updated_at", "updated_at 'yesterday' is not an ISO 8601 date and time, such as 2026-03-01T08:00:00Z")
    ]

    plain = import_file(without_column, kind=ImportKind.CONTRACT_PRICES, source="command")

    assert (plain.updated_count, plain.stale_count) == (1, 0)
    assert contract.prices.values_list("price", "source_updated_at").get() == (Decimal("75.0000"), MAR)


def test_new_categories_created_once_per_code(each):
    rows = [
        _row("A-1", category_code="PENS", category_name="Pens"),
        _row("A-2", category_code="PENS", category_name=""),
        _row("A-3", category_code="PADS", category_name="Pads"),
        _row("A-4", category_code="NOPE", category_name=""),
    ]

    job = _push(rows)

    assert (job.created_count, job.rejected_count) == (3, 1)
    categories = list(Category.objects.order_by("code").values_list("code", "name", "path"))
    assert categories == [("PADS", "Pads", "/PADS/"), ("PENS", "Pens", "/PENS/")]
    pens = Category.objects.get(code="PENS")
    assert set(Product.objects.filter(category=pens).values_list("sku", flat=True)) == {"A-1", "A-2"}
    history = Category.history.get(code="PENS")
    assert (history.history_type, history.history_change_reason) == ("+", "Created by a catalog import")
    report = [(e.line, e.column, e.message) for e in job.row_errors.all()]
    assert report == [(4, "category_code", "Category 'NOPE' does not exist; give category_name to create it")]


@pytest.mark.postgres
def test_unique_violation_retried_with_upsert(each, monkeypatch):
    from django.db import IntegrityError

    ProductFactory(sku="A-1", list_price=Decimal("100"), unit=each, source_updated_at=JAN)
    real = writers.StagedBatch._write_classified
    modes = []

    def write(self, *args, insert_new, **kwargs):
        modes.append(insert_new)
        if insert_new:
            # As when another writer inserts one of the batch's new keys after the comparison.
            raise IntegrityError('duplicate key value violates unique constraint "product_sku_uniq"')
        return real(self, *args, insert_new=insert_new, **kwargs)

    monkeypatch.setattr(writers.StagedBatch, "_write_classified", write)

    job = _push([_row("A-1", price="110.00"), _row("A-2")])

    assert modes == [True, False]
    assert (job.created_count, job.updated_count, job.stale_count) == (1, 1, 0)
    history = Product.history.model.objects.filter(history_change_reason=f"import job {job.pk}").order_by("sku")
    assert [(h.sku, h.history_type) for h in history] == [("A-1", "~"), ("A-2", "+")]


def test_gc_threshold_raised_during_import_only(each):
    import gc

    before = gc.get_threshold()
    during = []

    import_rows(ImportKind.CATALOG, [_row("A-1")], progress=lambda job: during.append(gc.get_threshold()))

    assert during == [(max(before[0], 50_000), *before[1:])]
    assert gc.get_threshold() == before


def test_duplicate_sku_fails_model_validation(each):
    from django.core.exceptions import ValidationError

    ProductFactory(sku="A-1", unit=each)
    duplicate = Product(sku="A-1", name="Copy", unit=each, list_price=Decimal("1"), currency="EUR")

    with pytest.raises(ValidationError) as raised:
        duplicate.validate_constraints()

    assert raised.value.message_dict == {"sku": ["Product with this SKU already exists."]}


def test_duplicate_sku_rejected_by_database(each):
    from django.db import IntegrityError, transaction

    ProductFactory(sku="A-1", unit=each)

    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(sku="A-1", name="Copy", unit=each, list_price=Decimal("1"), currency="EUR")


@pytest.mark.postgres
def test_product_sku_has_one_index(each):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'catalog_product' AND indexdef LIKE %s",
            ["%(sku%"],
        )
        names = [name for (name,) in cursor.fetchall()]

    assert names == ["product_sku_uniq"]


def _plan_without_sequential_scans(queryset) -> str:
    """Return the plan PostgreSQL chooses for ``queryset`` when it avoids sequential scans where it can."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        # The test tables are tiny, so the planner would otherwise scan them whether an index fits or not.
        cursor.execute("SET LOCAL enable_seqscan = off")
        return queryset.explain()


@pytest.mark.postgres
def test_product_lookup_by_tax_class_uses_partial_index(each):
    from apps.tax.models import TaxClass

    reduced = TaxClass.objects.create(code="REDUCED", name="Reduced")

    plan = _plan_without_sequential_scans(Product.objects.filter(tax_class=reduced))

    assert "product_tax_class_idx" in plan


@pytest.mark.postgres
def test_history_lookup_by_user_uses_partial_index(each):
    user = UserFactory()

    plan = _plan_without_sequential_scans(Product.history.filter(history_user=user))

    assert "product_hist_user_idx" in plan


@pytest.mark.postgres
def test_batch_referencing_missing_category_rolled_back(each, monkeypatch):
    import dataclasses

    from django.db import IntegrityError

    from apps.catalog.imports import kinds

    pens = CategoryFactory(code="PENS")
    missing_id = pens.pk + 1000
    catalog = kinds.SPECS[ImportKind.CATALOG]

    def resolve_to_missing_category(batch, cache, dry_run):
        problems = catalog.resolve(batch, cache, dry_run)
        # As when the category is deleted after the import looked it up.
        for _, record in batch:
            record["category_id"] = missing_id
        return problems

    broken = dataclasses.replace(catalog, resolve=resolve_to_missing_category)
    monkeypatch.setitem(kinds.SPECS, ImportKind.CATALOG, broken)
    checked = []
    real_prepare = references.BatchReferences.prepare

    def prepare(self):
        real_prepare(self)
        checked.append(self.allowed)

    monkeypatch.setattr(references.BatchReferences, "prepare", prepare)

    with pytest.raises(IntegrityError, match=f"category_id of the import batch refers to ids {missing_id} "):
        _push([_row("A-1", category_code="PENS"), _row("A-2", category_code="PENS")])

    assert checked == [True]
    assert not Product.objects.exists()
    job = ImportJob.objects.get()
    assert (job.status, job.batches_committed, job.created_count) == (ImportJob.Status.FAILED, 0, 0)


@pytest.mark.postgres
def test_batch_check_restores_replication_role(each):
    from django.db import connection

    user = UserFactory()

    job = _push([_row("A-1"), _row("A-2")], actor=user)

    assert job.created_count == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('session_replication_role')")
        assert cursor.fetchone()[0] == "origin"
    history = Product.history.model.objects.filter(history_change_reason=f"import job {job.pk}")
    assert set(history.values_list("history_user_id", flat=True)) == {user.pk}
