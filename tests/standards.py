"""Where the tests find the cXML samples and unit code lists that the project's standards folder holds.

The folder sits beside the checkout (``../shared/standards``), as on the
developers' machines and in CI; STANDARDS_DIR points elsewhere.
"""

import os
from pathlib import Path

from django.conf import settings

STANDARDS_DIR = Path(os.environ.get("STANDARDS_DIR") or Path(settings.BASE_DIR).parent / "shared" / "standards")
SAMPLES = STANDARDS_DIR / "samples"
