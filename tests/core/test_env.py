"""The settings parsers read valid values and reject bad ones with a message naming the variable."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_decimal, env_int, env_json, env_url


def test_env_int_reads_value(monkeypatch):
    monkeypatch.setenv("TEST_SIZE", "42")

    assert env_int("TEST_SIZE", 1) == 42


def test_env_int_uses_default_when_unset(monkeypatch):
    monkeypatch.delenv("TEST_SIZE", raising=False)

    assert env_int("TEST_SIZE", 7) == 7


@pytest.mark.parametrize("raw", ["0", "-1"])
def test_env_int_rejects_below_minimum(monkeypatch, raw):
    monkeypatch.setenv("TEST_SIZE", raw)

    with pytest.raises(ImproperlyConfigured) as error:
        env_int("TEST_SIZE", 1)

    assert str(error.value) == f"TEST_SIZE='{raw}' is below 1; set a whole number of 1 or more."


def test_env_int_accepts_zero_when_allowed(monkeypatch):
    monkeypatch.setenv("TEST_COUNT", "0")

    assert env_int("TEST_COUNT", 3, minimum=0) == 0


def test_env_int_rejects_text(monkeypatch):
    monkeypatch.setenv("TEST_SIZE", "5MB")

    with pytest.raises(ImproperlyConfigured) as error:
        env_int("TEST_SIZE", 1)

    assert str(error.value) == "TEST_SIZE='5MB' is not a whole number."


def test_env_bool_rejects_unknown_word(monkeypatch):
    monkeypatch.setenv("TEST_FLAG", "maybe")

    with pytest.raises(ImproperlyConfigured) as error:
        env_bool("TEST_FLAG")

    assert str(error.value) == "TEST_FLAG='maybe' is not a boolean; use 1 or 0."


def test_env_url_strips_trailing_slash(monkeypatch):
    monkeypatch.setenv("TEST_URL", "https://b2b.example.com/shop/")

    assert env_url("TEST_URL") == "https://b2b.example.com/shop"


@pytest.mark.parametrize("raw", ["b2b.example.com", "ftp://b2b.example.com", "https://b2b.example.com/?a=1"])
def test_env_url_rejects_non_absolute_or_query(monkeypatch, raw):
    monkeypatch.setenv("TEST_URL", raw)

    with pytest.raises(ImproperlyConfigured):
        env_url("TEST_URL")


def test_env_decimal_reads_value(monkeypatch):
    monkeypatch.setenv("TEST_SHARE", "0.25")

    assert env_decimal("TEST_SHARE", "0.30") == Decimal("0.25")


def test_env_json_rejects_list(monkeypatch):
    monkeypatch.setenv("TEST_MAP", "[1]")

    with pytest.raises(ImproperlyConfigured) as error:
        env_json("TEST_MAP", {})

    assert str(error.value) == 'TEST_MAP must be a JSON object, such as {"key": "value"}.'
