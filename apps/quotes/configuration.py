"""Check product configurations against their rules, and tell which options a partial configuration still allows.

A configuration (a selection) maps option codes to how many of the option
one configured unit holds, such as ``{"cpu-16c": 2, "mem-32g": 4}``. A list
of codes means one of each. ``check`` names every broken rule, not only the
first, so that a sales person or an API client can fix them all at once.

The models are read once into a ``Configurator`` per product (four queries
for any number of products), and every check and guidance after that runs
in Python, so that a quote with hundreds of configured lines is checked
without a query per line.
"""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from apps.quotes.models import ConfigurableProduct, ConfigurationOption, ConfigurationRule, OptionGroup

# Largest quantity of one option per configured unit that a selection may
# name; the option's own max_quantity is usually far lower.
MAX_OPTION_QUANTITY = 10_000


class ViolationCode:
    """Stable codes of the ways a configuration can be invalid."""

    INVALID_SELECTION = "invalid_selection"
    NOT_CONFIGURABLE = "not_configurable"
    UNKNOWN_OPTION = "unknown_option"
    INACTIVE_OPTION = "inactive_option"
    INVALID_QUANTITY = "invalid_quantity"
    ABOVE_OPTION_MAXIMUM = "above_option_maximum"
    TOO_FEW_CHOICES = "too_few_choices"
    TOO_MANY_CHOICES = "too_many_choices"
    REQUIRES = "requires"
    EXCLUDES = "excludes"
    QUANTITY_MULTIPLE = "quantity_multiple"
    QUANTITY_BELOW_MIN = "quantity_below_min"
    QUANTITY_ABOVE_MAX = "quantity_above_max"


# Violations that adding an option causes and that choosing more cannot fix, so the option is not allowed.
_BLOCKING = frozenset({ViolationCode.EXCLUDES, ViolationCode.TOO_MANY_CHOICES, ViolationCode.INACTIVE_OPTION})
_QUANTITY_CODES = frozenset(
    {
        ViolationCode.ABOVE_OPTION_MAXIMUM,
        ViolationCode.QUANTITY_MULTIPLE,
        ViolationCode.QUANTITY_BELOW_MIN,
        ViolationCode.QUANTITY_ABOVE_MAX,
    }
)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: its code, a message for people, and the options, group and rule it concerns."""

    code: str
    message: str
    options: tuple[str, ...] = ()
    group: str | None = None
    rule_id: int | None = None

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "options": list(self.options),
            "group": self.group,
            "rule": self.rule_id,
        }


@dataclass(frozen=True, slots=True)
class CompiledOption:
    id: int
    code: str
    name: str
    group_code: str
    product_id: int | None
    product_sku: str
    price_adder: object
    currency: str
    cost: object
    max_quantity: int
    is_default: bool
    is_active: bool


@dataclass(frozen=True, slots=True)
class CompiledGroup:
    id: int
    code: str
    name: str
    min_choices: int
    max_choices: int | None
    option_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: int
    kind: str
    option_code: str | None
    group_code: str | None
    target_option_code: str | None
    target_group_code: str | None
    multiple_of: int | None
    min_quantity: int | None
    max_quantity: int | None
    message: str


@dataclass(frozen=True)
class ConfigurationCheck:
    """The result of checking a selection: the selection as read, and every violation (none when valid)."""

    product_id: int
    selection: dict[str, int]
    violations: tuple[Violation, ...]

    @property
    def valid(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        """Join the violations' messages into one sentence list for an error message."""
        return " ".join(violation.message for violation in self.violations)


@dataclass(frozen=True)
class OptionGuidance:
    code: str
    name: str
    selected: bool
    quantity: int
    allowed: bool
    suggested_quantity: int
    max_quantity: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class GroupGuidance:
    code: str
    name: str
    min_choices: int
    max_choices: int | None
    chosen: int
    options: tuple[OptionGuidance, ...]


