"""Row fingerprints against races and rare paths: a skipped row must end as parsing it would.

Each test runs a sequence with fingerprints and checks the end state and the counts that the
same sequence gives with every row parsed.
"""

import pytest

from apps.catalog.models import HeldChange
from tests.catalog.test_import_fingerprints import _import, _row, _write
from tests.factories import UnitOfMeasureFactory

pytestmark = pytest.mark.postgres


@pytest.fixture
def units(db):
    return {"EA": UnitOfMeasureFactory(code="EA", name="each")}


def test_new_zero_price_product_held_with_fingerprints(units, tmp_path):
    job = _import(_write(tmp_path / "catalog.csv", [_row("A-1", list_price="0"), _row("A-2")]))

    assert job.status == "succeeded", job.error
    assert (job.created_count, job.flagged_count) == (1, 1)
    held = HeldChange.objects.get(sku="A-1")
    assert held.reason == HeldChange.Reason.ZERO_PRICE
    assert "import_fingerprint" not in held.payload
