"""PunchOut URLs: the cXML endpoint, the OCI entry and the shop pages of a session."""

app_name = "punchout"

urlpatterns: list = []