@dataclass(frozen=True)
class Guidance:
    """Guided selling for a partial selection: per option whether it may still be chosen, and what is missing."""

    check: ConfigurationCheck
    groups: tuple[GroupGuidance, ...]

    @property
    def complete(self) -> bool:
        return self.check.valid

    def as_dict(self) -> dict:
        return {
            "valid": self.check.valid,
            "selection": self.check.selection,
            "violations": [violation.as_dict() for violation in self.check.violations],
            "groups": [
                {
                    "code": group.code,
                    "name": group.name,
                    "min_choices": group.min_choices,
                    "max_choices": group.max_choices,
                    "chosen": group.chosen,
                    "options": [
                        {
                            "code": option.code,
                            "name": option.name,
                            "selected": option.selected,
                            "quantity": option.quantity,
                            "allowed": option.allowed,
                            "suggested_quantity": option.suggested_quantity,
                            "max_quantity": option.max_quantity,
                            "reasons": list(option.reasons),
                        }
                        for option in group.options
                    ],
                }
                for group in self.groups
            ],
        }


@dataclass
class Configurator:
    """The options, groups and rules of one configurable product, read once, checking selections in Python."""

    product_id: int
    product_sku: str
    is_active: bool
    groups: dict[str, CompiledGroup]
    options: dict[str, CompiledOption]
    rules: tuple[CompiledRule, ...]
    _by_option: dict[str, list[CompiledRule]] = field(default_factory=dict, repr=False)

    def default_selection(self) -> dict[str, int]:
        """Return the options marked default, one of each."""
        return {code: 1 for code, option in self.options.items() if option.is_default and option.is_active}

    def check(self, raw_selection: object) -> ConfigurationCheck:
        """Read a selection and return it with every rule it breaks."""
        selection, violations = parse_selection(raw_selection)
        if not self.is_active:
            violations.append(
                Violation(
                    ViolationCode.NOT_CONFIGURABLE,
                    f"The configuration of {self.product_sku} is inactive, so it cannot be quoted; "
                    "ask the product manager to activate it.",
                )
            )
        violations += self._violations(selection)
        return ConfigurationCheck(product_id=self.product_id, selection=selection, violations=tuple(violations))

    def guide(self, raw_selection: object) -> Guidance:
        """Return the check of a partial selection and, per option, whether choosing it next is allowed.

        An option is not allowed when choosing it would break an excludes rule
        or a group's maximum, or when it is inactive. In a group that allows one
        choice, another option counts as a replacement, so it stays allowed.
        A requires rule never blocks: it tells what else to choose.
        """
        check = self.check(raw_selection)
        selection = {code: quantity for code, quantity in check.selection.items() if code in self.options}
        groups = []
        for group in self.groups.values():
            options = []
            for code in group.option_codes:
                options.append(self._guide_option(self.options[code], group, selection, check))
            chosen = sum(1 for code in group.option_codes if code in selection)
            groups.append(
                GroupGuidance(
                    code=group.code,
                    name=group.name,
                    min_choices=group.min_choices,
                    max_choices=group.max_choices,
                    chosen=chosen,
                    options=tuple(options),
                )
            )
        return Guidance(check=check, groups=tuple(groups))

    def describe(self, selection: Mapping[str, int]) -> list[str]:
        """Return a line per chosen option, such as "Memory: 4 x 32 GB module", in group order."""
        lines = []
        for group in self.groups.values():
            for code in group.option_codes:
                quantity = selection.get(code)
                if quantity:
                    prefix = f"{quantity} x " if quantity != 1 else ""
                    lines.append(f"{group.name}: {prefix}{self.options[code].name}")
        return lines

    def _guide_option(
        self, option: CompiledOption, group: CompiledGroup, selection: dict[str, int], check: ConfigurationCheck
    ) -> OptionGuidance:
        if option.code in selection:
            reasons = tuple(v.message for v in check.violations if option.code in v.options)
            return OptionGuidance(
                code=option.code,
                name=option.name,
                selected=True,
                quantity=selection[option.code],
                allowed=option.is_active,
                suggested_quantity=selection[option.code],
                max_quantity=option.max_quantity,
                reasons=reasons,
            )
        candidate = dict(selection)
        if group.max_choices == 1:
            for other in group.option_codes:
                candidate.pop(other, None)
        suggested = self._suggested_quantity(option, group, candidate)
        candidate[option.code] = suggested
        blocking = [
            violation
            for violation in self._violations(candidate)
            if violation.code in _BLOCKING and (option.code in violation.options or violation.group == group.code)
        ]
        return OptionGuidance(
            code=option.code,
            name=option.name,
            selected=False,
            quantity=0,
            allowed=not blocking,
            suggested_quantity=suggested,
            max_quantity=option.max_quantity,
            reasons=tuple(violation.message for violation in blocking),
        )

    def _suggested_quantity(self, option: CompiledOption, group: CompiledGroup, candidate: dict[str, int]) -> int:
        """Return the smallest quantity of the option that its own and its group's quantity rules accept."""
        for quantity in range(1, option.max_quantity + 1):
            trial = {**candidate, option.code: quantity}
            broken = [
                violation
                for violation in self._violations(trial)
                if violation.code in _QUANTITY_CODES
                and (option.code in violation.options or violation.group == group.code)
            ]
            if not broken:
                return quantity
        return 1

    def _violations(self, selection: dict[str, int]) -> list[Violation]:
        violations: list[Violation] = []
        known: dict[str, int] = {}
        for code, quantity in selection.items():
            option = self.options.get(code)
            if option is None:
                violations.append(
                    Violation(
                        ViolationCode.UNKNOWN_OPTION,
                        f"{self.product_sku} has no option {code!r}; choose one of its listed options.",
                        options=(code,),
                    )
                )
                continue
            known[code] = quantity
            if not option.is_active:
                violations.append(
                    Violation(
                        ViolationCode.INACTIVE_OPTION,
                        f"Option {option.name} ({code}) is no longer offered; choose another.",
                        options=(code,),
                        group=option.group_code,
                    )
                )
            if quantity > option.max_quantity:
                violations.append(
                    Violation(
                        ViolationCode.ABOVE_OPTION_MAXIMUM,
                        f"Option {option.name} ({code}) allows at most {option.max_quantity} per unit; "
                        f"{quantity} are chosen.",
                        options=(code,),
                        group=option.group_code,
                    )
                )

        for group in self.groups.values():
            chosen = [code for code in group.option_codes if code in known]
            if len(chosen) < group.min_choices:
                violations.append(
                    Violation(
                        ViolationCode.TOO_FEW_CHOICES,
                        f"{group.name}: choose at least {group.min_choices} "
                        f"{_plural(group.min_choices, 'option')}; {_count_chosen(len(chosen))}.",
                        options=tuple(chosen),
                        group=group.code,
                    )
                )
            if group.max_choices is not None and len(chosen) > group.max_choices:
                violations.append(
                    Violation(
                        ViolationCode.TOO_MANY_CHOICES,
                        f"{group.name}: choose at most {group.max_choices} "
                        f"{_plural(group.max_choices, 'option')}; {_count_chosen(len(chosen))} "
                        f"({', '.join(chosen)}).",
                        options=tuple(chosen),
                        group=group.code,
                    )
                )

        for rule in self.rules:
            violations += self._rule_violations(rule, known)
        return violations

    def _rule_violations(self, rule: CompiledRule, selection: dict[str, int]) -> list[Violation]:
        if rule.kind == ConfigurationRule.Kind.QUANTITY:
            return self._quantity_violations(rule, selection)
        if rule.option_code not in selection:
            return []
        option = self.options[rule.option_code]
        if rule.target_option_code is not None:
            target_codes: tuple[str, ...] = (rule.target_option_code,)
            target_name = self.options[rule.target_option_code].name
        else:
            target_codes = self.groups[rule.target_group_code].option_codes
            target_name = f"an option of {self.groups[rule.target_group_code].name}"
        chosen_targets = tuple(code for code in target_codes if code in selection and code != option.code)
        reason = f" ({rule.message})" if rule.message else ""

        if rule.kind == ConfigurationRule.Kind.REQUIRES and not chosen_targets:
            return [
                Violation(
                    ViolationCode.REQUIRES,
                    f"{option.name} requires {target_name}; choose it too or remove {option.name}.{reason}",
                    options=(option.code, *target_codes),
                    rule_id=rule.id,
                )
            ]
        if rule.kind == ConfigurationRule.Kind.EXCLUDES and chosen_targets:
            names = ", ".join(self.options[code].name for code in chosen_targets)
            return [
                Violation(
                    ViolationCode.EXCLUDES,
                    f"{option.name} cannot be combined with {names}; remove one of them.{reason}",
                    options=(option.code, *chosen_targets),
                    rule_id=rule.id,
                )
            ]
        return []

    def _quantity_violations(self, rule: CompiledRule, selection: dict[str, int]) -> list[Violation]:
        if rule.option_code is not None:
            codes: tuple[str, ...] = (rule.option_code,)
            label = self.options[rule.option_code].name
            group_code = self.options[rule.option_code].group_code
        else:
            codes = self.groups[rule.group_code].option_codes
            label = f"{self.groups[rule.group_code].name} (all options together)"
            group_code = rule.group_code
        chosen = tuple(code for code in codes if code in selection)
        quantity = sum(selection[code] for code in chosen)
        if quantity == 0:
            return []
        reason = f" ({rule.message})" if rule.message else ""
        violations = []
        if rule.multiple_of and quantity % rule.multiple_of:
            violations.append(
                Violation(
                    ViolationCode.QUANTITY_MULTIPLE,
                    f"{label}: the quantity must be a multiple of {rule.multiple_of}; {quantity} is chosen.{reason}",
                    options=chosen,
                    group=group_code,
                    rule_id=rule.id,
                )
            )
        if rule.min_quantity is not None and quantity < rule.min_quantity:
            violations.append(
                Violation(
                    ViolationCode.QUANTITY_BELOW_MIN,
                    f"{label}: choose at least {rule.min_quantity}; {quantity} is chosen.{reason}",
                    options=chosen,
                    group=group_code,
                    rule_id=rule.id,
                )
            )
        if rule.max_quantity is not None and quantity > rule.max_quantity:
            violations.append(
                Violation(
                    ViolationCode.QUANTITY_ABOVE_MAX,
                    f"{label}: choose at most {rule.max_quantity}; {quantity} is chosen.{reason}",
                    options=chosen,
                    group=group_code,
                    rule_id=rule.id,
                )
            )
        return violations


