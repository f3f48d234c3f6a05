"""The admin app's configuration, apart from the site so that settings can load it before any model."""

from django.contrib.admin.apps import AdminConfig


class BackOfficeAdminConfig(AdminConfig):
    """Installs BackOfficeAdminSite as ``admin.site``, so every app's ``admin.register`` uses it."""

    default_site = "apps.core.admin_site.BackOfficeAdminSite"
