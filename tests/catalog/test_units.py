"""Unit of measure resolution: normalising spellings, aliases per context, and the errors for unknown units."""

import csv
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.catalog.errors import UnknownUnit
from apps.catalog.models import UnitAlias, UnitOfMeasure
from apps.catalog.units import match_units, normalise_unit_spelling, resolve_unit, resolve_units

DATA_DIR = Path(__file__).resolve().parents[2] / "apps" / "catalog" / "data"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  ea. ", "EA"),
        ("Each", "EACH"),
        ("pieces", "PIECE"),
        ("PCS", "PCS"),
        ("cs", "CS"),
        ("kgs", "KGS"),
        ("boxes", "BOX"),
        ("inches", "INCH"),
        ("cases", "CASE"),
        ("gross", "GROSS"),
        ("Stk.", "STK"),
        ("Stück", "STÜCK"),
        ("lump   sum", "LUMP SUM"),
        ("m²", "M²"),
        ("", ""),
    ],
)
def test_normalise_unit_spelling(raw, expected):
    assert normalise_unit_spelling(raw) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "context", "code"),
    [
        ("each", "erp", "EA"),
        ("EA", "erp", "EA"),
        ("PCE", "erp", "EA"),
        ("PCE", "oci", "EA"),
        ("pieces", "cxml", "EA"),
        ("Stück", "erp", "EA"),
        ("St.", "erp", "EA"),
        ("ST", "x12", "SET"),
        ("ST", "cxml", "XST"),
        ("box", "erp", "XBX"),
        ("BX", "cxml", "XBX"),
        ("kg", "erp", "KGM"),
        ("KG", "erp", "KGM"),
        ("KG", "x12", "KGM"),
        ("KGS", "erp", "KGM"),
        ("KGS", "cxml", "KGS"),
        ("CA", "x12", "XCS"),
        ("CA", "cxml", "XCA"),
        ("CS", "erp", "XCS"),
        ("RO", "erp", "XRO"),
        ("CT", "erp", "XCT"),
        ("PK", "erp", "XPK"),
        ("OZ", "erp", "ONZ"),
        ("M", "erp", "MTR"),
        ("M", "x12", "MIL"),
        ("H87", "erp", "H87"),
        ("xbx", "cxml", "XBX"),
        ("lump sum", "erp", "LS"),
    ],
)
def test_resolve_unit_maps_spelling_per_context(raw, context, code):
    unit = resolve_unit(raw, context=context)

    assert unit.code == code


@pytest.mark.django_db
def test_resolve_unit_unknown_spelling_names_it():
    with pytest.raises(UnknownUnit) as caught:
        resolve_unit("bucketful", context="erp")

    assert caught.value.code == "unknown_unit"
    assert caught.value.raw == "bucketful"
    assert caught.value.suggested_code == ""
    assert caught.value.message == (
        "Unknown unit of measure 'bucketful' in context erp: add a unit alias for BUCKETFUL in the admin, "
        "or use a UN/CEFACT Recommendation 20 code such as EA, KGM or XBX."
    )


@pytest.mark.django_db
def test_resolve_unit_deleted_code_suggests_x_code():
    with pytest.raises(UnknownUnit) as caught:
        resolve_unit("CA", context="erp")

    assert caught.value.suggested_code == "XCA"
    assert caught.value.message == (
        "Unit of measure 'CA' is the code CA (can), which UN/CEFACT flags as deleted, so it is accepted only "
        "through a unit alias: use XCA (Can, rectangular) instead, or add a unit alias for CA in context erp. "
        "In other contexts CA has aliases: cxml means XCA, oci means XCA, x12 means XCS."
    )


@pytest.mark.django_db
def test_resolve_unit_deprecated_code_without_alias_is_rejected():
    with pytest.raises(UnknownUnit) as caught:
        resolve_unit("QT", context="cxml")

    assert caught.value.suggested_code == ""
    assert "QT (quart (US)), which UN/CEFACT flags as deprecated" in caught.value.message


@pytest.mark.django_db
def test_resolve_unit_empty_value_is_rejected():
    with pytest.raises(UnknownUnit) as caught:
        resolve_unit("  ", context="erp")

    assert caught.value.message == (
        "The unit of measure is empty; give a UN/CEFACT Recommendation 20 code such as EA or KGM."
    )


