"""GET /healthz: the database and broker state for load balancers and monitoring."""

import os
import time

import pytest
from django.db.utils import OperationalError

from apps.core import views
from config.celery import app as celery_app

# A port nothing listens on, so that the broker connection is refused at once.
UNREACHABLE_BROKER_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def broker_url(settings, monkeypatch):
    """Point the Celery app at a broker URL and turn eager mode off for one test."""

    def point_at(url: str) -> None:
        settings.CELERY_TASK_ALWAYS_EAGER = False
        monkeypatch.setattr(celery_app.conf, "broker_url", url)
        monkeypatch.setattr(celery_app.conf, "broker_write_url", None)

    return point_at


class _FailingConnection:
    """A stand-in for django.db.connection whose database is down."""

    def cursor(self):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


@pytest.mark.django_db
def test_healthz_ok_with_eager_broker(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "eager"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_503_when_database_fails(client, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    monkeypatch.setattr(views, "connection", _FailingConnection())

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "down", "broker": "eager"}


@pytest.mark.django_db
def test_healthz_rejects_post(client):
    response = client.post("/healthz")

    assert response.status_code == 405


@pytest.mark.django_db
@pytest.mark.redis
def test_healthz_redis_broker_ok(client, broker_url):
    # The service rule in conftest.py has checked that this URL answers.
    broker_url(os.environ.get("REDIS_URL") or os.environ["CELERY_BROKER_URL"])

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_503_fast_for_unreachable_broker(client, broker_url):
    broker_url(UNREACHABLE_BROKER_URL)

    started = time.monotonic()
    response = client.get("/healthz")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "ok", "broker": "down"}
    assert elapsed < 5
