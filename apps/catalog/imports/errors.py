"""Expected errors of the import service, each with a stable ``code``."""

from apps.catalog.errors import CatalogError


class CatalogImportError(CatalogError):
    """Base of the import errors."""

    code = "import_error"


class FileRejected(CatalogImportError):
    """The whole file cannot be read: wrong encoding, no usable header, unknown or missing columns."""

    code = "import_file_rejected"


class InvalidImportOptions(CatalogImportError):
    """An option of the import has a value the service cannot use."""

    code = "invalid_import_options"


class HeldChangeNotApplicable(CatalogImportError):
    """A held change can no longer be applied, because it was decided or the product changed since."""

    code = "held_change_not_applicable"
