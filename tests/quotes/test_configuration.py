"""Configuration rules and guided selling on the test server (see conftest.server)."""

import pytest

from apps.quotes.configuration import ViolationCode as V
from apps.quotes.configuration import load_configurators
from apps.quotes.errors import InvalidQuoteInput
from apps.quotes.services import configuration_check, configuration_guide
from tests.factories import ProductFactory

VALID_BASE = {"cpu-8c": 1, "mem-16g": 2, "sup-1y": 1}

# (case id, selection, expected violation codes in order)
CASES = [
    ("minimal valid", VALID_BASE, []),
    ("mixed modules making a pair", {"cpu-8c": 1, "mem-16g": 1, "mem-32g": 1, "sup-1y": 1}, []),
    ("gpu with everything it needs", {"cpu-16c": 1, "mem-32g": 4, "sup-3y": 1, "gpu-a": 1, "psu-1100": 1}, []),
    ("two processors of one kind", {"cpu-16c": 2, "mem-16g": 2, "sup-1y": 1}, []),
    ("missing processor", {"mem-16g": 2, "sup-1y": 1}, [V.TOO_FEW_CHOICES]),
    ("missing every required group", {}, [V.TOO_FEW_CHOICES, V.TOO_FEW_CHOICES, V.TOO_FEW_CHOICES]),
    ("two processor kinds", {"cpu-8c": 1, "cpu-16c": 1, "mem-16g": 2, "sup-1y": 1}, [V.TOO_MANY_CHOICES]),
    (
        "three memory kinds",
        {"cpu-8c": 1, "mem-16g": 2, "mem-32g": 2, "mem-64g": 2, "sup-1y": 1},
        [V.TOO_MANY_CHOICES],
    ),
    ("odd memory modules", {"cpu-8c": 1, "mem-16g": 3, "sup-1y": 1}, [V.QUANTITY_MULTIPLE]),
    (
        "memory above both maximums",
        {"cpu-8c": 1, "mem-32g": 18, "sup-1y": 1},
        [V.ABOVE_OPTION_MAXIMUM, V.QUANTITY_ABOVE_MAX],
    ),
    ("processor above its maximum", {"cpu-16c": 3, "mem-16g": 2, "sup-1y": 1}, [V.ABOVE_OPTION_MAXIMUM]),
    (
        "gpu on the 8-core board with 1-year support",
        {"cpu-8c": 1, "mem-16g": 2, "sup-1y": 1, "gpu-a": 1},
        [V.REQUIRES, V.REQUIRES, V.EXCLUDES, V.EXCLUDES],
    ),
    ("gpu without power supply", {"cpu-16c": 1, "mem-16g": 2, "sup-3y": 1, "gpu-a": 1}, [V.REQUIRES]),
    ("unknown option", {**VALID_BASE, "raid-card": 1}, [V.UNKNOWN_OPTION]),
    ("quantity as text", {"cpu-8c": "1", "mem-16g": "2", "sup-1y": "1"}, []),
    ("quantity zero leaves the option out", {**VALID_BASE, "gpu-a": 0}, []),
    ("quantity not a number", {**VALID_BASE, "psu-1100": "two"}, [V.INVALID_QUANTITY]),
    ("negative quantity", {**VALID_BASE, "psu-1100": -1}, [V.INVALID_QUANTITY]),
    ("fractional quantity", {**VALID_BASE, "psu-1100": 1.5}, [V.INVALID_QUANTITY]),
    ("boolean quantity", {**VALID_BASE, "psu-1100": True}, [V.INVALID_QUANTITY]),
    ("list of codes counts one each", ["cpu-8c", "mem-16g", "sup-1y"], [V.QUANTITY_MULTIPLE]),
    ("text instead of a selection", "cpu-8c", [V.INVALID_SELECTION, V.TOO_FEW_CHOICES, V.TOO_FEW_CHOICES,
                                                V.TOO_FEW_CHOICES]),
]  # fmt: skip


