"""Give a staff user a TOTP device for the admin's second factor and print the key to scan."""

import io

import qrcode
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = (
        "Create a TOTP device for a staff user and print its otpauth:// URL and a QR code to scan "
        "with an authenticator app. Existing devices stay unless --replace is given."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help="The staff user's user name.")
        parser.add_argument("--name", default="Authenticator app", help="A label for the device, shown at login.")
        parser.add_argument("--replace", action="store_true", help="Delete the user's other TOTP devices first.")
        parser.add_argument("--no-qr", action="store_true", help="Print only the otpauth:// URL.")

    def handle(self, *args, username: str, name: str, replace: bool, no_qr: bool, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no user named {username!r}; create the user first.")
        if not user.is_staff:
            raise CommandError(f"User {username!r} is not staff; only staff log in to the admin.")
        if replace:
            TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)

        self.stdout.write(f"TOTP device {device.pk} created for {username}. Scan this in the authenticator app:")
        self.stdout.write(device.config_url)
        if not no_qr:
            code = qrcode.QRCode(border=1)
            code.add_data(device.config_url)
            text = io.StringIO()
            code.print_ascii(out=text)
            self.stdout.write(text.getvalue())
        self.stdout.write("The URL holds the secret key: do not store it or send it by mail.")
