"""A plain-text progress bar for import commands, drawn on one terminal line of stderr."""

import time
from typing import TextIO

from apps.catalog.models import ImportJob

_WIDTH = 30


class ProgressBar:
    """Redraws ``[#####.....]  45%  45,000 rows  1.2 s`` after each committed batch."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.drawn = False

    def __call__(self, job: ImportJob) -> None:
        percent = job.progress_percent
        filled = 0 if percent is None else percent * _WIDTH // 100
        bar = "#" * filled + "." * (_WIDTH - filled)
        shown = "   ?" if percent is None else f"{percent:3d}%"
        elapsed = time.monotonic() - self.started
        self.stream.write(f"\r[{bar}] {shown}  {job.rows_read:,} rows  {elapsed:.1f} s")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
