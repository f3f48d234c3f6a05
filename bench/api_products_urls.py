"""URLs of the API products benchmark: the project's, plus the plain values() view it compares with."""

from django.db.models import F
from django.http import JsonResponse
from django.urls import path

from apps.catalog.models import Product
from bench.api_products import PAGE_SIZE
from config.urls import urlpatterns as project_urlpatterns

COLUMNS = ("sku", "name", "manufacturer", "manufacturer_part_number", "unspsc", "list_price", "currency")


def plain_products(request):
    """Return the next page of active products after ``after`` (a SKU), as plain values() rows."""
    rows = list(
        Product.objects.filter(is_active=True, sku__gt=request.GET.get("after", ""))
        .order_by("sku")
        .values(*COLUMNS, "lead_time_days", "updated_at", category_code=F("category__code"), unit_code=F("unit__code"))[
            :PAGE_SIZE
        ]
    )
    return JsonResponse({"results": rows, "next": rows[-1]["sku"] if len(rows) == PAGE_SIZE else None})


urlpatterns = [*project_urlpatterns, path("bench/plain-products/", plain_products)]
