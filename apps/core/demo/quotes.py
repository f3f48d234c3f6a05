"""Demo configurations, product costs, approval rules, and a draft and a submitted quote for ACME-001.

The configurable rack server SRV-CFG-2U shows every kind of option and
rule: a processor (price adders), memory modules that are catalog products
sold in pairs, and a support term. The three configurable products that the
catalog describes in ``Product.attributes["configuration"]`` get the same
options as configuration models. The demo quote is found again by its CRM
opportunity, so a second run creates nothing.
"""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from apps.catalog.models import Product, StockLevel, Warehouse
from apps.contracts.models import Contract, ContractPrice, Customer
from apps.core.demo.catalog import CURRENCY, STOCK_AS_OF
from apps.core.demo.sync import SyncReport, sync_row
from apps.quotes.models import (
    ApprovalRule,
    ApprovalRuleKind,
    ApprovalRuleStep,
    ConfigurableProduct,
    ConfigurationOption,
    ConfigurationRule,
    OptionGroup,
    ProductCost,
    Quote,
)
from apps.quotes.services import LineRequest, quote_create, quote_submit

SERVER_SKU = "SRV-CFG-2U"
DEMO_OPPORTUNITY = "DEMO-OPP-0001"
# The quote submitted with a discount that waits for the sales manager.
DEMO_PENDING_OPPORTUNITY = "DEMO-OPP-0002"

# Costs are this share of the list price, so that demo margins are realistic.
COST_SHARE = Decimal("0.62")

# (sku, name, list price, FRA stock) of the products the server needs.
SERVER_PRODUCTS = [
    (SERVER_SKU, "Kestrel Devices Configurable rack server 2U", Decimal("3400.00"), 40),
    ("MEM-32G-RDIMM", "Kestrel Devices 32 GB DDR5 RDIMM memory module", Decimal("185.00"), 400),
    ("MEM-64G-RDIMM", "Kestrel Devices 64 GB DDR5 RDIMM memory module", Decimal("340.00"), 200),
]

# (code, name, min choices, max choices, [(option code, name, price adder or product SKU, default, max qty)])
SERVER_GROUPS = [
    ("cpu", "Processor", 1, 1, [
        ("cpu-16c", "16-core 2.9 GHz processor", Decimal("0.00"), True, 1),
        ("cpu-32c", "32-core 2.6 GHz processor", Decimal("1450.00"), False, 1),
    ]),
    ("mem", "Memory", 1, 1, [
        ("mem-32g", "32 GB RDIMM", "MEM-32G-RDIMM", True, 16),
        ("mem-64g", "64 GB RDIMM", "MEM-64G-RDIMM", False, 16),
    ]),
    ("support", "Support term", 1, 1, [
        ("sup-1y", "1-year next-business-day support", Decimal("0.00"), True, 1),
        ("sup-3y", "3-year next-business-day support", Decimal("690.00"), False, 1),
        ("sup-5y", "5-year 4-hour support", Decimal("1190.00"), False, 1),
    ]),
]  # fmt: skip

# The ACME contract's fixed price of the server.
ACME_SERVER_PRICE = Decimal("3150.00")

# (name, kind, threshold, currency, approving groups in order)
APPROVAL_RULES = [
    ("Line discount above 10 %", ApprovalRuleKind.LINE_DISCOUNT_ABOVE, Decimal("10"), "", ["sales-manager"]),
    ("Quote margin below 15 %", ApprovalRuleKind.QUOTE_MARGIN_BELOW, Decimal("15"), "", ["finance"]),
    (
        "Quote total above 100,000 EUR",
        ApprovalRuleKind.TOTAL_ABOVE,
        Decimal("100000"),
        CURRENCY,
        ["sales-manager", "finance"],
    ),
]


def seed_quotes(*, products: dict[str, Product], customers: dict[str, Customer], report: SyncReport) -> None:
    """Create or update the demo configurations, costs, approval rules and the demo quote."""
    products = {**products, **_seed_server_products(report=report)}
    _seed_server(products, report=report)
    for product in products.values():
        configuration = product.attributes.get("configuration") if product.is_configurable else None
        if configuration:
            _seed_described(product, configuration, report=report)
    _seed_costs(products, report=report)
    _seed_approval_rules(report=report)
    _seed_quote(customers["ACME-001"], products[SERVER_SKU], report=report)
    _seed_pending_quote(customers["ACME-001"], products[SERVER_SKU], report=report)


