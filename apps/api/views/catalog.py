"""Products with the caller's contract prices, single products with stock by warehouse, prices and availability."""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.response import Response

from apps.api import selectors, serializers
from apps.api.errors import NotFound
from apps.api.models import Scope
from apps.api.pagination import ApiCursorPagination
from apps.api.tenancy import customer_and_contract_for, customer_for
from apps.api.views.base import ETagMixin, InvalidFilter, PartnerView, parse_filter_datetime, validated
from apps.api.views.docs import COMMON_ERRORS, ERROR_RESPONSES
from apps.catalog.models import Category
from apps.contracts.pricing import price_lines
from apps.contracts.selectors import today_utc

CUSTOMER_PARAMETER = OpenApiParameter(
    "customer", str, description="Account number of the customer; needed when the key serves several."
)
MAX_AVAILABILITY_SKUS = 100

PRODUCT_EXAMPLE = {
    "sku": "NB-0001",
    "name": "Notebook 14 inch",
    "manufacturer": "Contoso",
    "manufacturer_part_number": "CN-14-001",
    "category": "IT-COMPUTERS",
    "unspsc": "43211503",
    "unit": "EA",
    "lead_time_days": 3,
    "configurable": False,
    "currency": "EUR",
    "list_price": "899.00",
    "price": "790.38",
    "price_source": "contract_price",
    "unpriced_reason": None,
    "available": "42",
    "updated_at": "2026-12-01T08:00:00Z",
}
WAREHOUSES_EXAMPLE = [
    {"warehouse": "FRA", "name": "Frankfurt", "on_hand": "30", "available": "28", "as_of": "2026-12-01T06:00:00Z"},
    {"warehouse": "RTM", "name": "Rotterdam", "on_hand": "14", "available": "14", "as_of": "2026-12-01T06:00:00Z"},
]


