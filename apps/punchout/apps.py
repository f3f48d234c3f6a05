from django.apps import AppConfig


class PunchoutConfig(AppConfig):
    name = "apps.punchout"
    label = "punchout"
