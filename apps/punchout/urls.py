"""PunchOut URLs: the cXML endpoint, the OCI entry and the shop pages of a session."""

from django.urls import path

from apps.punchout import views

app_name = "punchout"

urlpatterns = [
    path("cxml/", views.cxml_endpoint, name="cxml"),
    path("session/<str:token>/", views.session_start, name="session_start"),
    path("session/<str:token>/search/", views.session_search, name="session_search"),
    path("session/<str:token>/cart/", views.session_cart, name="session_cart"),
    path("session/<str:token>/return/", views.session_return, name="session_return"),
]
