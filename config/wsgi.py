"""WSGI entry point for gunicorn and other WSGI servers."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()


def freeze_startup_objects() -> None:
    """Load the URL configuration, then move every object alive so far out of the garbage collector's reach.

    Django, the apps and their modules live as long as the process, yet each
    full collection walks them again. Frozen, they cost nothing: on a
    10,000-line pricing call, collections took about 60 ms of 200 ms before
    (bench/pricing.py, docs/benchmarks.md). A server that forks its workers
    after loading this module also shares these pages with them longer.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module before freezing
    gc.freeze()


freeze_startup_objects()