def parse_selection(raw: object) -> tuple[dict[str, int], list[Violation]]:
    """Read a selection given as a mapping of code to quantity, a list of codes, or nothing.

    Returns the selection with positive integer quantities and a violation for
    each entry that cannot be read. A quantity of 0 leaves the option out.
    """
    if raw is None or raw == "":
        return {}, []
    if isinstance(raw, Mapping):
        items: Iterable[tuple[object, object]] = raw.items()
    elif isinstance(raw, list | tuple):
        items = [(code, 1) for code in raw]
    else:
        return {}, [
            Violation(
                ViolationCode.INVALID_SELECTION,
                f"The configuration {raw!r} is not readable; send an object of option code to quantity, "
                'such as {"mem-32g": 4}.',
            )
        ]

    selection: dict[str, int] = {}
    violations: list[Violation] = []
    for raw_code, raw_quantity in items:
        code = raw_code.strip() if isinstance(raw_code, str) else ""
        if not code:
            violations.append(
                Violation(
                    ViolationCode.INVALID_SELECTION,
                    f"Option code {raw_code!r} is not a code; option codes are text such as 'mem-32g'.",
                )
            )
            continue
        quantity = _parse_quantity(raw_quantity)
        if quantity is None:
            violations.append(
                Violation(
                    ViolationCode.INVALID_QUANTITY,
                    f"The quantity {raw_quantity!r} of option {code} is not a whole number from 0 to "
                    f"{MAX_OPTION_QUANTITY:,}.",
                    options=(code,),
                )
            )
            continue
        if quantity:
            selection[code] = selection.get(code, 0) + quantity
    return selection, violations


