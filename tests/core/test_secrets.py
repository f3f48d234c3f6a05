import pytest
from django.test import override_settings

from apps.core.secrets import hash_secret, verify_secret


def test_hash_secret_is_tagged_hmac_sha256_hex():
    # given a key
    with override_settings(CREDENTIAL_HASH_KEY="key-one"):
        # when a value is hashed
        stored = hash_secret("demo-shared-secret")

    # then the result names the algorithm and contains a 64-digit hex digest, not the value
    algorithm, digest = stored.split("$")
    assert algorithm == "hmac-sha256"
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert "demo-shared-secret" not in stored


def test_hash_secret_depends_on_the_key():
    with override_settings(CREDENTIAL_HASH_KEY="key-one"):
        first = hash_secret("value")
    with override_settings(CREDENTIAL_HASH_KEY="key-two"):
        second = hash_secret("value")

    assert first != second


def test_verify_secret_accepts_the_hashed_value():
    stored = hash_secret("demo-shared-secret")

    assert verify_secret("demo-shared-secret", stored) is True


@pytest.mark.parametrize("candidate", ["demo-shared-secreT", "demo-shared-secret ", "", "x"])
def test_verify_secret_rejects_other_values(candidate):
    stored = hash_secret("demo-shared-secret")

    assert verify_secret(candidate, stored) is False


@pytest.mark.parametrize("stored", ["", "sha256$abc", "no-separator", "hmac-sha256$", "hmac-sha256$é"])
def test_verify_secret_rejects_empty_or_foreign_hashes(stored):
    assert verify_secret("demo-shared-secret", stored) is False


def test_verify_secret_fails_after_key_rotation():
    with override_settings(CREDENTIAL_HASH_KEY="old-key"):
        stored = hash_secret("value")

    with override_settings(CREDENTIAL_HASH_KEY="new-key"):
        assert verify_secret("value", stored) is False


def test_hash_secret_rejects_empty_value():
    with pytest.raises(ValueError, match="non-empty"):
        hash_secret("")