class ProductListView(ETagMixin, PartnerView):
    required_scopes = {"GET": Scope.CATALOG_READ}

    @extend_schema(
        operation_id="products_list",
        summary="List products with the customer's prices",
        description=(
            "Products the customer may buy under its contract, ordered by SKU, with the unit price for one unit, "
            "where it comes from, and the units available. Pages follow the 'next' link. Send the ETag back in "
            "If-None-Match to get 304 when nothing changed."
        ),
        parameters=[
            CUSTOMER_PARAMETER,
            OpenApiParameter("search", str, description="Part of the SKU or name, in any case."),
            OpenApiParameter("category", str, description="Category code; its subcategories are included."),
            OpenApiParameter(
                "updated_since", OpenApiTypes.DATETIME, description="Only products changed at or after this time."
            ),
            OpenApiParameter("cursor", str, description=ApiCursorPagination.cursor_query_description),
            OpenApiParameter("page_size", int, description=ApiCursorPagination.page_size_query_description),
        ],
        responses={200: serializers.ProductPageDoc, **COMMON_ERRORS},
        examples=[
            OpenApiExample(
                "A page",
                value={
                    "next": "https://b2b.example.com/api/v1/products/?cursor=cD1OQi0wMDAy",
                    "previous": None,
                    "results": [PRODUCT_EXAMPLE],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        on_date = today_utc()
        customer, contract = customer_and_contract_for(self.client, request.query_params.get("customer"), on_date)
        rows = selectors.product_page_source(
            customer=customer,
            contract=contract,
            search=request.query_params.get("search", "").strip()[:100],
            category=_category(request.query_params.get("category")),
            updated_since=parse_filter_datetime(request.query_params.get("updated_since"), "updated_since"),
            prices_on=on_date,
        )
        paginator = ApiCursorPagination(ordering="sku")
        page = paginator.paginate_queryset(rows, request, view=self)
        results = selectors.product_rows(customer=customer, contract=contract, rows=page, on_date=on_date)
        return paginator.get_paginated_response(results)


class ProductDetailView(ETagMixin, PartnerView):
    required_scopes = {"GET": Scope.CATALOG_READ}

    @extend_schema(
        operation_id="products_retrieve",
        summary="Read one product with its price and stock by warehouse",
        parameters=[CUSTOMER_PARAMETER],
        responses={200: serializers.ProductDetailDoc, **COMMON_ERRORS, 404: ERROR_RESPONSES[404]},
        examples=[
            OpenApiExample("A product", value={**PRODUCT_EXAMPLE, "warehouses": WAREHOUSES_EXAMPLE}, response_only=True)
        ],
    )
    def get(self, request, sku: str):
        on_date = today_utc()
        customer, contract = customer_and_contract_for(self.client, request.query_params.get("customer"), on_date)
        rows = list(selectors.product_queryset(customer=customer, contract=contract).filter(sku=sku))
        if not rows:
            raise NotFound(f"Product {sku!r} not found.")
        product = selectors.product_rows(customer=customer, contract=contract, rows=rows, on_date=on_date)[0]
        product["warehouses"] = selectors.stock_by_warehouse([rows[0]["id"]]).get(rows[0]["id"], [])
        return Response(product)


class PriceView(PartnerView):
    required_scopes = {"POST": Scope.CATALOG_READ}

    @extend_schema(
        operation_id="prices_create",
        summary="Price many SKUs and quantities for a customer",
        description=(
            "Each line gets the unit price at its quantity (quantity breaks apply), the line total and where the "
            "price comes from. A line that cannot be priced (unknown SKU, outside the contract's assortment, "
            "inactive) has a null price and a reason; the other lines are still priced."
        ),
        request=serializers.PriceRequestInput,
        responses={200: serializers.PriceResultDoc, **COMMON_ERRORS, 404: ERROR_RESPONSES[404]},
        examples=[
            OpenApiExample(
                "Two lines",
                value={
                    "customer": "ACME-001",
                    "lines": [{"sku": "NB-0001", "quantity": "2"}, {"sku": "PAP-0001", "quantity": 50}],
                },
                request_only=True,
            ),
            OpenApiExample(
                "Priced",
                value={
                    "customer": "ACME-001",
                    "contract": "ACME-2026",
                    "on_date": "2026-12-04",
                    "currency": "EUR",
                    "total": "1780.76",
                    "lines": [
                        {
                            "sku": "NB-0001",
                            "quantity": "2",
                            "unit_price": "790.38",
                            "line_total": "1580.76",
                            "price_source": "contract_price",
                            "reason_code": None,
                            "reason": None,
                        },
                        {
                            "sku": "PAP-0001",
                            "quantity": "50",
                            "unit_price": "4.00",
                            "line_total": "200.00",
                            "price_source": "quantity_break",
                            "reason_code": None,
                            "reason": None,
                        },
                    ],
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        data = validated(serializers.PriceRequestInput, request.data)
        customer = customer_for(self.client, data.get("customer"))
        lines = data["lines"]
        product_ids = selectors.product_ids_by_sku(line["sku"] for line in lines)
        # An unknown SKU is passed as id 0, which the engine reports as an unknown product.
        pricing = price_lines(
            customer=customer,
            lines=[(product_ids.get(line["sku"], 0), line["quantity"]) for line in lines],
            on_date=data.get("on_date") or today_utc(),
        )
        currency = pricing.currency
        priced_lines = []
        for line, priced in zip(lines, pricing.lines, strict=True):
            reason = priced.reason
            if priced.reason_code == "unknown_product":
                reason = f"SKU {line['sku']!r} not found."
            priced_lines.append(
                {
                    "sku": line["sku"],
                    "quantity": selectors.quantity_text(line["quantity"]),
                    "unit_price": selectors.money_text(priced.unit_price, currency),
                    "line_total": selectors.money_text(priced.line_total, currency),
                    "price_source": priced.source.value if priced.source else None,
                    "reason_code": priced.reason_code.value if priced.reason_code else None,
                    "reason": reason,
                }
            )
        return Response(
            {
                "customer": customer.account_number,
                "contract": pricing.contract.number if pricing.contract else None,
                "on_date": pricing.on_date,
                "currency": currency,
                "total": selectors.money_text(pricing.total, currency),
                "lines": priced_lines,
            }
        )


class AvailabilityView(ETagMixin, PartnerView):
    required_scopes = {"GET": Scope.CATALOG_READ}

    @extend_schema(
        operation_id="availability_list",
        summary="Stock by warehouse for up to 100 SKUs",
        parameters=[
            OpenApiParameter("sku", str, many=True, required=True, description="A SKU; repeat for more (at most 100)."),
            CUSTOMER_PARAMETER,
        ],
        responses={200: serializers.AvailabilityResultDoc, **COMMON_ERRORS},
        examples=[
            OpenApiExample(
                "Stock",
                value={
                    "results": [{"sku": "NB-0001", "available": "42", "warehouses": WAREHOUSES_EXAMPLE}],
                    "not_found": ["NB-9999"],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        skus = list(dict.fromkeys(sku.strip() for sku in request.query_params.getlist("sku") if sku.strip()))
        if not skus:
            raise InvalidFilter("Name at least one SKU, such as ?sku=NB-0001&sku=MON-0002.")
        if len(skus) > MAX_AVAILABILITY_SKUS:
            raise InvalidFilter(f"{len(skus)} SKUs requested; ask for at most {MAX_AVAILABILITY_SKUS} at a time.")
        customer, contract = customer_and_contract_for(self.client, request.query_params.get("customer"), today_utc())
        visible = dict(
            selectors.product_queryset(customer=customer, contract=contract)
            .filter(sku__in=skus)
            .values_list("sku", "id")
        )
        stock = selectors.stock_by_warehouse(visible.values())
        available = selectors.available_by_product(visible.values())
        results = [
            {
                "sku": sku,
                "available": selectors.quantity_text(available.get(visible[sku], Decimal(0))),
                "warehouses": stock.get(visible[sku], []),
            }
            for sku in skus
            if sku in visible
        ]
        return Response({"results": results, "not_found": [sku for sku in skus if sku not in visible]})


def _category(code: str | None) -> Category | None:
    if not code:
        return None
    category = Category.objects.filter(code=code).first()
    if category is None:
        raise InvalidFilter(f"Category {code!r} does not exist; use a category code such as the products show.")
    return category
