"""The client address of a request behind a known number of reverse proxies, as a key for rate limits.

An IPv6 client counts by its /64 network, because one host usually holds a
whole /64 and could otherwise rotate addresses to reset its count.
"""

import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)

# Prefix length by which IPv6 clients are counted: the usual size of one
# site's or one host's allocation.
IPV6_PREFIX_LENGTH = 64


def client_address(request: HttpRequest, *, trusted_proxy_count: int) -> str:
    """Return the key under which the request's client address counts, or "" when it is unknown.

    With ``trusted_proxy_count`` 0 the address is REMOTE_ADDR. With N > 0, N
    reverse proxies are trusted to append the address they received a
    request from to X-Forwarded-For, so the N-th address from the right is
    the client's, and entries further left are whatever the client sent. A
    missing or shorter header, or an entry that is not an IP address, falls
    back to REMOTE_ADDR.
    """
    remote_address = request.META.get("REMOTE_ADDR", "")
    if trusted_proxy_count > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= trusted_proxy_count:
            key = address_key(forwarded[-trusted_proxy_count])
            if key:
                return key
            logger.warning(
                "X-Forwarded-For entry is not an IP address; using REMOTE_ADDR",
                extra={"forwarded_entry": forwarded[-trusted_proxy_count][:60], "remote_address": remote_address},
            )
    return address_key(remote_address)


def address_key(text: str) -> str:
    """Return an IPv4 address, or an IPv6 address's /64 network, in normal form; "" for anything else."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return ""
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        network = ipaddress.IPv6Network((address, IPV6_PREFIX_LENGTH), strict=False)
        return str(network)
    return str(address)


def staff_login_address(request: HttpRequest) -> str | None:
    """Return the client address under which django-axes counts failed staff logins, or None when it is unknown.

    The address is read through TRUSTED_PROXY_COUNT like every other client
    address in the project. An IPv6 client is keyed by the first address of
    its /64 network, because django-axes stores the key in an IP address
    column that has no room for a prefix length.
    """
    key = client_address(request, trusted_proxy_count=settings.TRUSTED_PROXY_COUNT or 0)
    return key.split("/", 1)[0] or None
