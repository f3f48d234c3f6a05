"""Database constraints that admin forms check carry a sentence for staff instead of Django's default message."""

import pytest
from django.db import models

from apps.catalog.models import Product, StockLevel
from apps.contracts.models import Contract, ContractPrice

MODELS_EDITED_IN_ADMIN = (Contract, ContractPrice, Product, StockLevel)
CONSTRAINTS = [(model, constraint) for model in MODELS_EDITED_IN_ADMIN for constraint in model._meta.constraints]


@pytest.mark.parametrize(
    ("model", "constraint"), CONSTRAINTS, ids=[f"{model.__name__}.{c.name}" for model, c in CONSTRAINTS]
)
def test_constraint_has_own_message(model, constraint):
    # Django's default names the constraint ("Constraint “…” is violated."), which means nothing to staff.
    assert isinstance(constraint, models.CheckConstraint | models.UniqueConstraint)
    assert constraint.violation_error_message != constraint.default_violation_error_message
    assert constraint.name not in constraint.violation_error_message