@pytest.mark.django_db
def test_resolve_unit_context_alias_wins_over_any():
    # given an alias for any context and a different one for x12
    UnitAlias.objects.create(alias="BUCKET", context="any", unit=UnitOfMeasure.objects.get(code="XBJ"))
    UnitAlias.objects.create(alias="BUCKET", context="x12", unit=UnitOfMeasure.objects.get(code="XPL"))

    # then each context gets its own, and the others fall back to any
    assert resolve_unit("bucket", context="x12").code == "XPL"
    assert resolve_unit("bucket", context="erp").code == "XBJ"


@pytest.mark.django_db
def test_resolve_unit_unknown_context_raises_value_error():
    with pytest.raises(ValueError, match="Unknown unit alias context 'edifact'"):
        resolve_unit("EA", context="edifact")


@pytest.mark.django_db
def test_resolve_units_runs_two_queries_for_many_spellings():
    raws = ["each", "PCE", "Stück", "box", "kg", "KGM", "LTR", "H87", "XBX", "MTR", "pieces", "each"]

    with CaptureQueriesContext(connection) as queries:
        units = resolve_units(raws, context="erp")

    assert len(queries) == 2
    assert {raw: unit.code for raw, unit in units.items()} == {
        "each": "EA",
        "PCE": "EA",
        "Stück": "EA",
        "box": "XBX",
        "kg": "KGM",
        "KGM": "KGM",
        "LTR": "LTR",
        "H87": "H87",
        "XBX": "XBX",
        "MTR": "MTR",
        "pieces": "EA",
    }


@pytest.mark.django_db
def test_resolve_units_all_aliases_runs_one_query():
    with CaptureQueriesContext(connection) as queries:
        units = resolve_units(["each", "box"], context="erp")

    assert len(queries) == 1
    assert [unit.code for unit in units.values()] == ["EA", "XBX"]


@pytest.mark.django_db
def test_resolve_units_raises_first_unknown_in_input_order():
    with pytest.raises(UnknownUnit) as caught:
        resolve_units(["EA", "bucketful", "CA"], context="erp")

    assert caught.value.raw == "bucketful"


@pytest.mark.django_db
def test_match_units_keeps_errors_beside_units():
    with CaptureQueriesContext(connection) as queries:
        matches = match_units(["EA", "bucketful", "CA", "box"], context="erp")

    assert len(queries) == 2
    assert {raw: unit.code for raw, unit in matches.units.items()} == {"EA": "EA", "box": "XBX"}
    assert sorted(matches.errors) == ["CA", "bucketful"]
    assert matches.errors["CA"].suggested_code == "XCA"


@pytest.mark.django_db
def test_loaded_units_cover_both_code_lists():
    assert UnitOfMeasure.objects.filter(source=UnitOfMeasure.Source.REC20).count() == 2136
    assert UnitOfMeasure.objects.filter(source=UnitOfMeasure.Source.REC21).count() == 406
    assert UnitOfMeasure.objects.get(code="BX").status == UnitOfMeasure.Status.DELETED
    assert UnitOfMeasure.objects.get(code="OZ").status == UnitOfMeasure.Status.DEPRECATED
    assert UnitOfMeasure.objects.get(code="MNJ").status == UnitOfMeasure.Status.IN_FORCE
    assert UnitOfMeasure.objects.get(code="XSX").status == UnitOfMeasure.Status.DELETED
    assert UnitOfMeasure.objects.get(code="XBX").name == "Box"
    assert UnitOfMeasure.history.filter(code="EA", history_type="+").count() == 1


def _alias_rows():
    with (DATA_DIR / "unit_aliases.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.django_db
def test_loaded_aliases_match_data_file():
    rows = _alias_rows()

    loaded = set(UnitAlias.objects.values_list("alias", "context", "unit__code"))

    assert loaded == {(row["alias"], row["context"], row["code"]) for row in rows}


def test_alias_file_spellings_are_normalised():
    for row in _alias_rows():
        assert normalise_unit_spelling(row["alias"]) == row["alias"], row


@pytest.mark.django_db
def test_alias_file_targets_in_force_units():
    targets = {row["code"] for row in _alias_rows()}

    statuses = dict(UnitOfMeasure.objects.filter(code__in=targets).values_list("code", "status"))

    assert statuses == dict.fromkeys(targets, UnitOfMeasure.Status.IN_FORCE)


@pytest.mark.django_db
def test_any_aliases_shadow_no_code():
    any_aliases = {row["alias"] for row in _alias_rows() if row["context"] == "any"}

    shadowed = UnitOfMeasure.objects.filter(code__in=any_aliases, status=UnitOfMeasure.Status.IN_FORCE)

    assert list(shadowed.values_list("code", flat=True)) == []
