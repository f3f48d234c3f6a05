"""Create-or-update of demo rows that writes nothing when a row already matches."""

from dataclasses import dataclass, field

from django.db import models

# The history reason on every row the demo seeding creates or changes.
CHANGE_REASON = "demo data (seed_demo)"


@dataclass
class SyncCounts:
    """How many rows of one model the seeding created, updated and left alone."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


@dataclass
class SyncReport:
    """Counts per model label, in the order the seeding touched them."""

    counts: dict[str, SyncCounts] = field(default_factory=dict)

    def for_model(self, model: type[models.Model]) -> SyncCounts:
        return self.counts.setdefault(model._meta.verbose_name_plural, SyncCounts())

    @property
    def changed(self) -> bool:
        return any(counts.created or counts.updated for counts in self.counts.values())


def sync_row(
    model: type[models.Model],
    *,
    lookup: dict,
    values: dict,
    report: SyncReport,
    existing: models.Model | None = None,
    known: bool = False,
) -> models.Model:
    """Create the row matching ``lookup`` with ``values``, or save only the fields that differ.

    A row whose fields already hold ``values`` is not saved, so a second run
    writes no history and keeps ``updated_at``. Pass ``known=True`` with
    ``existing`` (None or the row) when the caller fetched the rows in bulk.
    """
    counts = report.for_model(model)
    if not known:
        existing = model.objects.filter(**lookup).first()

    if existing is None:
        row = model(**lookup, **values)
        row._change_reason = CHANGE_REASON
        row.save()
        counts.created += 1
        return row

    changed = [name for name, value in values.items() if getattr(existing, name) != value]
    if not changed:
        counts.unchanged += 1
        return existing

    for name in changed:
        setattr(existing, name, values[name])
    update_fields = [existing._meta.get_field(name).name for name in changed]
    if any(f.name == "updated_at" for f in existing._meta.concrete_fields):
        update_fields.append("updated_at")
    existing._change_reason = CHANGE_REASON
    existing.save(update_fields=update_fields)
    counts.updated += 1
    return existing


def sync_rows(
    model: type[models.Model],
    *,
    key: tuple[str, ...],
    rows: list[dict],
    report: SyncReport,
) -> dict[tuple, models.Model]:
    """Apply ``sync_row`` to many rows of one model, reading the existing ones in one query.

    Each row dict holds the ``key`` fields (attribute names such as
    ``product_id``) and the values to set. Returns the rows by key.
    """
    first = key[0]
    wanted = {row[first] for row in rows}
    existing = {
        tuple(getattr(obj, name) for name in key): obj for obj in model.objects.filter(**{f"{first}__in": wanted})
    }

    result = {}
    for row in rows:
        row_key = tuple(row[name] for name in key)
        lookup = {name: row[name] for name in key}
        values = {name: value for name, value in row.items() if name not in key}
        result[row_key] = sync_row(
            model, lookup=lookup, values=values, report=report, existing=existing.get(row_key), known=True
        )
    return result
