"""Catalog changes that wait for a person: detection, holding with an exception case, applying and rejecting.

A held change opens (or joins) a catalog-anomaly case. Resolving the case with "apply" writes the
newest pending change of the case; "reject" drops its pending changes. The resolution actions are
registered in ``CatalogConfig.ready``.
"""

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.catalog.imports.errors import HeldChangeNotApplicable
from apps.catalog.imports.kinds import CATALOG
from apps.catalog.imports.writers import write_orm
from apps.catalog.models import HeldChange, ImportJob, Product
from apps.exceptions.errors import ResolutionFailed
from apps.exceptions.models import CaseKind
from apps.exceptions.registry import register_resolution, resolutions_for
from apps.exceptions.services import case_open

logger = logging.getLogger(__name__)

DEFAULT_PRICE_CHANGE_THRESHOLD = Decimal("0.30")
# Above this share of the active catalog missing from a full-catalog file, the file is taken as cut
# short: one case reports it and no product is proposed for deactivation.
DEFAULT_MISSING_SHARE_LIMIT = Decimal("0.10")


def price_change_threshold() -> Decimal:
    """Return the share of the current list price (0.30 is 30%) above which a move is held, read from settings."""
    return Decimal(str(getattr(settings, "CATALOG_PRICE_CHANGE_THRESHOLD", DEFAULT_PRICE_CHANGE_THRESHOLD)))


def missing_share_limit() -> Decimal:
    return Decimal(str(getattr(settings, "CATALOG_MISSING_SHARE_LIMIT", DEFAULT_MISSING_SHARE_LIMIT)))


def products_with_open_orders(product_ids: set[int]) -> set[int]:
    """Return the ids among ``product_ids`` of products on open orders, whose unit must not change unreviewed."""
    # NOTE: there is no order model yet, so no product has open orders; the orders app replaces this lookup.
    return set()


# The staged catalog rows (``st``, with the stored product ``p``) that ``detect_anomaly`` may hold,
# when they are new or changed and not stale: a zero price, a move of the list price beyond the
# threshold, or a change of unit. The import decides on only these rows in Python.
CANDIDATES_SQL = """
    st.list_price = 0 AND (p.id IS NULL OR p.list_price <> 0)
    OR p.id IS NOT NULL AND (
        p.list_price > 0 AND abs(st.list_price - p.list_price) > p.list_price * %(threshold)s
        OR st.unit_id <> p.unit_id
    )
"""


def detect_anomaly(
    record: dict[str, Any], stored: dict[str, Any] | None, *, threshold: Decimal, open_order_ids: set[int]
) -> str | None:
    """Return the HeldChange reason that ``record`` (complete new values) raises against ``stored``, or None."""
    new_price = record["list_price"]
    if new_price == 0 and (stored is None or stored["list_price"] != 0):
        return HeldChange.Reason.ZERO_PRICE
    if stored is None:
        return None
    old_price = stored["list_price"]
    if old_price > 0 and abs(new_price - old_price) > old_price * threshold:
        return HeldChange.Reason.PRICE_JUMP
    if record["unit_id"] != stored["unit_id"] and stored["pk"] in open_order_ids:
        return HeldChange.Reason.UNIT_CHANGE_WITH_OPEN_ORDERS
    return None


def hold_change(
    *,
    job: ImportJob,
    reason: str,
    sku: str,
    line: int | None,
    payload: dict[str, Any],
    stored: dict[str, Any] | None,
    actor,
) -> HeldChange:
    """Store a held change, supersede older pending ones of the same product and reason, and open its case."""
    product_id = stored["pk"] if stored else None
    HeldChange.objects.filter(sku=sku, reason=reason, status=HeldChange.Status.PENDING).update(
        status=HeldChange.Status.SUPERSEDED
    )
    held = HeldChange.objects.create(
        job=job,
        product_id=product_id,
        sku=sku,
        line=line,
        reason=reason,
        payload=_jsonable(payload),
        current=_jsonable(stored or {}),
    )
    product = Product.objects.get(pk=product_id) if product_id else None
    label = HeldChange.Reason(reason).label
    case = case_open(
        kind=CaseKind.CATALOG_ANOMALY,
        concerning=product,
        facts={
            "held_change": held.pk,
            "import_job": job.pk,
            "reason": reason,
            "line": line,
            "new": held.payload,
            "current": held.current,
        },
        summary=f"{sku}: {label} (import job {job.pk})",
        cause_key=f"catalog-anomaly:{reason}" if product else f"catalog-anomaly:{reason}:{sku}",
        reference=f"import job {job.pk}",
        sku=sku,
        actor=actor,
    )
    held.case = case
    held.save(update_fields=["case"])
    return held


def describe_held_change(held: HeldChange) -> str:
    """Return one sentence saying what applying the held change does."""
    if held.reason == HeldChange.Reason.MISSING_FROM_FULL_CATALOG:
        return f"Deactivates {held.sku}, which import job {held.job_id} did not list."
    current_price = held.current.get("list_price")
    new_price = held.payload.get("list_price")
    if held.product_id is None:
        return f"Creates {held.sku} with list price {new_price} {held.payload.get('currency', '')}."
    return (
        f"Updates {held.sku} from import job {held.job_id}, line {held.line}: "
        f"list price {current_price} → {new_price} {held.payload.get('currency', '')}."
    )


