"""Create, find and revoke partner API keys; a key is shown once and stored only as its keyed hash."""

import datetime as dt
import logging
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.api.errors import ApiError
from apps.api.models import ApiKey, Partner, Scope
from apps.core.prepared import placeholder_text, prepared
from apps.core.secrets import hash_secret

logger = logging.getLogger(__name__)

# "bo_" marks a key of this system in logs and secret scanners; 32 random
# bytes give 256 bits, so keys cannot be guessed.
KEY_MARKER = "bo_"
KEY_RANDOM_BYTES = 32
PREFIX_LENGTH = 10
# Keys longer than this are rejected before hashing: no issued key comes close.
MAX_KEY_LENGTH = 200


class InvalidKeyInput(ApiError):
    code = "invalid_api_key_input"


def api_key_create(
    *,
    partner: Partner,
    name: str,
    scopes: Iterable[str],
    expires_at: dt.datetime | None = None,
    actor=None,
    raw_key: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for the partner and return it with the plain key, which is never stored.

    ``raw_key`` is for documented demo keys only; every other key is random.
    """
    scopes = validate_scopes(scopes)
    if not (name or "").strip():
        raise InvalidKeyInput("The API key name is missing; enter what the key is for, such as 'ERP production'.")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidKeyInput(f"The expiry {expires_at.isoformat()} is in the past; choose a later time or none.")
    key = raw_key or KEY_MARKER + secrets.token_urlsafe(KEY_RANDOM_BYTES)
    api_key = ApiKey(
        partner=partner,
        name=name.strip()[:100],
        prefix=key[:PREFIX_LENGTH],
        key_hash=hash_secret(key),
        scopes=scopes,
        expires_at=expires_at,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    api_key._history_user = actor if getattr(actor, "pk", None) else None
    api_key._change_reason = "Key created"
    api_key.save()
    logger.info("API key created", extra={"api_key_id": api_key.pk, "partner_id": partner.pk})
    return api_key, key


def api_key_revoke(*, api_key: ApiKey, actor, reason: str = "") -> ApiKey:
    """Revoke the key at once; a revoked key stays revoked."""
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if api_key.revoked_at is not None:
            return api_key
        api_key.revoked_at = timezone.now()
        api_key.revoked_by = actor if getattr(actor, "pk", None) else None
        api_key._history_user = api_key.revoked_by
        api_key._change_reason = (reason or "Key revoked")[:100]
        api_key.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
    logger.info("API key revoked", extra={"api_key_id": api_key.pk, "partner_id": api_key.partner_id})
    return api_key


def find_key(raw_key: str) -> ApiKey | None:
    """Return the key whose hash matches ``raw_key``, with its partner, whatever its state; None when none does."""
    if not raw_key or len(raw_key) > MAX_KEY_LENGTH:
        return None
    # Every API request reads its key, so the SQL is compiled once per connection.
    found = prepared("api-key", _keys_by_hash, {"key_hash": _PLACEHOLDER_HASH}).run({"key_hash": hash_secret(raw_key)})
    return found[0] if found else None


def _keys_by_hash(key_hash: str) -> QuerySet[ApiKey]:
    # The hash is unique, so the query needs no order.
    return ApiKey.objects.select_related("partner").filter(key_hash=key_hash).order_by()[:1]


_PLACEHOLDER_HASH = placeholder_text("key hash")


def key_problem(api_key: ApiKey, *, now: dt.datetime | None = None) -> str | None:
    """Return why the key may not be used now (revoked, expired, partner inactive), or None when it may."""
    now = now or timezone.now()
    if api_key.revoked_at is not None:
        return "The API key was revoked; ask the supplier for a new one."
    if api_key.expires_at is not None and api_key.expires_at <= now:
        return f"The API key expired at {api_key.expires_at.isoformat()}; ask the supplier for a new one."
    if not api_key.partner.is_active:
        return "The partner of this API key is inactive; contact the supplier."
    return None


def touch_last_used(api_key: ApiKey, *, now: dt.datetime | None = None) -> None:
    """Record that the key was used, writing at most once per API_KEY_LAST_USED_INTERVAL_SECONDS."""
    now = now or timezone.now()
    interval = dt.timedelta(seconds=settings.API_KEY_LAST_USED_INTERVAL_SECONDS)
    if api_key.last_used_at is not None and now - api_key.last_used_at < interval:
        return
    # update() skips the history on purpose: last_used_at is excluded from the key's history, and the
    # condition makes concurrent requests write once per interval.
    ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gt=now - interval).update(last_used_at=now)
    api_key.last_used_at = now


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    """Return the scopes sorted without repeats; raise InvalidKeyInput for an unknown one."""
    if isinstance(scopes, str):
        scopes = scopes.split()
    chosen = sorted(set(scopes))
    unknown = [scope for scope in chosen if scope not in Scope.values]
    if unknown:
        raise InvalidKeyInput(f"Unknown scopes {', '.join(unknown)}; use some of {', '.join(Scope.values)}.")
    return chosen
