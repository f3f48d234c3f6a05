"""PunchOut URLs: the cXML endpoint, the OCI entry and the shop pages of a session."""

from django.urls import path, re_path

from apps.punchout.views import cxml, oci, shop

app_name = "punchout"

urlpatterns = [
    path("cxml/", cxml.cxml_endpoint, name="cxml"),
    # Any other path under cxml (or cxml without the slash) still answers a
    # cXML Status, never an HTML 404 page or a redirect a POST cannot follow.
    re_path(r"^cxml(?P<subpath>/.*)?$", cxml.cxml_endpoint, name="cxml_other"),
    path("oci/", oci.oci_entry, name="oci"),
    # Without the slash too: a redirect would drop a POST login and repeat a GET login's password.
    path("oci", oci.oci_entry, name="oci_no_slash"),
    path("session/<str:token>/", shop.session_start, name="session_start"),
    path("session/<str:token>/search/", shop.session_search, name="session_search"),
    path("session/<str:token>/product/<path:sku>/", shop.session_product, name="session_product"),
    path("session/<str:token>/cart/", shop.session_cart, name="session_cart"),
    path("session/<str:token>/quotes/", shop.session_quotes, name="session_quotes"),
    path("session/<str:token>/return/", shop.session_return, name="session_return"),
]