def held_change_apply(*, held: HeldChange, actor) -> HeldChange:
    """Write a pending held change, unless a newer change of the product was imported since it was held."""
    with transaction.atomic():
        held = HeldChange.objects.select_for_update().get(pk=held.pk)
        _check_pending(held)
        now = timezone.now()
        reason = f"held change {held.pk} of import job {held.job_id} applied"
        actor_id = getattr(actor, "pk", None)

        product = Product.objects.select_for_update().filter(sku=held.sku).first()
        if held.reason == HeldChange.Reason.MISSING_FROM_FULL_CATALOG:
            if product is not None and product.is_active:
                values = {name: getattr(product, name) for name in _stored_fields()}
                values["is_active"] = False
                write_orm(CATALOG, [], [(product.pk, values)], now=now, actor_id=actor_id, reason=reason)
        else:
            values = _values_from_payload(held.payload)
            stamp = values["source_updated_at"]
            if product is not None and product.source_updated_at and product.source_updated_at > stamp:
                raise HeldChangeNotApplicable(
                    f"{held.sku} was updated by a newer import ({product.source_updated_at.isoformat()}) after this "
                    f"change ({stamp.isoformat()}) was held; reject the held change instead."
                )
            if product is None:
                write_orm(CATALOG, [values], [], now=now, actor_id=actor_id, reason=reason)
            else:
                write_orm(CATALOG, [], [(product.pk, values)], now=now, actor_id=actor_id, reason=reason)

        return _decide(held, HeldChange.Status.APPLIED, actor, now)


def held_change_reject(*, held: HeldChange, actor) -> HeldChange:
    """Drop a pending held change; the catalog keeps its stored values."""
    with transaction.atomic():
        held = HeldChange.objects.select_for_update().get(pk=held.pk)
        _check_pending(held)
        return _decide(held, HeldChange.Status.REJECTED, actor, timezone.now())


def pending_change_of_case(case) -> HeldChange | None:
    return HeldChange.objects.filter(case=case, status=HeldChange.Status.PENDING).order_by("-pk").first()


def register_resolutions() -> None:
    """Register the "apply" and "reject" actions of catalog-anomaly cases."""
    registered = {action.name for action in resolutions_for(CaseKind.CATALOG_ANOMALY)}
    if "apply" not in registered:
        register_resolution(
            CaseKind.CATALOG_ANOMALY,
            "apply",
            "Apply the held change",
            describe=_describe_apply,
            perform=_perform_apply,
        )
    if "reject" not in registered:
        register_resolution(
            CaseKind.CATALOG_ANOMALY,
            "reject",
            "Reject the held change",
            describe=_describe_reject,
            perform=_perform_reject,
        )


def _describe_apply(case) -> str:
    held = pending_change_of_case(case)
    if held is None:
        return "No held change of this case is pending; nothing would change."
    return describe_held_change(held)


def _describe_reject(case) -> str:
    held = pending_change_of_case(case)
    if held is None:
        return "No held change of this case is pending; nothing would change."
    return f"Drops the held change of {held.sku}; the catalog keeps its current values."


def _perform_apply(case, actor, note) -> None:
    held = pending_change_of_case(case)
    if held is None:
        raise ResolutionFailed("No held change of this case is pending; dismiss the case instead.")
    try:
        held_change_apply(held=held, actor=actor)
    except HeldChangeNotApplicable as error:
        raise ResolutionFailed(error.message) from None


def _perform_reject(case, actor, note) -> None:
    pending = list(HeldChange.objects.filter(case=case, status=HeldChange.Status.PENDING))
    if not pending:
        raise ResolutionFailed("No held change of this case is pending; dismiss the case instead.")
    for held in pending:
        held_change_reject(held=held, actor=actor)


def _check_pending(held: HeldChange) -> None:
    if held.status != HeldChange.Status.PENDING:
        raise HeldChangeNotApplicable(
            f"Held change {held.pk} of {held.sku} is {held.get_status_display()}, not pending; nothing was changed."
        )


def _decide(held: HeldChange, status: str, actor, now: dt.datetime) -> HeldChange:
    held.status = status
    held.decided_by = actor if getattr(actor, "pk", None) else None
    held.decided_at = now
    held.save(update_fields=["status", "decided_by", "decided_at"])
    logger.info("Held catalog change decided", extra={"held_change_id": held.pk, "status": status, "sku": held.sku})
    return held


def _stored_fields() -> list[str]:
    return ["sku", *CATALOG.compared_fields, "source_updated_at"]


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    result = {}
    for name, value in values.items():
        if isinstance(value, Decimal):
            result[name] = str(value)
        elif isinstance(value, dt.datetime | dt.date):
            result[name] = value.isoformat()
        else:
            result[name] = value
    return result


def _values_from_payload(payload: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for name in _stored_fields():
        field = Product._meta.get_field(name[:-3] if name.endswith("_id") else name)
        raw = payload[name]
        values[name] = raw if name.endswith("_id") else field.to_python(raw)
    return values
