"""The project's admin site: Django's, plus a second factor (django-otp) when ADMIN_REQUIRE_OTP is on.

The setting is read on every request, so that tests and a changed environment
take effect without a new site object. With it on, a staff user must log in
with a password and a current TOTP code, and a session that was not verified
by a device is treated as not staff.
"""

from django.conf import settings
from django.contrib import admin
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm


def otp_required() -> bool:
    return bool(getattr(settings, "ADMIN_REQUIRE_OTP", False))


class OTPLoginForm(OTPAdminAuthenticationForm):
    """django-otp's admin login form that uses a user's only device without asking which one."""

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user))
            if len(devices) == 1:
                device = devices[0]
        return device


class BackOfficeAdminSite(admin.AdminSite):
    @property
    def login_form(self):
        return OTPLoginForm if otp_required() else None

    @property
    def login_template(self):
        return "otp/admin111/login.html" if otp_required() else None

    def has_permission(self, request) -> bool:
        if not super().has_permission(request):
            return False
        return not otp_required() or request.user.is_verified()
