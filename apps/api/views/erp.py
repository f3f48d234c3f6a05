"""ERP pushes of catalog and stock rows, through the same import service as the nightly files."""

from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from apps.api import serializers
from apps.api.errors import TooManyRows
from apps.api.models import Scope
from apps.api.views.base import PartnerView, validated
from apps.api.views.docs import COMMON_ERRORS, ERROR_RESPONSES
from apps.catalog.imports.service import import_rows
from apps.catalog.models import ImportJob, ImportKind
from apps.integrations.ownership import System

# Row errors returned in one response; the import job keeps all of them for staff.
MAX_REPORTED_ERRORS = 1000

PUSH_RESULT_EXAMPLE = {
    "job": 812,
    "status": "succeeded",
    "dry_run": False,
    "rows": 3,
    "created": 1,
    "updated": 1,
    "unchanged": 0,
    "stale": 1,
    "rejected": 0,
    "flagged": 0,
    "errors": [],
}


class _PushView(PartnerView):
    required_scopes = {"POST": Scope.ERP_WRITE}
    kind: str = ""

    def check_permissions(self, request):
        super().check_permissions(request)
        # Products, list prices and stock are shared by every customer, so a key limited to some
        # customers would change what the others see.
        if not self.client.partner.all_customers:
            raise exceptions.PermissionDenied(
                "Catalog and stock rows apply to every customer, but this key's partner serves only some "
                "customers; push them with the ERP's key, whose partner serves every customer."
            )

    def post(self, request):
        data = validated(serializers.PushInput, request.data)
        rows = data["rows"]
        if len(rows) > settings.API_PUSH_MAX_ROWS:
            raise TooManyRows(f"{len(rows)} rows sent; send at most {settings.API_PUSH_MAX_ROWS} per request.")
        job = import_rows(
            self.kind,
            [row_text(row) for row in rows],
            source=ImportJob.Source.API,
            sender=System.ERP,
            options=None,
            dry_run=data["dry_run"],
        )
        return Response(job_result(job))


class CatalogPushView(_PushView):
    kind = ImportKind.CATALOG

    @extend_schema(
        operation_id="catalog_updates_create",
        summary="Push product and list-price rows from the ERP",
        description=(
            "Rows have the columns of the catalog CSV file. Each row is checked on its own: a bad row is reported "
            "in 'errors' with its position and the others are applied. A row whose updated_at is older than the "
            "stored product's changes nothing and counts as stale. Price jumps are held for staff (flagged)."
        ),
        request=serializers.CatalogPushInput,
        responses={200: serializers.PushResultDoc, **COMMON_ERRORS, 413: ERROR_RESPONSES[413]},
        examples=[
            OpenApiExample(
                "Rows",
                value={
                    "rows": [
                        {
                            "sku": "NB-0001",
                            "name": "Notebook 14 inch",
                            "category_code": "IT-COMPUTERS",
                            "uom": "EA",
                            "list_price": "899.00",
                            "currency": "EUR",
                            "updated_at": "2026-12-04T09:00:00Z",
                        }
                    ]
                },
                request_only=True,
            ),
            OpenApiExample("Result", value=PUSH_RESULT_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request):
        return super().post(request)


class StockPushView(_PushView):
    kind = ImportKind.STOCK

    @extend_schema(
        operation_id="stock_updates_create",
        summary="Push stock rows from the ERP",
        description=(
            "Rows have sku, warehouse, on_hand and as_of. A row whose as_of is older than the stored count "
            "changes nothing and counts as stale."
        ),
        request=serializers.StockPushInput,
        responses={200: serializers.PushResultDoc, **COMMON_ERRORS, 413: ERROR_RESPONSES[413]},
        examples=[
            OpenApiExample(
                "Rows",
                value={
                    "rows": [{"sku": "NB-0001", "warehouse": "FRA", "on_hand": "30", "as_of": "2026-12-04T06:00:00Z"}]
                },
                request_only=True,
            ),
            OpenApiExample("Result", value=PUSH_RESULT_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request):
        return super().post(request)


def row_text(row: dict) -> dict:
    """Write Decimal values as text, which the import service reads like the cells of a file."""
    return {key: (f"{value:f}" if isinstance(value, Decimal) else value) for key, value in row.items()}


def job_result(job: ImportJob) -> dict:
    errors = job.row_errors.order_by("line", "id").values("line", "column", "value", "message", "level")
    return {
        "job": job.pk,
        "status": job.status,
        "dry_run": job.dry_run,
        "rows": job.rows_read,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "stale": job.stale_count,
        "rejected": job.rejected_count,
        "flagged": job.flagged_count,
        "errors": list(errors[:MAX_REPORTED_ERRORS]),
    }
