"""Authentication of buyers' systems: the cXML Sender credential and the OCI login, with rate limiting."""

import logging
from collections.abc import Iterable, Mapping

from apps.contracts.selectors import today_utc
from apps.core.secrets import hash_secret, verify_secret
from apps.punchout import throttle
from apps.punchout.cxml.documents import Credential
from apps.punchout.cxml.reader import Header
from apps.punchout.errors import (
    AuthenticationFailed,
    OCILoginFailed,
)
from apps.punchout.models import BuyerConnection
from apps.punchout.selectors import cxml_connections_for_sender

logger = logging.getLogger(__name__)

# Hash compared when no connection matches, so that an unknown sender takes
# as long to reject as a wrong secret.
_UNUSED_HASH_INPUT = "no connection matches this sender"


def authenticate_cxml_sender(*, header: Header, client_address: str) -> BuyerConnection:
    """Return the active cXML connection that the header's Sender, From and To credentials identify.

    The Sender domain is compared case-insensitively, the identity exactly
    and the shared secret in constant time against its stored hash. Then one
    of the From credentials must match the connection's From credential and
    one of the To credentials its To credential. Raises AuthenticationFailed
    with the same message whatever failed, and logs the failed part.
    Failed secrets count towards the rate limit of the connection and
    ``client_address`` (a throttle.client_address() key).
    """
    sender = header.sender
    log_extra = {
        "sender_domain": getattr(sender, "domain", ""),
        "sender_identity": getattr(sender, "identity", ""),
        "payload_id": header.payload_id,
        "client_address": client_address,
    }
    if sender is None or not sender.domain or not sender.identity:
        _reject_sender("no Sender credential", log_extra)
    # One query brings the connection, its failed logins and its contract in force.
    candidates = cxml_connections_for_sender(
        domain=sender.domain, identity=sender.identity, on_date=today_utc(), client_address=client_address
    )
    connection = candidates[0] if len(candidates) == 1 else None
    stored_hash = connection.shared_secret_hash if connection else hash_secret(_UNUSED_HASH_INPUT)
    secret_matches = verify_secret(sender.shared_secret or "", stored_hash)

    if connection is None:
        _reject_sender("no cXML connection has this Sender credential", log_extra)
    log_extra["connection_id"] = connection.pk
    throttle.check_login_allowed(connection=connection, address=client_address)
    if not connection.shared_secret_hash:
        _reject_sender("the connection has no shared secret set", log_extra)
    if not secret_matches:
        throttle.record_login_failure(connection=connection, address=client_address)
        _reject_sender("the shared secret does not match", log_extra)
    if not connection.is_active:
        _reject_sender("the connection is inactive", log_extra)
    if not connection.customer_is_active:
        _reject_sender("the connection's customer is inactive", log_extra)
    if not _any_credential_matches(header.from_credentials, connection.from_domain, connection.from_identity):
        _reject_sender("no From credential matches the connection", log_extra)
    if not _any_credential_matches(header.to_credentials, connection.to_domain, connection.to_identity):
        _reject_sender("no To credential matches the connection", log_extra)
    return connection


def authenticate_oci_login(*, username: str, password: str, client_address: str) -> BuyerConnection:
    """Return the active OCI connection with this USERNAME and PASSWORD; raises OCILoginFailed or LoginRateLimited.

    The password is compared in constant time against its keyed hash, also
    when no connection has the user name, so both failures take as long.
    Failed attempts count towards the rate limit of the connection and
    ``client_address`` (a throttle.client_address() key).
    """
    username = (username or "").strip()
    candidates = (
        list(
            BuyerConnection.objects.select_related("customer").filter(
                protocol=BuyerConnection.Protocol.OCI, oci_username=username
            )
        )
        if username and len(username) <= 100
        else []
    )
    connection = candidates[0] if len(candidates) == 1 else None
    stored_hash = connection.oci_password_hash if connection else hash_secret(_UNUSED_HASH_INPUT)
    password_matches = verify_secret(password or "", stored_hash)
    log_extra = {"oci_username": username[:100], "client_address": client_address}
    if connection is None:
        logger.warning("OCI login failed: no OCI connection has this USERNAME", extra=log_extra)
        raise OCILoginFailed()
    log_extra["connection_id"] = connection.pk
    throttle.check_login_allowed(connection=connection, address=client_address)
    if not connection.oci_password_hash or not password_matches:
        throttle.record_login_failure(connection=connection, address=client_address)
        logger.warning("OCI login failed: the PASSWORD does not match", extra=log_extra)
        raise OCILoginFailed()
    if not connection.is_active or not connection.customer.is_active:
        logger.warning("OCI login failed: the connection or its customer is inactive", extra=log_extra)
        raise OCILoginFailed()
    return connection


def _reject_sender(reason: str, log_extra: Mapping[str, object]) -> None:
    logger.warning("cXML authentication failed: %s", reason, extra=dict(log_extra))
    raise AuthenticationFailed()


def _any_credential_matches(credentials: Iterable[Credential], domain: str, identity: str) -> bool:
    if not domain or not identity:
        return False
    return any(
        (credential.domain or "").lower() == domain.lower() and credential.identity == identity
        for credential in credentials or ()
    )
