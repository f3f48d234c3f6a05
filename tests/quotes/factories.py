"""factory_boy factories for the quotes app's configuration models."""

from decimal import Decimal

import factory

from apps.quotes.models import ConfigurableProduct, ConfigurationOption, ConfigurationRule, OptionGroup, ProductCost
from tests.factories import ProductFactory


class ConfigurableProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConfigurableProduct

    product = factory.SubFactory(ProductFactory, is_configurable=True)


class OptionGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OptionGroup

    configurable = factory.SubFactory(ConfigurableProductFactory)
    code = factory.Sequence(lambda n: f"group-{n}")
    name = factory.LazyAttribute(lambda group: group.code.capitalize())
    min_choices = 0
    max_choices = 1


class OptionFactory(factory.django.DjangoModelFactory):
    """A price-adder option of 0 EUR; pass ``product`` and ``price_adder=None`` for a product option."""

    class Meta:
        model = ConfigurationOption

    group = factory.SubFactory(OptionGroupFactory)
    code = factory.Sequence(lambda n: f"option-{n}")
    name = factory.LazyAttribute(lambda option: option.code)
    price_adder = Decimal("0.00")
    currency = "EUR"


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConfigurationRule

    kind = ConfigurationRule.Kind.REQUIRES


class ProductCostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductCost

    product = factory.SubFactory(ProductFactory)
    currency = "EUR"
    unit_cost = Decimal("50.00")
