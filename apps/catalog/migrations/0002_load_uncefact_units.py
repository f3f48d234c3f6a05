"""Load the UN/CEFACT unit codes and our unit aliases from the files in apps/catalog/data/.

Every Rec 20 Rev 17 code becomes a unit with its status; every Rec 21 Rev 12 package code becomes a
unit coded "X" + code. Each created row also gets a "+" history row, so the audit trail starts with
the load instead of with the first edit. Rows that already exist are left as they are.
"""

import csv
from pathlib import Path

from django.db import migrations
from django.utils import timezone

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
REC20_FILE = DATA_DIR / "rec20_Rev17e-2021_annex-II-III.csv"
REC21_FILE = DATA_DIR / "rec21_Rev12e_annex-V-VI.csv"
ALIASES_FILE = DATA_DIR / "unit_aliases.csv"

REC20_REASON = "Loaded from UN/CEFACT Recommendation 20 Rev 17"
REC21_REASON = "Loaded from UN/CEFACT Recommendation 21 Rev 12"
ALIASES_REASON = "Loaded from apps/catalog/data/unit_aliases.csv"

# The lists mark a row whose details other than the name changed in that revision with a broken bar;
# such a code is in force, like a row with a blank status.
CHANGED_MARK = "\N{BROKEN BAR}"
KNOWN_STATUSES = {"", "D", "X"}


def _read_csv(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _status(row, path):
    status = row["status"].strip()
    if status == CHANGED_MARK:
        return ""
    if status not in KNOWN_STATUSES:
        raise ValueError(f"{path.name}: code {row['code']} has status {status!r}, expected blank, D, X or ¦.")
    return status


def _unit_rows():
    for row in _read_csv(REC20_FILE):
        yield (
            {
                "code": row["code"],
                "name": row["name"],
                "symbol": row["symbol"],
                "status": _status(row, REC20_FILE),
                "source": "rec20",
            },
            REC20_REASON,
        )
    for row in _read_csv(REC21_FILE):
        yield (
            {
                "code": f"X{row['code']}",
                "name": row["name"],
                "symbol": "",
                "status": _status(row, REC21_FILE),
                "source": "rec21",
            },
            REC21_REASON,
        )


def load_units(apps, schema_editor):
    UnitOfMeasure = apps.get_model("catalog", "UnitOfMeasure")
    HistoricalUnitOfMeasure = apps.get_model("catalog", "HistoricalUnitOfMeasure")
    UnitAlias = apps.get_model("catalog", "UnitAlias")
    HistoricalUnitAlias = apps.get_model("catalog", "HistoricalUnitAlias")
    now = timezone.now()

    existing_codes = set(UnitOfMeasure.objects.values_list("code", flat=True))
    new_units = [(fields, reason) for fields, reason in _unit_rows() if fields["code"] not in existing_codes]
    UnitOfMeasure.objects.bulk_create([UnitOfMeasure(**fields) for fields, _ in new_units], batch_size=500)
    unit_ids = dict(UnitOfMeasure.objects.values_list("code", "id"))
    HistoricalUnitOfMeasure.objects.bulk_create(
        [
            HistoricalUnitOfMeasure(
                id=unit_ids[fields["code"]],
                history_date=now,
                history_type="+",
                history_change_reason=reason,
                **fields,
            )
            for fields, reason in new_units
        ],
        batch_size=500,
    )

    existing_aliases = set(UnitAlias.objects.values_list("alias", "context"))
    new_aliases = []
    for row in _read_csv(ALIASES_FILE):
        if (row["alias"], row["context"]) in existing_aliases:
            continue
        if row["code"] not in unit_ids:
            raise ValueError(f"{ALIASES_FILE.name}: alias {row['alias']} points to unknown unit code {row['code']}.")
        new_aliases.append({"alias": row["alias"], "context": row["context"], "unit_id": unit_ids[row["code"]]})
    UnitAlias.objects.bulk_create([UnitAlias(**fields) for fields in new_aliases])
    alias_ids = {(alias, context): pk for alias, context, pk in UnitAlias.objects.values_list("alias", "context", "id")}
    HistoricalUnitAlias.objects.bulk_create(
        [
            HistoricalUnitAlias(
                id=alias_ids[(fields["alias"], fields["context"])],
                history_date=now,
                history_type="+",
                history_change_reason=ALIASES_REASON,
                **fields,
            )
            for fields in new_aliases
        ]
    )


def unload_units(apps, schema_editor):
    """Delete the loaded aliases and units; units that products still use stop the reversal (PROTECT)."""
    UnitOfMeasure = apps.get_model("catalog", "UnitOfMeasure")
    HistoricalUnitOfMeasure = apps.get_model("catalog", "HistoricalUnitOfMeasure")
    UnitAlias = apps.get_model("catalog", "UnitAlias")
    HistoricalUnitAlias = apps.get_model("catalog", "HistoricalUnitAlias")

    for row in _read_csv(ALIASES_FILE):
        UnitAlias.objects.filter(alias=row["alias"], context=row["context"]).delete()
    HistoricalUnitAlias.objects.filter(history_change_reason=ALIASES_REASON).delete()

    codes = [fields["code"] for fields, _ in _unit_rows()]
    UnitOfMeasure.objects.filter(code__in=codes).delete()
    HistoricalUnitOfMeasure.objects.filter(history_change_reason__in=[REC20_REASON, REC21_REASON]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(load_units, unload_units),
    ]
