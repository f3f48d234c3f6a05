"""The ownership map: docs/ownership.md is generated from it, and it classifies every field of the models it names."""

from pathlib import Path

import pytest
from django.apps import apps

from apps.integrations.ownership import (
    BOOKKEEPING_FIELDS,
    OWNERSHIP,
    System,
    locked_note,
    owner_of,
    ownership_table_markdown,
    row_owner,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "ownership.md"
START, END = "<!-- ownership-table:start -->\n", "<!-- ownership-table:end -->"


def test_ownership_doc_matches_code_map():
    text = DOC.read_text(encoding="utf-8")
    documented = text[text.index(START) + len(START) : text.index(END)]

    expected = ownership_table_markdown()
    assert documented == expected, (
        "docs/ownership.md differs from OWNERSHIP in apps/integrations/ownership.py; "
        f"replace the table between the markers with:\n{expected}"
    )


def test_ownership_map_names_existing_models_and_fields():
    missing = []
    for entry in OWNERSHIP:
        try:
            model = apps.get_model(entry.model)
        except LookupError:
            missing.append(entry.model)
            continue
        names = {field.name for field in model._meta.get_fields()}
        missing += [f"{entry.model}.{name}" for name in entry.fields if name not in names]
    assert missing == []


@pytest.mark.parametrize("label", sorted({entry.model for entry in OWNERSHIP if entry.fields}))
def test_ownership_map_classifies_every_field(label):
    model = apps.get_model(label)
    classified = {name for entry in OWNERSHIP if entry.model == label for name in entry.fields}
    fields = [
        field.name
        for field in model._meta.get_fields()
        if (field.concrete or field.many_to_many) and not field.auto_created and field.name not in BOOKKEEPING_FIELDS
    ]

    unclassified = [name for name in fields if name not in classified]

    assert unclassified == [], (
        f"{label} has fields that OWNERSHIP in apps/integrations/ownership.py does not classify: "
        f"{', '.join(unclassified)}. Add each to the entry of the system that owns it and regenerate docs/ownership.md."
    )


def test_owners_of_fields_and_rows():
    assert owner_of("catalog.Product", "list_price") == System.ERP
    assert owner_of("catalog.Product", "is_configurable") == System.BACK_OFFICE
    assert owner_of("contracts.Customer", "credit_limit") == System.CRM
    assert owner_of("contracts.Customer", "credit_hold") == System.BACK_OFFICE
    assert owner_of("contracts.ContractPrice", "price") == System.CRM
    assert owner_of("orders.Invoice", "total") == System.ERP
    assert owner_of("quotes.Quote", "total") == System.BACK_OFFICE
    assert row_owner("contracts.Customer") == System.CRM
    assert row_owner("catalog.StockLevel") == System.ERP
    assert locked_note("contracts.Customer", "name") == "Owned by the CRM: its next update overwrites this value."
    assert locked_note("contracts.Customer", "credit_hold") == "Set by finance."
    assert locked_note("contracts.Customer", "is_active") == ""
