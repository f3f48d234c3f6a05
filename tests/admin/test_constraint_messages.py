"""Database constraints that admin forms check carry a sentence for staff instead of Django's default message."""

import pytest
from django.db import models

from apps.catalog.models import Product, StockLevel
from apps.contracts.models import Contract, ContractPrice

MODELS_EDITED_IN_ADMIN = (Contract, ContractPrice, Product, StockLevel)


def _reported_on_its_field(constraint) -> bool:
    """A unique constraint on one field with no condition, which Django reports on that field as "… already exists."."""
    return (
        isinstance(constraint, models.UniqueConstraint)
        and len(constraint.fields) == 1
        and constraint.condition is None
        and not constraint.expressions
        and constraint.violation_error_message == constraint.default_violation_error_message
    )


CONSTRAINTS = [
    (model, constraint)
    for model in MODELS_EDITED_IN_ADMIN
    for constraint in model._meta.constraints
    if not _reported_on_its_field(constraint)
]


@pytest.mark.parametrize(
    ("model", "constraint"), CONSTRAINTS, ids=[f"{model.__name__}.{c.name}" for model, c in CONSTRAINTS]
)
def test_constraint_has_own_message(model, constraint):
    # Django's default names the constraint ("Constraint “…” is violated."), which means nothing to staff.
    assert isinstance(constraint, models.CheckConstraint | models.UniqueConstraint)
    assert constraint.violation_error_message != constraint.default_violation_error_message
    assert constraint.name not in constraint.violation_error_message


def test_single_field_unique_constraint_reports_on_its_field(db):
    from django.core.exceptions import ValidationError

    from tests.factories import ProductFactory

    existing = ProductFactory(sku="SKU-TAKEN")
    duplicate = Product(sku="SKU-TAKEN", name="Copy", unit=existing.unit, list_price=1, currency="EUR")

    with pytest.raises(ValidationError) as raised:
        duplicate.validate_constraints()

    assert raised.value.message_dict == {"sku": ["Product with this SKU already exists."]}
