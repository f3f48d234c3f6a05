"""CRM pushes of customers and contracts, through the same import service as the nightly files.

The endpoint tells who sends: rows arriving here come from the CRM, which owns customers, contracts
and contract prices (``apps.integrations.ownership``). A key whose partner is limited to some
customers may change only those customers and their contracts; a row about any other customer is
rejected on its own with the same message as a customer that does not exist.
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.response import Response

from apps.api import serializers
from apps.api.errors import TooManyRows
from apps.api.models import Scope
from apps.api.tenancy import partner_customers
from apps.api.views.base import PartnerView, validated
from apps.api.views.docs import COMMON_ERRORS, ERROR_RESPONSES
from apps.api.views.erp import PUSH_RESULT_EXAMPLE, job_result, row_text
from apps.catalog.imports.service import import_rows
from apps.catalog.models import ImportJob, ImportKind
from apps.integrations.ownership import System


class _CrmPushView(PartnerView):
    required_scopes = {"POST": Scope.CRM_WRITE}

    def customer_scope(self) -> frozenset[int] | None:
        """Return the ids of the customers this key may change, or None when its partner serves every customer."""
        if self.client.partner.all_customers:
            return None
        return frozenset(partner_customers(self.client.partner).values_list("pk", flat=True))

    def run_import(self, kind: str, rows: list[dict], *, dry_run: bool) -> ImportJob:
        return import_rows(
            kind,
            [row_text(row) for row in rows],
            source=ImportJob.Source.API,
            sender=System.CRM,
            customer_scope=self.customer_scope(),
            dry_run=dry_run,
        )


def _check_row_count(count: int) -> None:
    if count > settings.API_PUSH_MAX_ROWS:
        raise TooManyRows(f"{count} rows sent; send at most {settings.API_PUSH_MAX_ROWS} per request.")


class CustomerPushView(_CrmPushView):
    @extend_schema(
        operation_id="customers_updates_create",
        summary="Push customers from the CRM",
        description=(
            "Each row is one customer, identified by its account number. A row whose updated_at is older than the "
            "stored customer's changes nothing and counts as stale, and a row equal to the stored one counts as "
            "unchanged, so replaying a message changes nothing. A bad row is reported in 'errors' with its position, "
            "column and reason, and the other rows still apply. A key limited to some customers cannot change or "
            "create any other customer: such a row is rejected."
        ),
        request=serializers.CustomerPushInput,
        responses={200: serializers.PushResultDoc, **COMMON_ERRORS, 413: ERROR_RESPONSES[413]},
        examples=[
            OpenApiExample(
                "Rows",
                value={
                    "rows": [
                        {
                            "account": "ACME-001",
                            "name": "Acme Manufacturing",
                            "currency": "EUR",
                            "payment_terms": "NET30",
                            "credit_limit": "250000.00",
                            "region": "EU-WEST",
                            "tax_exempt": False,
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
        data = validated(serializers.PushInput, request.data)
        _check_row_count(len(data["rows"]))
        job = self.run_import(ImportKind.CUSTOMERS, data["rows"], dry_run=data["dry_run"])
        return Response(job_result(job))


class ContractPushView(_CrmPushView):
    @extend_schema(
        operation_id="contracts_updates_create",
        summary="Push contracts and contract prices from the CRM",
        description=(
            "'contracts' holds contract headers, identified by contract number; 'prices' holds rows with the "
            "columns of the contract-price CSV file. Headers are applied first, so prices may refer to a contract "
            "created by the same message (except in a dry run, which creates nothing). Each list is one import "
            "job with its own counts. Stale, unchanged and bad rows are handled as for customers. A change takes "
            "effect at once: prices, PunchOut sessions and the API use it on their next request, and open quotes "
            "whose locked prices now differ are flagged as out of date."
        ),
        request=serializers.ContractPushInputDoc,
        responses={200: serializers.ContractPushResultDoc, **COMMON_ERRORS, 413: ERROR_RESPONSES[413]},
        examples=[
            OpenApiExample(
                "Contract and prices",
                value={
                    "contracts": [
                        {
                            "contract": "C-ACME-2026",
                            "customer": "ACME-001",
                            "name": "Framework agreement 2026",
                            "currency": "EUR",
                            "valid_from": "2026-01-01",
                            "valid_to": "2026-12-31",
                            "status": "active",
                            "updated_at": "2026-12-04T09:00:00Z",
                        }
                    ],
                    "prices": [
                        {
                            "contract": "C-ACME-2026",
                            "sku": "NB-0001",
                            "min_quantity": "1",
                            "price": "849.00",
                            "updated_at": "2026-12-04T09:00:00Z",
                        }
                    ],
                },
                request_only=True,
            ),
            OpenApiExample(
                "Result",
                value={"contracts": PUSH_RESULT_EXAMPLE, "prices": PUSH_RESULT_EXAMPLE},
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        data = validated(serializers.ContractPushInput, request.data)
        _check_row_count(len(data["contracts"]) + len(data["prices"]))
        result = {"contracts": None, "prices": None}
        if data["contracts"]:
            job = self.run_import(ImportKind.CONTRACTS, data["contracts"], dry_run=data["dry_run"])
            result["contracts"] = job_result(job)
        if data["prices"]:
            job = self.run_import(ImportKind.CONTRACT_PRICES, data["prices"], dry_run=data["dry_run"])
            result["prices"] = job_result(job)
        return Response(result)
