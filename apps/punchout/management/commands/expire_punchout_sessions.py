"""Mark PunchOut sessions past their idle deadline expired; run it from cron or a scheduler."""

from django.core.management.base import BaseCommand

from apps.punchout.services import punchout_sessions_expire_idle


class Command(BaseCommand):
    help = "Mark every PunchOut session idle longer than PUNCHOUT_SESSION_IDLE_MINUTES expired."

    def handle(self, *args, **options):
        count = punchout_sessions_expire_idle()
        self.stdout.write(f"{count} PunchOut session{'s' if count != 1 else ''} expired.")