def load_configurators(product_ids: Collection[int]) -> dict[int, Configurator]:
    """Read the configurations of the given products in four queries, keyed by product id.

    Products without a configuration are left out. Inactive options stay in,
    so that a stored configuration naming one is reported as such.
    """
    if not product_ids:
        return {}
    configurables = list(ConfigurableProduct.objects.filter(product_id__in=list(product_ids)).select_related("product"))
    if not configurables:
        return {}
    ids = [configurable.pk for configurable in configurables]
    groups_by_owner: dict[int, list[OptionGroup]] = {}
    for group in OptionGroup.objects.filter(configurable_id__in=ids).order_by("position", "code", "id"):
        groups_by_owner.setdefault(group.configurable_id, []).append(group)
    options_by_group: dict[int, list[ConfigurationOption]] = {}
    option_rows = (
        ConfigurationOption.objects.filter(configurable_id__in=ids)
        .select_related("product")
        .order_by("position", "code", "id")
    )
    for option in option_rows:
        options_by_group.setdefault(option.group_id, []).append(option)
    rules_by_owner: dict[int, list[ConfigurationRule]] = {}
    rule_rows = ConfigurationRule.objects.filter(configurable_id__in=ids, is_active=True).order_by("id")
    for rule in rule_rows:
        rules_by_owner.setdefault(rule.configurable_id, []).append(rule)

    result = {}
    for configurable in configurables:
        result[configurable.product_id] = _compile(
            configurable,
            groups_by_owner.get(configurable.pk, []),
            options_by_group,
            rules_by_owner.get(configurable.pk, []),
        )
    return result


