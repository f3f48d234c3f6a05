"""Staff login protection: lockout per user name and client address, session expiry and the admin's second factor."""

import io
import time

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core import middleware
from apps.core.clients import staff_login_address
from tests.factories import UserFactory
from tests.security.conftest import STAFF_PASSWORD

LOGIN_URL = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(db):
    return UserFactory(username="clerk")


@pytest.fixture
def lockout_settings(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 1
    return settings


def _login(client, username, password, *, forwarded_for="198.51.100.7", **extra):
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password},
        HTTP_X_FORWARDED_FOR=forwarded_for,
        REMOTE_ADDR="10.0.0.1",
        **extra,
    )


def test_lockout_after_failures_rejects_right_password(client, staff, lockout_settings):
    # Given three wrong passwords from one address, the third of which locks the pair out
    assert _login(client, "clerk", "wrong").status_code == 200
    assert _login(client, "clerk", "wrong").status_code == 200
    assert _login(client, "clerk", "wrong").status_code == 429

    # When the right password comes from the same address
    response = _login(client, "clerk", STAFF_PASSWORD)

    # Then the login is rejected with 429 and no session is opened
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    attempt = AccessAttempt.objects.get()
    assert attempt.username == "clerk"
    assert attempt.ip_address == "198.51.100.7"
    assert attempt.failures_since_start == 4


def test_lockout_leaves_other_address_and_other_user_alone(client, staff, lockout_settings):
    UserFactory(username="colleague")
    for _ in range(3):
        _login(client, "clerk", "wrong")

    # The same user from another address, behind the same proxy, still logs in.
    response = _login(client, "clerk", STAFF_PASSWORD, forwarded_for="198.51.100.8")
    assert response.status_code == 302
    client.logout()

    # A colleague behind the same address as the guesser still logs in.
    response = _login(client, "colleague", STAFF_PASSWORD)
    assert response.status_code == 302


def test_lockout_reads_address_through_proxy_count(client, staff, lockout_settings):
    # A client that prepends its own X-Forwarded-For entries cannot pick the counted address.
    for spoofed in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        _login(client, "clerk", "wrong", forwarded_for=f"{spoofed}, 198.51.100.7")

    response = _login(client, "clerk", STAFF_PASSWORD, forwarded_for="203.0.113.9, 198.51.100.7")

    assert response.status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["198.51.100.7"]


def test_lockout_ends_after_cool_off(client, staff, lockout_settings):
    for _ in range(3):
        _login(client, "clerk", "wrong")
    assert _login(client, "clerk", STAFF_PASSWORD).status_code == 429

    # Given the cool-off has passed (the attempt is dated back past it)
    attempt = AccessAttempt.objects.get()
    attempt.attempt_time -= lockout_settings.AXES_COOLOFF_TIME
    attempt.save(update_fields=["attempt_time"])

    assert _login(client, "clerk", STAFF_PASSWORD).status_code == 302


def test_lockout_reset_command_unlocks(client, staff, lockout_settings):
    for _ in range(3):
        _login(client, "clerk", "wrong")

    call_command("axes_reset_username", "clerk")

    assert _login(client, "clerk", STAFF_PASSWORD).status_code == 302
    assert not AccessAttempt.objects.exists()


def test_staff_login_address_keys_ipv6_by_network(rf, settings):
    settings.TRUSTED_PROXY_COUNT = None
    request = rf.get("/", REMOTE_ADDR="2001:db8:1:2:aaaa:bbbb:cccc:dddd")
    assert staff_login_address(request) == "2001:db8:1:2::"
    request = rf.get("/", REMOTE_ADDR="not-an-address")
    assert staff_login_address(request) is None


def test_session_expires_when_idle(client, staff, settings):
    settings.STAFF_SESSION_IDLE_MINUTES = 30
    assert client.post(LOGIN_URL, {"username": "clerk", "password": STAFF_PASSWORD}).status_code == 302
    assert client.get("/admin/").status_code == 200

    session = client.session
    session[middleware.ACTIVE_AT_KEY] = int(time.time()) - 31 * 60
    session.save()

    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert "_auth_user_id" not in client.session


def test_session_expires_at_max_age_despite_activity(client, staff, settings):
    settings.SESSION_COOKIE_AGE = 3600
    client.post(LOGIN_URL, {"username": "clerk", "password": STAFF_PASSWORD})

    session = client.session
    session[middleware.LOGIN_AT_KEY] = int(time.time()) - 3601
    session[middleware.ACTIVE_AT_KEY] = int(time.time()) - 5
    session.save()

    assert client.get("/admin/").status_code == 302


def test_session_activity_keeps_session_alive(client, staff, settings):
    settings.STAFF_SESSION_IDLE_MINUTES = 30
    client.post(LOGIN_URL, {"username": "clerk", "password": STAFF_PASSWORD})
    session = client.session
    session[middleware.ACTIVE_AT_KEY] = int(time.time()) - 29 * 60
    session.save()

    assert client.get("/admin/").status_code == 200
    # The request moved the last activity forward.
    assert client.session[middleware.ACTIVE_AT_KEY] >= int(time.time()) - 5


def _current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def test_admin_without_otp_setting_needs_only_password(client, staff, settings):
    settings.ADMIN_REQUIRE_OTP = False
    client.post(LOGIN_URL, {"username": "clerk", "password": STAFF_PASSWORD})
    assert client.get("/admin/").status_code == 200


def test_admin_with_otp_rejects_password_alone(client, staff, settings):
    settings.ADMIN_REQUIRE_OTP = True
    call_command("enrol_totp", "clerk", "--no-qr", stdout=io.StringIO())

    response = client.post(LOGIN_URL, {"username": "clerk", "password": STAFF_PASSWORD})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert b"otp_token" in response.content


def test_admin_with_otp_rejects_wrong_code(client, staff, settings):
    settings.ADMIN_REQUIRE_OTP = True
    call_command("enrol_totp", "clerk", "--no-qr", stdout=io.StringIO())
    device = TOTPDevice.objects.get(user=staff)
    wrong = f"{(int(_current_code(device)) + 1) % 1_000_000:06d}"

    client.post(LOGIN_URL, {"username": "clerk", "password": STAFF_PASSWORD, "otp_token": wrong})

    assert "_auth_user_id" not in client.session


def test_admin_with_otp_accepts_current_code(client, staff, settings):
    settings.ADMIN_REQUIRE_OTP = True
    call_command("enrol_totp", "clerk", "--no-qr", stdout=io.StringIO())
    device = TOTPDevice.objects.get(user=staff)

    response = client.post(
        LOGIN_URL, {"username": "clerk", "password": STAFF_PASSWORD, "otp_token": _current_code(device)}
    )

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_with_otp_treats_unverified_session_as_not_staff(client, staff, settings):
    # A session logged in while the setting was off is not let in once it is on.
    settings.ADMIN_REQUIRE_OTP = False
    client.post(LOGIN_URL, {"username": "clerk", "password": STAFF_PASSWORD})
    settings.ADMIN_REQUIRE_OTP = True

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_enrol_totp_rejects_unknown_and_non_staff_user(db):
    from django.core.management.base import CommandError

    UserFactory(username="outsider", is_staff=False)
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        call_command("enrol_totp", "ghost")
    with pytest.raises(CommandError, match="not staff"):
        call_command("enrol_totp", "outsider")
    assert not TOTPDevice.objects.exists()
