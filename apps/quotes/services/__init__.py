"""The quotes app's services, which the admin, the API, commands and tasks all call.

Every function takes keyword arguments only; those that change a quote take
the acting user as ``actor``.
"""

from apps.quotes.services.configuration import configuration_check, configuration_guide

__all__ = [
    "configuration_check",
    "configuration_guide",
]
