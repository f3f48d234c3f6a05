import pytest
from django.test import RequestFactory

from apps.punchout.throttle import client_address


@pytest.mark.parametrize(
    ("proxy_count", "forwarded_for", "expected"),
    [
        (0, None, "192.0.2.1"),
        (0, "203.0.113.5", "192.0.2.1"),
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "198.51.100.7, 203.0.113.5", "203.0.113.5"),
        (2, "198.51.100.7, 203.0.113.5", "198.51.100.7"),
        (2, "spoofed, 198.51.100.7 ,203.0.113.5", "198.51.100.7"),
        (3, "198.51.100.7, 203.0.113.5", "192.0.2.1"),
        (1, None, "192.0.2.1"),
        (1, "", "192.0.2.1"),
        (1, "not-an-address", "192.0.2.1"),
        (1, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        (1, "::ffff:203.0.113.5", "203.0.113.5"),
    ],
)
def test_client_address_reads_configured_proxy_hop(settings, proxy_count, forwarded_for, expected):
    settings.PUNCHOUT_TRUSTED_PROXY_COUNT = proxy_count
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    request = RequestFactory().post("/punchout/cxml/", REMOTE_ADDR="192.0.2.1", **headers)

    assert client_address(request) == expected


def test_client_address_groups_ipv6_by_64_network(settings):
    settings.PUNCHOUT_TRUSTED_PROXY_COUNT = 0
    first = RequestFactory().post("/punchout/cxml/", REMOTE_ADDR="2001:db8:aa:bb::1")
    second = RequestFactory().post("/punchout/cxml/", REMOTE_ADDR="2001:db8:aa:bb:ffff::2")
    other = RequestFactory().post("/punchout/cxml/", REMOTE_ADDR="2001:db8:aa:cc::1")

    assert client_address(first) == "2001:db8:aa:bb::/64"
    assert client_address(second) == "2001:db8:aa:bb::/64"
    assert client_address(other) == "2001:db8:aa:cc::/64"


def test_client_address_is_empty_without_usable_remote_addr(settings):
    settings.PUNCHOUT_TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().post("/punchout/cxml/", REMOTE_ADDR="unix-socket")

    assert client_address(request) == ""
