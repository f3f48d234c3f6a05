"""The shared base of the import commands: catalog, stock, contract prices, customers and contracts."""

import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.catalog.imports.errors import CatalogImportError
from apps.catalog.imports.progress import ProgressBar
from apps.catalog.imports.service import DEFAULT_BATCH_SIZE, IMPORT_SENDERS, ImportOptions, import_file
from apps.catalog.models import ImportJob, ImportRowError

# Report lines printed after the summary; the job keeps all of them for the admin's CSV download.
PRINTED_REPORT_LINES = 50


class ImportCommand(BaseCommand):
    """Import one file of ``kind`` with a progress bar on stderr and a summary on stdout."""

    kind = ""

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSV or JSON Lines file to import.")
        parser.add_argument("--dry-run", action="store_true", help="Validate and report; change nothing.")
        parser.add_argument("--encoding", default="utf-8", help="utf-8 (default), latin-1 or cp1252.")
        parser.add_argument("--delimiter", default=None, help="',', ';' or 'tab'; detected from the header if unset.")
        parser.add_argument("--format", choices=["csv", "jsonl"], default=None, help="Detected if unset.")
        parser.add_argument("--decimal-comma", action="store_true", help="Numbers use a decimal comma, such as 12,50.")
        parser.add_argument(
            "--last-wins",
            action="store_true",
            help="Of rows with the same key, apply the last; without it later duplicates are rejected.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="Rows per transaction (default %(default)s)."
        )
        parser.add_argument(
            "--source",
            choices=[str(system) for system in IMPORT_SENDERS],
            default=None,
            help=(
                "The system the file comes from. Fields it does not own keep their stored values and open "
                "integration-conflict cases. Default: the system that owns this kind of data."
            ),
        )
        parser.add_argument("--user", default=None, help="Username recorded as the author of the changes.")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw the progress bar.")

    def extra_options(self, options) -> dict:
        return {}

    def handle(self, *args, **options):
        actor = self._actor(options["user"])
        try:
            import_options = ImportOptions.from_dict(
                {
                    "encoding": options["encoding"],
                    "delimiter": options["delimiter"],
                    "format": options["format"],
                    "decimal_comma": options["decimal_comma"],
                    "last_wins": options["last_wins"],
                    "batch_size": options["batch_size"],
                    **self.extra_options(options),
                }
            )
        except CatalogImportError as error:
            raise CommandError(error.message) from None

        bar = None if options["no_progress"] else ProgressBar(sys.stderr)
        try:
            job = import_file(
                options["path"],
                kind=self.kind,
                source=ImportJob.Source.COMMAND,
                actor=actor,
                options=import_options,
                dry_run=options["dry_run"],
                progress=bar,
                sender=options["source"],
            )
        except FileNotFoundError:
            raise CommandError(f"File {options['path']!r} does not exist.") from None
        except CatalogImportError as error:
            raise CommandError(error.message) from None
        finally:
            if bar is not None:
                bar.close()
        self._print_summary(job)

    def _actor(self, username):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"User {username!r} does not exist; give an existing username or leave --user out.")
        return user

    def _print_summary(self, job: ImportJob) -> None:
        verb = "would be" if job.dry_run else "were"
        self.stdout.write(
            f"Import job {job.pk} ({job.get_kind_display()}{', dry run' if job.dry_run else ''}): "
            f"{job.rows_read} rows read in {job.duration_seconds:.2f} s."
        )
        self.stdout.write(
            f"  created {job.created_count}, updated {job.updated_count}, unchanged {job.unchanged_count}, "
            f"skipped as stale {job.stale_count}, rejected {job.rejected_count}, flagged {job.flagged_count} "
            f"({verb} held for review)."
        )
        lines = list(ImportRowError.objects.filter(job=job).order_by("line", "id")[: PRINTED_REPORT_LINES + 1])
        for line in lines[:PRINTED_REPORT_LINES]:
            column = f" {line.column}" if line.column else ""
            self.stdout.write(f"  line {line.line}{column}: {line.message} [{line.level}]")
        if len(lines) > PRINTED_REPORT_LINES:
            self.stdout.write("  … more in the job's error report in the admin.")