def _seed_server_products(*, report: SyncReport) -> dict[str, Product]:
    template = Product.objects.select_related("category", "unit").get(sku="DT-CFG-TWR")
    warehouse = Warehouse.objects.get(code="FRA")
    products = {}
    for sku, name, price, stock in SERVER_PRODUCTS:
        products[sku] = sync_row(
            Product,
            lookup={"sku": sku},
            values={
                "name": name,
                "description": "Built to order; choose the options in the quote." if sku == SERVER_SKU else "",
                "manufacturer": "Kestrel Devices",
                "manufacturer_part_number": f"KD-{sku}",
                "category": template.category,
                "unspsc": "43211501" if sku == SERVER_SKU else "32101602",
                "unit": template.unit,
                "list_price": price,
                "currency": CURRENCY,
                "lead_time_days": 10 if sku == SERVER_SKU else 3,
                "is_active": True,
                "is_configurable": sku == SERVER_SKU,
            },
            report=report,
        )
        sync_row(
            StockLevel,
            lookup={"product": products[sku], "warehouse": warehouse},
            values={"on_hand": Decimal(stock), "as_of": STOCK_AS_OF},
            report=report,
        )
    contract = Contract.objects.get(number="ACME-2026")
    sync_row(
        ContractPrice,
        lookup={"contract": contract, "product": products[SERVER_SKU], "min_quantity": Decimal("1")},
        values={"price": ACME_SERVER_PRICE, "discount_percent": None, "valid_from": None, "valid_to": None},
        report=report,
    )
    return products


def _seed_server(products: dict[str, Product], *, report: SyncReport) -> None:
    configurable = sync_row(
        ConfigurableProduct,
        lookup={"product": products[SERVER_SKU]},
        values={"is_active": True, "description": "Choose a processor, memory in pairs and a support term."},
        report=report,
    )
    options = {}
    for position, (code, name, min_choices, max_choices, choices) in enumerate(SERVER_GROUPS, start=1):
        group = _group(configurable, code, name, position, min_choices, max_choices, report=report)
        for option_position, (option_code, option_name, price, default, max_quantity) in enumerate(choices, start=1):
            product = products[price] if isinstance(price, str) else None
            options[option_code] = _option(
                group,
                option_code,
                option_name,
                option_position,
                product=product,
                adder=None if product is not None else price,
                default=default,
                max_quantity=max_quantity,
                report=report,
            )
    memory = OptionGroup.objects.get(configurable=configurable, code="mem")
    _rule(configurable, ConfigurationRule.Kind.QUANTITY, group=memory, multiple_of=2, min_quantity=2,
          max_quantity=16, message="Memory modules go in pairs, 2 to 16 per server", report=report)  # fmt: skip
    _rule(configurable, ConfigurationRule.Kind.EXCLUDES, option=options["cpu-16c"], target_option=options["mem-64g"],
          message="64 GB modules need the 32-core platform", report=report)  # fmt: skip
    _rule(configurable, ConfigurationRule.Kind.REQUIRES, option=options["sup-5y"], target_option=options["cpu-32c"],
          message="4-hour support is sold with the 32-core platform only", report=report)  # fmt: skip


def _seed_described(product: Product, configuration: dict, *, report: SyncReport) -> None:
    """Turn a configuration described in the product's attributes into groups, adder options and rules."""
    configurable = sync_row(
        ConfigurableProduct, lookup={"product": product}, values={"is_active": True, "description": ""}, report=report
    )
    options = {}
    for position, described in enumerate(configuration["options"], start=1):
        group = _group(configurable, described["code"], described["label"], position, 1, 1, report=report)
        for value_position, value in enumerate(described["values"], start=1):
            code = f"{described['code']}-{value['code']}"
            options[code] = _option(
                group,
                code,
                value["label"],
                value_position,
                product=None,
                adder=Decimal(value["price_adder"]),
                default=bool(value.get("default")),
                max_quantity=1,
                report=report,
            )
    for described_rule in configuration.get("rules", []):
        ((if_group, if_value),) = described_rule["if"].items()
        ((then_group, then_value),) = described_rule["requires"].items()
        _rule(
            configurable,
            ConfigurationRule.Kind.REQUIRES,
            option=options[f"{if_group}-{if_value}"],
            target_option=options[f"{then_group}-{then_value}"],
            message=described_rule.get("reason", ""),
            report=report,
        )


