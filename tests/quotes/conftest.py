"""Fixtures of the quote tests: a configurable server with option rules, a customer under contract, staff users."""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group

from apps.quotes.models import ApprovalRule, ApprovalRuleKind, ApprovalRuleStep, ConfigurationRule
from apps.quotes.services import LineRequest, quote_create
from tests.factories import ContractFactory, ContractPriceFactory, CustomerFactory, ProductFactory, UserFactory
from tests.quotes.factories import (
    ConfigurableProductFactory,
    OptionFactory,
    OptionGroupFactory,
    ProductCostFactory,
    RuleFactory,
)


@pytest.fixture
def server(db):
    """A 2U server: one processor, memory modules in pairs (products), one support term, an optional GPU.

    Rules: the GPU requires the 16-core processor and a power supply, the
    8-core processor excludes every GPU, the 1-year support excludes the GPU,
    and memory comes in pairs up to 16 modules.
    """
    base = ProductFactory(sku="SRV-2U", name="Rack server 2U", list_price=Decimal("2000.00"), is_configurable=True)
    ProductCostFactory(product=base, unit_cost=Decimal("1200.00"))
    configurable = ConfigurableProductFactory(product=base)
    cpu = OptionGroupFactory(
        configurable=configurable, code="cpu", name="Processor", position=1, min_choices=1, max_choices=1
    )
    mem = OptionGroupFactory(
        configurable=configurable, code="mem", name="Memory", position=2, min_choices=1, max_choices=2
    )
    support = OptionGroupFactory(
        configurable=configurable, code="support", name="Support term", position=3, min_choices=1, max_choices=1
    )
    gpu = OptionGroupFactory(
        configurable=configurable, code="gpu", name="Graphics", position=4, min_choices=0, max_choices=1
    )
    psu = OptionGroupFactory(
        configurable=configurable, code="psu", name="Power supply", position=5, min_choices=0, max_choices=1
    )

    modules = {}
    for size, price, cost in (("16", "90.00", "50.00"), ("32", "160.00", "95.00"), ("64", "300.00", "190.00")):
        product = ProductFactory(sku=f"MEM-{size}G", name=f"{size} GB memory module", list_price=Decimal(price))
        ProductCostFactory(product=product, unit_cost=Decimal(cost))
        modules[size] = OptionFactory(
            group=mem,
            code=f"mem-{size}g",
            name=f"{size} GB module",
            product=product,
            price_adder=None,
            currency="",
            max_quantity=16,
        )
    options = {
        "cpu-8c": OptionFactory(group=cpu, code="cpu-8c", name="8-core CPU", price_adder=Decimal("0.00"),
                                cost=Decimal("0.00"), max_quantity=2, is_default=True),
        "cpu-16c": OptionFactory(group=cpu, code="cpu-16c", name="16-core CPU", price_adder=Decimal("450.00"),
                                 cost=Decimal("300.00"), max_quantity=2),
        "sup-1y": OptionFactory(group=support, code="sup-1y", name="1-year support", price_adder=Decimal("0.00"),
                                cost=Decimal("0.00"), is_default=True),
        "sup-3y": OptionFactory(group=support, code="sup-3y", name="3-year support", price_adder=Decimal("300.00"),
                                cost=Decimal("120.00")),
        "gpu-a": OptionFactory(group=gpu, code="gpu-a", name="Accelerator GPU", price_adder=Decimal("1200.00"),
                               cost=Decimal("900.00")),
        "psu-1100": OptionFactory(group=psu, code="psu-1100", name="1100 W power supply", price_adder=Decimal("150.00"),
                                  cost=Decimal("60.00")),
    }  # fmt: skip
    options.update({f"mem-{size}g": option for size, option in modules.items()})
    rules = {
        "gpu_needs_16c": RuleFactory(
            configurable=configurable,
            kind=ConfigurationRule.Kind.REQUIRES,
            option=options["gpu-a"],
            target_option=options["cpu-16c"],
        ),
        "gpu_needs_psu": RuleFactory(
            configurable=configurable, kind=ConfigurationRule.Kind.REQUIRES, option=options["gpu-a"], target_group=psu
        ),
        "8c_no_gpu": RuleFactory(
            configurable=configurable,
            kind=ConfigurationRule.Kind.EXCLUDES,
            option=options["cpu-8c"],
            target_group=gpu,
            message="The 8-core board has no GPU slot",
        ),
        "gpu_no_1y": RuleFactory(
            configurable=configurable,
            kind=ConfigurationRule.Kind.EXCLUDES,
            option=options["gpu-a"],
            target_option=options["sup-1y"],
        ),
        "mem_pairs": RuleFactory(
            configurable=configurable,
            kind=ConfigurationRule.Kind.QUANTITY,
            group=mem,
            multiple_of=2,
            max_quantity=16,
            message="Memory modules in pairs",
        ),
    }
    return SimpleNamespace(
        product=base,
        configurable=configurable,
        groups={"cpu": cpu, "mem": mem, "support": support, "gpu": gpu, "psu": psu},
        options=options,
        rules=rules,
        modules={size: option.product for size, option in modules.items()},
    )


