"""The reference of one quote line that travels through other systems: ``QUOTE:<quote reference>:<line position>``.

The quote reference is the number with its version, such as
``QUOTE:QT-261204-9F3A61C2-V2:3`` for line 3 of version 2. A PunchOut cart
sends it as SupplierPartAuxiliaryID, and the buyer's purchase order echoes it,
so order intake can find the quote line whose price the order must honour.
"""

import re

PREFIX = "QUOTE:"
# A reference names a version ("-V<n>") so that a revision cannot change the line a cart was loaded from.
_PATTERN = re.compile(r"^QUOTE:(?P<reference>[A-Za-z0-9._-]{1,40}-V\d{1,5}):(?P<position>\d{1,9})$")


def quote_line_reference(reference: str, position: int) -> str:
    """Return the reference of line ``position`` of the quote version ``reference``."""
    return f"{PREFIX}{reference}:{position}"


def parse_quote_line_reference(text: str) -> tuple[str, int] | None:
    """Return (quote reference, line position) of a quote line reference, or None for any other text."""
    match = _PATTERN.match((text or "").strip())
    if match is None:
        return None
    return match.group("reference"), int(match.group("position"))