def load_configurator(product_id: int) -> Configurator | None:
    """Return the configurator of one product, or None when the product has no configuration."""
    return load_configurators([product_id]).get(product_id)


def _compile(
    configurable: ConfigurableProduct,
    groups: list[OptionGroup],
    options_by_group: dict[int, list[ConfigurationOption]],
    rules: list[ConfigurationRule],
) -> Configurator:
    compiled_groups: dict[str, CompiledGroup] = {}
    compiled_options: dict[str, CompiledOption] = {}
    codes_by_id: dict[int, str] = {}
    group_codes_by_id: dict[int, str] = {}
    for group in groups:
        group_options = options_by_group.get(group.pk, [])
        compiled_groups[group.code] = CompiledGroup(
            id=group.pk,
            code=group.code,
            name=group.name,
            min_choices=group.min_choices,
            max_choices=group.max_choices,
            option_codes=tuple(option.code for option in group_options),
        )
        group_codes_by_id[group.pk] = group.code
        for option in group_options:
            product = option.product
            compiled_options[option.code] = CompiledOption(
                id=option.pk,
                code=option.code,
                name=option.name,
                group_code=group.code,
                product_id=option.product_id,
                product_sku=product.sku if product is not None else "",
                price_adder=option.price_adder,
                currency=option.currency,
                cost=option.cost,
                max_quantity=option.max_quantity,
                is_default=option.is_default,
                is_active=option.is_active and (product is None or product.is_active),
            )
            codes_by_id[option.pk] = option.code

    compiled_rules = tuple(
        CompiledRule(
            id=rule.pk,
            kind=rule.kind,
            option_code=codes_by_id.get(rule.option_id),
            group_code=group_codes_by_id.get(rule.group_id),
            target_option_code=codes_by_id.get(rule.target_option_id),
            target_group_code=group_codes_by_id.get(rule.target_group_id),
            multiple_of=rule.multiple_of,
            min_quantity=rule.min_quantity,
            max_quantity=rule.max_quantity,
            message=rule.message,
        )
        for rule in rules
        if _rule_is_complete(rule, codes_by_id, group_codes_by_id)
    )
    return Configurator(
        product_id=configurable.product_id,
        product_sku=configurable.product.sku,
        is_active=configurable.is_active and configurable.product.is_active,
        groups=compiled_groups,
        options=compiled_options,
        rules=compiled_rules,
    )


def _rule_is_complete(rule: ConfigurationRule, option_codes: dict[int, str], group_codes: dict[int, str]) -> bool:
    """Return whether every option and group the rule names belongs to its product (the constraints ensure it)."""
    for option_id in (rule.option_id, rule.target_option_id):
        if option_id is not None and option_id not in option_codes:
            return False
    for group_id in (rule.group_id, rule.target_group_id):
        if group_id is not None and group_id not in group_codes:
            return False
    return True


def _parse_quantity(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        value = int(raw.strip())
    else:
        return None
    if not 0 <= value <= MAX_OPTION_QUANTITY:
        return None
    return value


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"


def _count_chosen(count: int) -> str:
    if count == 0:
        return "none is chosen"
    return f"{count} {'is' if count == 1 else 'are'} chosen"