@pytest.fixture
def customer(db):
    return CustomerFactory(account_number="ACME-001", name="Acme Corporation", currency="EUR")


@pytest.fixture
def contract(customer):
    return ContractFactory(
        customer=customer, number="ACME-2026", valid_from=dt.date(2020, 1, 1), valid_to=None, currency="EUR"
    )


@pytest.fixture
def contract_prices(contract, server):
    """A contract price of 1800.00 for the server and 10 % off the 32 GB module."""
    return {
        "server": ContractPriceFactory(contract=contract, product=server.product, price=Decimal("1800.00")),
        "mem-32g": ContractPriceFactory(
            contract=contract, product=server.modules["32"], price=None, discount_percent=Decimal("10")
        ),
    }


def _staff(username: str, group_name: str):
    """Return a staff user in one of the groups the data migrations create."""
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def sales(db):
    return _staff("quote-sales", "sales")


@pytest.fixture
def other_sales(db):
    return _staff("quote-sales-2", "sales")


@pytest.fixture
def manager(db):
    return _staff("quote-manager", "sales-manager")


@pytest.fixture
def finance(db):
    return _staff("quote-finance", "finance")


@pytest.fixture
def chair(contract):
    """A plain product at a contract price of 99.50 (list 120.00) with a cost of 60.00."""
    product = ProductFactory(sku="CHAIR-1", name="Desk chair", list_price=Decimal("120.00"))
    ContractPriceFactory(contract=contract, product=product, price=Decimal("99.50"))
    ProductCostFactory(product=product, unit_cost=Decimal("60.00"))
    return product


@pytest.fixture
def approval_rules(db):
    """The approval rules the tests use; each is a row an admin user could have entered."""
    groups = {group.name: group for group in Group.objects.filter(name__in=["sales-manager", "finance"])}

    def rule(name, kind, threshold, *steps, currency=""):
        created = ApprovalRule.objects.create(name=name, kind=kind, threshold=Decimal(threshold), currency=currency)
        for position, group_name in enumerate(steps, start=1):
            ApprovalRuleStep.objects.create(rule=created, position=position, group=groups[group_name])
        return created

    return {
        "line_discount": rule("Line discount", ApprovalRuleKind.LINE_DISCOUNT_ABOVE, "10", "sales-manager"),
        "quote_discount": rule(
            "Quote discount", ApprovalRuleKind.QUOTE_DISCOUNT_ABOVE, "20", "sales-manager", "finance"
        ),
        "quote_margin": rule("Quote margin", ApprovalRuleKind.QUOTE_MARGIN_BELOW, "15", "finance"),
        "total": rule("Large total", ApprovalRuleKind.TOTAL_ABOVE, "50000", "sales-manager", "finance", currency="EUR"),
    }


@pytest.fixture
def make_quote(customer, contract, sales):
    """Create a draft quote as ``sales`` from (product, quantity, discount, configuration) tuples."""

    def _make(*lines, actor=None, **fields):
        requests = [
            LineRequest(product=line[0], quantity=line[1], discount_percent=line[2] if len(line) > 2 else 0,
                        configuration=line[3] if len(line) > 3 else None)
            for line in lines
        ]  # fmt: skip
        fields.setdefault("contact_email", "buyer@acme.example")
        return quote_create(actor=actor or sales, customer=customer, lines=requests, **fields)

    return _make
