"""factory_boy factories for the models tests build on."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.catalog.models import Category, Product, StockLevel, UnitOfMeasure, Warehouse
from apps.contracts.models import Contract, ContractPrice, Customer


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("test-pass-2026")
    is_staff = True


class UnitOfMeasureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UnitOfMeasure
        django_get_or_create = ("code",)

    code = "EA"
    name = "each"


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    code = factory.Sequence(lambda n: f"CAT{n:04d}")
    name = factory.Sequence(lambda n: f"Category {n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:06d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    category = factory.SubFactory(CategoryFactory)
    unit = factory.SubFactory(UnitOfMeasureFactory)
    list_price = Decimal("100.00")
    currency = "EUR"
    unspsc = "43211503"


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"WH{n}")
    name = factory.LazyAttribute(lambda warehouse: f"Warehouse {warehouse.code}")


class StockLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockLevel

    product = factory.SubFactory(ProductFactory)
    warehouse = factory.SubFactory(WarehouseFactory)
    on_hand = Decimal("10")
    as_of = factory.LazyFunction(timezone.now)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    account_number = factory.Sequence(lambda n: f"CUST-{n:04d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    currency = "EUR"
    credit_limit = Decimal("100000.00")


class ContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contract

    customer = factory.SubFactory(CustomerFactory)
    number = factory.Sequence(lambda n: f"K-{n:05d}")
    valid_from = dt.date(2026, 1, 1)
    valid_to = dt.date(2026, 12, 31)
    currency = factory.LazyAttribute(lambda contract: contract.customer.currency)
    status = Contract.Status.ACTIVE
    assortment = Contract.Assortment.ALL


class ContractPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContractPrice

    contract = factory.SubFactory(ContractFactory)
    product = factory.SubFactory(ProductFactory)
    min_quantity = Decimal("1")
    price = Decimal("90.00")
    discount_percent = None


class BuyerConnectionFactory(factory.django.DjangoModelFactory):
    """A cXML connection with the demo credentials' shape; the shared secret is ``test-shared-secret``."""

    class Meta:
        model = "punchout.BuyerConnection"
        django_get_or_create = ("sender_domain", "sender_identity")
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Procurement system {n}")
    customer = factory.SubFactory(CustomerFactory)
    protocol = "cxml"
    from_domain = "NetworkID"
    from_identity = factory.Sequence(lambda n: f"AN{n:011d}")
    sender_domain = "NetworkID"
    sender_identity = factory.LazyAttribute(lambda connection: connection.from_identity)
    to_domain = "DUNS"
    to_identity = "987654321"
    allowed_return_hosts = "localhost\n127.0.0.1"
    cart_field = "cxml-urlencoded"

    @factory.post_generation
    def shared_secret(connection, create, extracted, **kwargs):
        connection.set_shared_secret(extracted if extracted is not None else "test-shared-secret")
        if create:
            connection.save()


class RoutingRuleFactory(factory.django.DjangoModelFactory):
    """A routing rule; pass ``team`` (a Group) and override conditions as needed."""

    class Meta:
        model = "exceptions.RoutingRule"

    name = factory.Sequence(lambda n: f"Rule {n}")
    kind = "price_mismatch"
    priority = 10
    team = factory.LazyFunction(lambda: _group_named("sales"))


def _group_named(name: str):
    from django.contrib.auth.models import Group

    return Group.objects.get_or_create(name=name)[0]


class OrderFactory(factory.django.DjangoModelFactory):
    """An order as staff would key it in; status starts at received."""

    class Meta:
        model = "orders.Order"

    number = factory.Sequence(lambda n: f"SO-TEST-{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    channel = "staff"
    po_number = factory.Sequence(lambda n: f"PO-{n:06d}")
    currency = "EUR"


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "orders.OrderLine"

    order = factory.SubFactory(OrderFactory)
    position = factory.Sequence(lambda n: n + 1)
    line_number = factory.LazyAttribute(lambda line: str(line.position))
    product = factory.SubFactory(ProductFactory)
    sku = factory.LazyAttribute(lambda line: line.product.sku if line.product else "UNKNOWN")
    quantity = Decimal("1")
    currency = "EUR"
