"""Top-level URL configuration: admin, health, PunchOut and the partner API."""

from django.contrib import admin
from django.urls import include, path

from apps.core.views import healthz

# A database outage returns a 503 with Retry-After. Any other uncaught error returns Django's 500 page.
handler500 = "apps.core.views.server_error"

admin.site.site_header = "Supplier back office"
admin.site.site_title = "Supplier back office"
admin.site.index_title = "Catalog to cash"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("punchout/", include("apps.punchout.urls")),
    path("api/", include("apps.api.urls")),
]
