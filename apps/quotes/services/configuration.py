"""Configuration services: check a product's configuration, and guide a partial one."""

from apps.catalog.models import Product
from apps.quotes.configuration import ConfigurationCheck, Guidance, Violation, ViolationCode, load_configurator
from apps.quotes.errors import InvalidQuoteInput


def configuration_check(*, product: Product | int, configuration: object) -> ConfigurationCheck:
    """Check a configuration of a product and return every rule it breaks (none when it is valid).

    A product without a configuration accepts only an empty configuration.
    Raises InvalidQuoteInput for a product id that does not exist.
    """
    product_id = _product_id(product)
    configurator = load_configurator(product_id)
    if configurator is None:
        return _check_unconfigurable(product_id, configuration)
    return configurator.check(configuration)


def configuration_guide(*, product: Product | int, configuration: object = None) -> Guidance:
    """Return, for a partial configuration, which options may still be chosen and what is still missing.

    Raises InvalidQuoteInput when the product has no configuration.
    """
    product_id = _product_id(product)
    configurator = load_configurator(product_id)
    if configurator is None:
        raise InvalidQuoteInput(f"Product id {product_id} is not configurable; it is quoted without options.")
    return configurator.guide(configuration)


def _check_unconfigurable(product_id: int, configuration: object) -> ConfigurationCheck:
    if not configuration:
        return ConfigurationCheck(product_id=product_id, selection={}, violations=())
    sku = Product.objects.filter(pk=product_id).values_list("sku", flat=True).first()
    violation = Violation(
        ViolationCode.NOT_CONFIGURABLE,
        f"{sku} has no options; remove the configuration or choose a configurable product.",
    )
    return ConfigurationCheck(product_id=product_id, selection={}, violations=(violation,))


def _product_id(product: Product | int) -> int:
    if isinstance(product, Product):
        product_id = product.pk
    elif isinstance(product, int) and not isinstance(product, bool):
        product_id = product
    else:
        raise InvalidQuoteInput(f"Product {product!r} is not a product or a product id.")
    if product_id is None or not Product.objects.filter(pk=product_id).exists():
        raise InvalidQuoteInput(f"Product id {product_id} does not exist; choose a product from the catalog.")
    return product_id