@pytest.mark.parametrize(("selection", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_check_table(server, selection, expected):
    # When
    check = configuration_check(product=server.product, configuration=selection)

    # Then
    assert [violation.code for violation in check.violations] == expected
    assert check.valid is (expected == [])


def test_check_names_every_broken_rule(server):
    # When: one selection breaks the processor maximum, the memory pairs and a requires rule
    check = configuration_check(
        product=server.product, configuration={"cpu-8c": 1, "cpu-16c": 1, "mem-16g": 1, "sup-3y": 1, "gpu-a": 1}
    )

    # Then: each violation names its rule and options, with the rule's message
    by_code = {violation.code: violation for violation in check.violations}
    assert set(by_code) == {V.TOO_MANY_CHOICES, V.QUANTITY_MULTIPLE, V.REQUIRES, V.EXCLUDES}
    pairs = by_code[V.QUANTITY_MULTIPLE]
    assert pairs.rule_id == server.rules["mem_pairs"].pk
    assert pairs.message == (
        "Memory (all options together): the quantity must be a multiple of 2; 1 is chosen. (Memory modules in pairs)"
    )
    assert by_code[V.TOO_MANY_CHOICES].message == (
        "Processor: choose at most 1 option; 2 are chosen (cpu-16c, cpu-8c)."
    )
    assert by_code[V.EXCLUDES].options == ("cpu-8c", "gpu-a")
    assert "The 8-core board has no GPU slot" in by_code[V.EXCLUDES].message
    assert by_code[V.REQUIRES].message == (
        "Accelerator GPU requires an option of Power supply; choose it too or remove Accelerator GPU."
    )


def test_check_reports_inactive_option(server):
    # Given: the 64 GB module product is discontinued
    module = server.modules["64"]
    module.is_active = False
    module.save()

    # When
    check = configuration_check(product=server.product, configuration={**VALID_BASE, "mem-16g": 0, "mem-64g": 2})

    # Then
    assert [violation.code for violation in check.violations] == [V.INACTIVE_OPTION]
    assert check.violations[0].options == ("mem-64g",)


def test_check_reports_inactive_configuration(server):
    server.configurable.is_active = False
    server.configurable.save()

    check = configuration_check(product=server.product, configuration=VALID_BASE)

    assert [violation.code for violation in check.violations] == [V.NOT_CONFIGURABLE]


def test_check_ignores_inactive_rule(server):
    rule = server.rules["mem_pairs"]
    rule.is_active = False
    rule.save()

    check = configuration_check(product=server.product, configuration={**VALID_BASE, "mem-16g": 3})

    assert check.valid


def test_plain_product_accepts_only_empty_configuration(db):
    product = ProductFactory(sku="PLAIN-1")

    empty = configuration_check(product=product, configuration={})
    chosen = configuration_check(product=product, configuration={"cpu-8c": 1})

    assert empty.valid
    assert [violation.code for violation in chosen.violations] == [V.NOT_CONFIGURABLE]


def test_check_unknown_product_raises(db):
    with pytest.raises(InvalidQuoteInput, match="Product id 999999 does not exist"):
        configuration_check(product=999999, configuration={})


def _options(guidance) -> dict:
    return {option.code: option for group in guidance.groups for option in group.options}


def test_guide_empty_selection_allows_everything_and_lists_missing(server):
    # When
    guidance = configuration_guide(product=server.product, configuration={})

    # Then: every option may be chosen, memory is suggested in pairs, and three groups are still missing
    options = _options(guidance)
    assert all(option.allowed for option in options.values())
    assert options["mem-16g"].suggested_quantity == 2
    assert options["cpu-8c"].suggested_quantity == 1
    assert guidance.complete is False
    assert [violation.group for violation in guidance.check.violations] == ["cpu", "mem", "support"]


def test_guide_excluded_options_are_not_allowed(server):
    # When: the 8-core processor and 1-year support are chosen
    guidance = configuration_guide(product=server.product, configuration={"cpu-8c": 1, "sup-1y": 1})

    # Then: the GPU is excluded twice over; the other processor and support term stay allowed as replacements
    options = _options(guidance)
    assert options["gpu-a"].allowed is False
    assert len(options["gpu-a"].reasons) == 2
    assert "The 8-core board has no GPU slot" in options["gpu-a"].reasons[0]
    assert options["cpu-16c"].allowed is True
    assert options["sup-3y"].allowed is True
    assert options["cpu-8c"].selected is True


def test_guide_group_maximum_blocks_third_memory_kind(server):
    guidance = configuration_guide(
        product=server.product, configuration={"cpu-8c": 1, "mem-16g": 2, "mem-32g": 2, "sup-1y": 1}
    )

    options = _options(guidance)
    assert options["mem-64g"].allowed is False
    assert options["mem-64g"].reasons == (
        "Memory: choose at most 2 options; 3 are chosen (mem-16g, mem-32g, mem-64g).",
    )
    assert guidance.complete is True


def test_guide_suggests_the_quantity_that_completes_a_pair(server):
    # Given: one 16 GB module, so the memory group holds an odd count
    guidance = configuration_guide(product=server.product, configuration={"cpu-8c": 1, "mem-16g": 1, "sup-1y": 1})

    # Then: one 32 GB module completes the pair
    options = _options(guidance)
    assert options["mem-32g"].suggested_quantity == 1
    assert options["mem-16g"].reasons == (
        "Memory (all options together): the quantity must be a multiple of 2; 1 is chosen. (Memory modules in pairs)",
    )


def test_guide_as_dict_round_trips_to_json(server):
    import json

    data = configuration_guide(product=server.product, configuration={"gpu-a": 1}).as_dict()

    encoded = json.loads(json.dumps(data))
    assert encoded["valid"] is False
    assert [group["code"] for group in encoded["groups"]] == ["cpu", "mem", "support", "gpu", "psu"]


def test_guide_plain_product_raises(db):
    product = ProductFactory(sku="PLAIN-2")

    with pytest.raises(InvalidQuoteInput, match="is not configurable"):
        configuration_guide(product=product, configuration={})


def test_load_configurators_query_count_is_constant(server, django_assert_num_queries):
    other = ProductFactory(sku="PLAIN-3")

    with django_assert_num_queries(4):
        configurators = load_configurators([server.product.pk, other.pk])

    assert list(configurators) == [server.product.pk]
    assert configurators[server.product.pk].default_selection() == {"cpu-8c": 1, "sup-1y": 1}
