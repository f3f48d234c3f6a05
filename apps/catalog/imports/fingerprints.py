"""Fingerprints of catalog file rows, so that an import skips rows whose text has not changed since the last one.

A nightly full-catalog file is mostly the same rows as the night before. Parsing such a row,
resolving its unit and category and comparing it with the stored product took most of an
unchanged rerun's time, only to leave the product alone. A fingerprint is a 16-byte BLAKE2b digest
of a row's text: its values as read, with the header's column names, the reference data version
(``CatalogReferenceVersion``) and ``FORMAT_VERSION`` mixed in. The import stores it with each
product it creates, updates or finds unchanged, and the next import counts a row whose
fingerprint is stored as unchanged without parsing it.

A stored fingerprint means that the product contains what this text parses to. PostgreSQL clears
it on any other change to the product, and the reference data version changes with the unit
aliases and codes and the category codes that a row resolves through (migration
``catalog.0011``). Rows whose text differs, rows that the fast cell parser declines, and every row
of an import that cannot use fingerprints take the full path as before.
"""

import hashlib
import logging
import secrets
from collections.abc import Sequence

from django.db import connection

from apps.catalog.models import CatalogReferenceVersion, Product

logger = logging.getLogger(__name__)

# The PostgreSQL trigger that clears a product's fingerprint on an update that does not set it (migration 0011).
FORGET_TRIGGER = "catalog_product_forget_import_fingerprint"
# Raise it when a change to the parsing or resolving of catalog rows could read the same text differently.
FORMAT_VERSION = 1
DIGEST_BYTES = 16
# Joins a row's values for the digest. NUL cannot be in a value: the encoding check rejects a file with one.
_SEPARATOR = "\x00"


class RowFingerprints:
    """The fingerprints of one import: the digest of each row's text and the set of stored ones.

    ``start`` reads the reference data version and then the stored fingerprints, before the
    import resolves any reference, so that a change committed in between only makes rows
    parse again.
    """

    def __init__(self) -> None:
        self.known: frozenset[bytes] = frozenset()
        # True once ``start`` has set up the digests: rows then carry fingerprints to store.
        self.active = False
        self._declined = False
        self._base = None

    def decline(self) -> None:
        """Run the import without fingerprints: ``start`` will return False."""
        self._declined = True

    def start(self, names: Sequence[str]) -> bool:
        """Set up the digests of rows under this header; return False when the import declined fingerprints."""
        if self._declined:
            return False
        number = _reference_version()
        base = hashlib.blake2b(digest_size=DIGEST_BYTES)
        base.update(_SEPARATOR.join([f"catalog-row-v{FORMAT_VERSION}", str(number), *names, ""]).encode())
        self._base = base
        self.known = frozenset(_stored_fingerprints())
        self.active = True
        return True

    def of(self, cells: Sequence[str]) -> bytes:
        """Return the fingerprint of a row's values, in the order of the header given to ``start``."""
        digest = self._base.copy()
        digest.update(_SEPARATOR.join(cells).encode())
        return digest.digest()


def _reference_version() -> int:
    """Return the reference data version, creating its row with a random number when it is missing.

    The changes counted while the row was missing are lost, so no stored fingerprint may match
    again: a random number of 62 bits matches none of the numbers that they were made with.
    """
    number = CatalogReferenceVersion.objects.filter(pk=1).values_list("number", flat=True).first()
    if number is not None:
        return number
    fresh = secrets.randbits(62)
    CatalogReferenceVersion.objects.bulk_create([CatalogReferenceVersion(pk=1, number=fresh)], ignore_conflicts=True)
    logger.warning(
        "The catalog reference data version row was missing and has been created again with a random "
        "number, so this import parses every catalog row and stores new fingerprints.",
        extra={"reference_version": fresh},
    )
    # Another import may have created it first.
    return CatalogReferenceVersion.objects.get(pk=1).number


def _stored_fingerprints() -> list[bytes]:
    table = connection.ops.quote_name(Product._meta.db_table)
    with connection.cursor() as cursor:
        # A plain query: the ORM would wrap each of 100,000 values in a memoryview.
        cursor.execute(f"SELECT import_fingerprint FROM {table} WHERE import_fingerprint IS NOT NULL")  # noqa: S608
        return [bytes(value) for (value,) in cursor.fetchall()]