def _group(configurable, code, name, position, min_choices, max_choices, *, report) -> OptionGroup:
    return sync_row(
        OptionGroup,
        lookup={"configurable": configurable, "code": code},
        values={"name": name, "position": position, "min_choices": min_choices, "max_choices": max_choices},
        report=report,
    )


def _option(group, code, name, position, *, product, adder, default, max_quantity, report) -> ConfigurationOption:
    return sync_row(
        ConfigurationOption,
        lookup={"configurable": group.configurable, "code": code},
        values={
            "group": group,
            "name": name,
            "position": position,
            "product": product,
            "price_adder": adder,
            "currency": CURRENCY if adder is not None else "",
            "cost": (adder * COST_SHARE).quantize(Decimal("0.01")) if adder is not None else None,
            "max_quantity": max_quantity,
            "is_default": default,
            "is_active": True,
        },
        report=report,
    )


def _rule(configurable, kind, *, report, message, option=None, group=None, target_option=None, **limits):
    lookup = {
        "configurable": configurable,
        "kind": kind,
        "option": option,
        "group": group,
        "target_option": target_option,
        "target_group": None,
    }
    values = {
        "multiple_of": limits.get("multiple_of"),
        "min_quantity": limits.get("min_quantity"),
        "max_quantity": limits.get("max_quantity"),
        "message": message,
        "is_active": True,
    }
    return sync_row(ConfigurationRule, lookup=lookup, values=values, report=report)


def _seed_costs(products: dict[str, Product], *, report: SyncReport) -> None:
    """Give the configurable products and the memory modules a cost, so that their quotes show margins."""
    for product in products.values():
        if product.is_configurable or product.sku.startswith("MEM-"):
            sync_row(
                ProductCost,
                lookup={"product": product, "currency": CURRENCY},
                values={"unit_cost": (product.list_price * COST_SHARE).quantize(Decimal("0.01"))},
                report=report,
            )


def _seed_approval_rules(*, report: SyncReport) -> None:
    groups = {group.name: group for group in Group.objects.filter(name__in=["sales-manager", "finance"])}
    for name, kind, threshold, currency, approvers in APPROVAL_RULES:
        rule = sync_row(
            ApprovalRule,
            lookup={"name": name},
            values={"kind": kind, "threshold": threshold, "currency": currency, "is_active": True},
            report=report,
        )
        for position, group_name in enumerate(approvers, start=1):
            sync_row(
                ApprovalRuleStep,
                lookup={"rule": rule, "group": groups[group_name]},
                values={"position": position},
                report=report,
            )


def _seed_quote(customer: Customer, server: Product, *, report: SyncReport) -> None:
    """Create the demo draft quote once: two servers with a 32-core processor, 8 x 32 GB and 3-year support."""
    counts = report.for_model(Quote)
    if Quote.objects.filter(customer=customer, crm_opportunity=DEMO_OPPORTUNITY).exists():
        counts.unchanged += 1
        return
    sales = get_user_model().objects.get(username="sales")
    quote_create(
        actor=sales,
        customer=customer,
        crm_opportunity=DEMO_OPPORTUNITY,
        contact_name="Alex Buyer",
        contact_email="purchasing@acme.example",
        terms="Prices in EUR excluding VAT. Payment 30 days net. Delivery 10 working days after the order.",
        lines=[
            LineRequest(
                product=server,
                quantity=2,
                configuration={"cpu-32c": 1, "mem-32g": 8, "sup-3y": 1},
                discount_percent=Decimal("5"),
            )
        ],
    )
    counts.created += 1


def _seed_pending_quote(customer: Customer, server: Product, *, report: SyncReport) -> None:
    """Create and submit the demo quote with a 15 % discount once, so the sales manager has an approval case."""
    counts = report.for_model(Quote)
    if Quote.objects.filter(customer=customer, crm_opportunity=DEMO_PENDING_OPPORTUNITY).exists():
        counts.unchanged += 1
        return
    sales = get_user_model().objects.get(username="sales")
    quote = quote_create(
        actor=sales,
        customer=customer,
        crm_opportunity=DEMO_PENDING_OPPORTUNITY,
        contact_name="Alex Buyer",
        contact_email="purchasing@acme.example",
        terms="Prices in EUR excluding VAT. Payment 30 days net. Delivery 10 working days after the order.",
        lines=[
            LineRequest(
                product=server,
                quantity=4,
                configuration={"cpu-32c": 1, "mem-32g": 8, "sup-3y": 1},
                discount_percent=Decimal("15"),
            )
        ],
    )
    quote_submit(quote=quote, actor=sales)
    counts.created += 1
