"""The project's URLs plus ``/bench/trivial``, a view that does no work, as the benchmark's baseline."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [*project_urlpatterns, path("bench/trivial", trivial)]
