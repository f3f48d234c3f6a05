"""Demo catalog: a small category tree, a few hundred products, two warehouses and their stock."""

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from apps.catalog.models import Category, Product, StockLevel, UnitOfMeasure, Warehouse
from apps.core.demo.sync import SyncReport, sync_row, sync_rows
from apps.core.demo.tax import FAMILY_TAX_CLASSES
from apps.tax.models import TaxClass

# A fixed seed so that every run generates the same names, prices and stock,
# which is what makes a second run change nothing.
RANDOM_SEED = 2026
# A fixed count time for the stock levels, for the same reason.
STOCK_AS_OF = dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.UTC)
CURRENCY = "EUR"

# Rows of (code, name, parent code), each parent before its children.
CATEGORIES = [
    ("IT", "IT equipment", None),
    ("IT-COMP", "Computers", "IT"),
    ("IT-PERI", "Monitors and peripherals", "IT"),
    ("IT-NET", "Networking", "IT"),
    ("OFFICE", "Office supplies and furniture", None),
    ("OFFICE-PAPER", "Paper and writing", "OFFICE"),
    ("OFFICE-FURN", "Office furniture", "OFFICE"),
    ("IND", "Industrial and MRO", None),
    ("IND-FAST", "Fasteners", "IND"),
    ("IND-PPE", "Personal protective equipment", "IND"),
    ("IND-ELEC", "Electrical and lubricants", "IND"),
    ("SERVICES", "Services", None),
]

WAREHOUSES = [
    ("FRA", "Frankfurt central warehouse", "DE"),
    ("RTM", "Rotterdam regional warehouse", "NL"),
]

# Units every demo product uses; the units data migration loads them.
UNIT_CODES = ("EA", "XBX", "PR", "KGM", "MTR", "HUR")


@dataclass(frozen=True)
class Family:
    """A product line: how many products, their SKU prefix, category, unit and UNSPSC code."""

    sku_prefix: str
    count: int
    category: str
    unit: str
    unspsc: str
    manufacturers: tuple[str, ...]
    price_range: tuple[int, int]  # list price bounds in whole euros
    lead_time_days: tuple[int, int]


FAMILIES = {
    "notebook": Family(
        "NB", 28, "IT-COMP", "EA", "43211503", ("Norvik Computing", "Altamira Systems"), (650, 2400), (2, 10)
    ),
    "desktop": Family(
        "DT", 16, "IT-COMP", "EA", "43211507", ("Norvik Computing", "Kestrel Devices"), (480, 1900), (3, 12)
    ),
    "monitor": Family(
        "MON", 26, "IT-PERI", "EA", "43211902", ("Solberg Electronics", "Kestrel Devices"), (120, 950), (1, 7)
    ),
    "keyboard": Family(
        "KB", 16, "IT-PERI", "EA", "43211706", ("Solberg Electronics", "Altamira Systems"), (18, 140), (1, 5)
    ),
    "mouse": Family(
        "MS", 14, "IT-PERI", "EA", "43211708", ("Solberg Electronics", "Altamira Systems"), (9, 95), (1, 5)
    ),
    "dock": Family("DCK", 12, "IT-PERI", "EA", "43211602", ("Norvik Computing", "Kestrel Devices"), (110, 340), (2, 8)),
    "switch": Family(
        "SW", 16, "IT-NET", "EA", "43222612", ("Meridian Networks", "Crossway Networks"), (90, 4200), (3, 21)
    ),
    "patch": Family("PC", 18, "IT-NET", "EA", "26121609", ("Crossway Networks", "Voltline Cables"), (2, 28), (1, 4)),
    "paper": Family("PAP", 18, "OFFICE-PAPER", "XBX", "14111507", ("Papyra", "Nordfors Paper"), (19, 64), (1, 3)),
    "pen": Family("PEN", 18, "OFFICE-PAPER", "XBX", "44121704", ("Linea Office", "Papyra"), (6, 48), (1, 3)),
    "chair": Family("CHR", 14, "OFFICE-FURN", "EA", "56101504", ("Ergoform", "Linea Office"), (160, 1150), (5, 30)),
    "desk": Family("DSK", 12, "OFFICE-FURN", "EA", "56101703", ("Ergoform", "Linea Office"), (240, 1400), (7, 35)),
    "bolt": Family(
        "BLT", 28, "IND-FAST", "XBX", "31161620", ("Stahlmann Industrie", "Ironclad Fasteners"), (8, 95), (2, 10)
    ),
    "glove": Family("GLV", 22, "IND-PPE", "PR", "46181504", ("Safeguard PPE", "Stahlmann Industrie"), (3, 38), (1, 6)),
    "glasses": Family("EYE", 12, "IND-PPE", "EA", "46181802", ("Safeguard PPE",), (7, 64), (1, 6)),
    "cable": Family("CBL", 14, "IND-ELEC", "MTR", "26121604", ("Voltline Cables",), (1, 22), (2, 14)),
    "grease": Family("LUB", 10, "IND-ELEC", "KGM", "15121902", ("Lubrotec",), (9, 85), (2, 10)),
    "service": Family("SVC", 6, "SERVICES", "HUR", "81111811", ("Supplier Field Services",), (75, 160), (5, 10)),
}


@dataclass(frozen=True)
class ConfigurableProduct:
    """A product sold with options; the options and their rules live in ``attributes`` for now."""

    sku: str
    name: str
    family: str
    base_price: Decimal
    configuration: dict


# NOTE: the configuration models (options, allowed values, price adders and
# rules) do not exist yet, so the options are only described in
# Product.attributes["configuration"]; move them into those models when the
# quotes app adds them.
CONFIGURABLE_PRODUCTS = [
    ConfigurableProduct(
        sku="NB-CFG-14",
        name="Configurable business notebook 14-inch",
        family="notebook",
        base_price=Decimal("899.00"),
        configuration={
            "options": [
                {"code": "cpu", "label": "Processor", "values": [
                    {"code": "i5", "label": "4-core 3.9 GHz", "price_adder": "0.00", "default": True},
                    {"code": "i7", "label": "8-core 4.6 GHz", "price_adder": "240.00"},
                ]},
                {"code": "ram", "label": "Memory", "values": [
                    {"code": "16", "label": "16 GB", "price_adder": "0.00", "default": True},
                    {"code": "32", "label": "32 GB", "price_adder": "120.00"},
                    {"code": "64", "label": "64 GB", "price_adder": "310.00"},
                ]},
                {"code": "ssd", "label": "Storage", "values": [
                    {"code": "512", "label": "512 GB SSD", "price_adder": "0.00", "default": True},
                    {"code": "1024", "label": "1 TB SSD", "price_adder": "90.00"},
                ]},
            ],
            "rules": [
                {"if": {"ram": "64"}, "requires": {"cpu": "i7"}, "reason": "64 GB needs the 8-core board."},
            ],
        },
    ),
    ConfigurableProduct(
        sku="DT-CFG-TWR",
        name="Configurable workstation tower",
        family="desktop",
        base_price=Decimal("1290.00"),
        configuration={
            "options": [
                {"code": "gpu", "label": "Graphics", "values": [
                    {"code": "none", "label": "Integrated graphics", "price_adder": "0.00", "default": True},
                    {"code": "pro8", "label": "8 GB workstation GPU", "price_adder": "620.00"},
                    {"code": "pro16", "label": "16 GB workstation GPU", "price_adder": "1180.00"},
                ]},
                {"code": "psu", "label": "Power supply", "values": [
                    {"code": "500", "label": "500 W", "price_adder": "0.00", "default": True},
                    {"code": "850", "label": "850 W", "price_adder": "95.00"},
                ]},
            ],
            "rules": [
                {"if": {"gpu": "pro16"}, "requires": {"psu": "850"}, "reason": "The 16 GB GPU draws more than 500 W."},
            ],
        },
    ),
    ConfigurableProduct(
        sku="DSK-CFG-ELEV",
        name="Configurable height-adjustable desk",
        family="desk",
        base_price=Decimal("540.00"),
        configuration={
            "options": [
                {"code": "top", "label": "Desktop size", "values": [
                    {"code": "140", "label": "140 x 70 cm", "price_adder": "0.00", "default": True},
                    {"code": "160", "label": "160 x 80 cm", "price_adder": "60.00"},
                    {"code": "180", "label": "180 x 80 cm", "price_adder": "110.00"},
                ]},
                {"code": "frame", "label": "Frame", "values": [
                    {"code": "single", "label": "Single motor", "price_adder": "0.00", "default": True},
                    {"code": "dual", "label": "Dual motor", "price_adder": "150.00"},
                ]},
            ],
            "rules": [
                {"if": {"top": "180"}, "requires": {"frame": "dual"}, "reason": "A 180 cm top needs two motors."},
            ],
        },
    ),
]  # fmt: skip


def seed_catalog(*, report: SyncReport, tax_classes: dict[str, TaxClass]) -> dict[str, Product]:
    """Create or update the demo categories, products, warehouses and stock, and return the products by SKU."""
    units = _demo_units()
    categories = _seed_categories(report=report)
    products = _seed_products(categories=categories, units=units, tax_classes=tax_classes, report=report)
    warehouses = {
        code: sync_row(Warehouse, lookup={"code": code}, values={"name": name, "country": country, "is_active": True},
                       report=report)
        for code, name, country in WAREHOUSES
    }  # fmt: skip
    _seed_stock(products=products, warehouses=warehouses, report=report)
    return products


def _demo_units() -> dict[str, UnitOfMeasure]:
    units = {unit.code: unit for unit in UnitOfMeasure.objects.filter(code__in=UNIT_CODES)}
    missing = sorted(set(UNIT_CODES) - set(units))
    if missing:
        raise LookupError(
            f"Units of measure {', '.join(missing)} are missing; run `python manage.py migrate`, "
            "whose units data migration loads them."
        )
    return units


def _seed_categories(*, report: SyncReport) -> dict[str, Category]:
    categories: dict[str, Category] = {}
    for code, name, parent_code in CATEGORIES:
        parent = categories[parent_code] if parent_code else None
        categories[code] = sync_row(Category, lookup={"code": code}, values={"name": name, "parent": parent},
                                    report=report)  # fmt: skip
    return categories


def _seed_products(
    *,
    categories: dict[str, Category],
    units: dict[str, UnitOfMeasure],
    tax_classes: dict[str, TaxClass],
    report: SyncReport,
) -> dict[str, Product]:
    rng = random.Random(RANDOM_SEED)  # noqa: S311 -- a repeatable sequence, not a secret.
    rows = []
    names: set[str] = set()
    for family_name, family in FAMILIES.items():
        for index in range(1, family.count + 1):
            row = _product_row(rng, family_name, family, index, names=names, categories=categories, units=units)
            # Every 50th product is discontinued, so that inactive products appear in the demo.
            row["is_active"] = (len(rows) + 1) % 50 != 0
            tax_class = tax_classes.get(FAMILY_TAX_CLASSES.get(family_name, ""))
            row["tax_class_id"] = tax_class.pk if tax_class is not None else None
            rows.append(row)
    for configurable in CONFIGURABLE_PRODUCTS:
        rows.append(_configurable_row(configurable, categories=categories, units=units))

    synced = sync_rows(Product, key=("sku",), rows=rows, report=report)
    return {key[0]: product for key, product in synced.items()}


def _product_row(
    rng: random.Random,
    family_name: str,
    family: Family,
    index: int,
    *,
    names: set[str],
    categories: dict[str, Category],
    units: dict[str, UnitOfMeasure],
) -> dict:
    manufacturer = rng.choice(family.manufacturers)
    # Draw again when the name is taken, so that no two demo products read the same.
    for _attempt in range(50):
        name, description, attributes = _DESCRIBERS[family_name](rng)
        if f"{manufacturer} {name}" not in names:
            break
    else:
        raise RuntimeError(f"The {family_name} family has too few distinct names for {family.count} products.")
    names.add(f"{manufacturer} {name}")
    low, high = family.price_range
    return {
        "sku": f"{family.sku_prefix}-{index:04d}",
        "name": f"{manufacturer} {name}",
        "description": description,
        "manufacturer": manufacturer,
        "manufacturer_part_number": f"{_initials(manufacturer)}-{family.sku_prefix}{rng.randint(100, 999)}-{index:02d}",
        "category": categories[family.category],
        "unspsc": family.unspsc,
        "unit": units[family.unit],
        "list_price": Decimal(rng.randrange(low * 100, high * 100 + 1)) / 100,
        "currency": CURRENCY,
        "lead_time_days": rng.randint(*family.lead_time_days),
        "is_configurable": False,
        "attributes": attributes,
    }


def _configurable_row(
    configurable: ConfigurableProduct, *, categories: dict[str, Category], units: dict[str, UnitOfMeasure]
) -> dict:
    family = FAMILIES[configurable.family]
    manufacturer = family.manufacturers[0]
    return {
        "sku": configurable.sku,
        "name": f"{manufacturer} {configurable.name}",
        "description": "Built to order; choose the options in the quote.",
        "manufacturer": manufacturer,
        "manufacturer_part_number": f"{_initials(manufacturer)}-{configurable.sku}",
        "category": categories[family.category],
        "unspsc": family.unspsc,
        "unit": units[family.unit],
        "list_price": configurable.base_price,
        "currency": CURRENCY,
        "lead_time_days": family.lead_time_days[1],
        "is_active": True,
        "is_configurable": True,
        "attributes": {"configuration": configurable.configuration},
    }


def _seed_stock(*, products: dict[str, Product], warehouses: dict[str, Warehouse], report: SyncReport) -> None:
    rng = random.Random(RANDOM_SEED + 1)  # noqa: S311 -- a repeatable sequence, not a secret.
    rows = []
    for product in products.values():
        # Services and built-to-order products are not stocked.
        if product.unit.code == "HUR" or product.is_configurable:
            continue
        for code, warehouse in warehouses.items():
            # The regional warehouse stocks about two thirds of the range, and a
            # few items are out of stock in the central one.
            if code == "RTM" and rng.random() < 0.35:
                continue
            on_hand = 0 if rng.random() < 0.06 else rng.choice((5, 12, 20, 40, 75, 150, 400, 1200))
            # The reserved quantity is not synced: new rows start at zero, and on
            # existing rows it counts what the demo orders and later ones allocated.
            rows.append({
                "product_id": product.pk,
                "warehouse_id": warehouse.pk,
                "on_hand": Decimal(on_hand),
                "as_of": STOCK_AS_OF,
            })  # fmt: skip
    sync_rows(StockLevel, key=("product_id", "warehouse_id"), rows=rows, report=report)


def _initials(manufacturer: str) -> str:
    return "".join(word[0] for word in manufacturer.split()).upper()


def _describe_notebook(rng: random.Random) -> tuple[str, str, dict]:
    screen = rng.choice((13.3, 14, 15.6, 16))
    ram = rng.choice((8, 16, 32))
    ssd = rng.choice((256, 512, 1024))
    cores = rng.choice((4, 6, 8))
    name = f'Business notebook {screen}" {cores}-core, {ram} GB, {ssd} GB SSD'
    description = (
        f"{screen}-inch full HD matte display, {cores}-core processor, {ram} GB RAM, {ssd} GB NVMe SSD, "
        "3 years warranty."
    )
    return name, description, {"screen_inches": screen, "ram_gb": ram, "ssd_gb": ssd, "cores": cores}


def _describe_desktop(rng: random.Random) -> tuple[str, str, dict]:
    form = rng.choice(("mini PC", "small form factor PC", "tower PC"))
    ram = rng.choice((8, 16, 32))
    ssd = rng.choice((256, 512, 1024))
    name = f"Office {form}, {ram} GB, {ssd} GB SSD"
    return (
        name,
        f"Desktop {form} with {ram} GB RAM and a {ssd} GB SSD, keyboard and mouse included.",
        {
            "form_factor": form,
            "ram_gb": ram,
            "ssd_gb": ssd,
        },
    )


def _describe_monitor(rng: random.Random) -> tuple[str, str, dict]:
    size = rng.choice((22, 24, 27, 32, 34))
    resolution = rng.choice(("1920x1080", "2560x1440", "3840x2160"))
    panel = rng.choice(("IPS", "VA"))
    name = f'{size}" {panel} monitor {resolution}'
    return (
        name,
        f"{size}-inch {panel} panel, {resolution}, height-adjustable stand, USB-C and HDMI.",
        {
            "size_inches": size,
            "resolution": resolution,
            "panel": panel,
        },
    )


def _describe_keyboard(rng: random.Random) -> tuple[str, str, dict]:
    layout = rng.choice(("US", "UK", "DE", "FR", "NL"))
    kind = rng.choice(("wired", "wireless"))
    name = f"{kind.capitalize()} office keyboard, {layout} layout"
    return name, f"Full-size {kind} keyboard with numeric pad, {layout} key layout.", {"layout": layout, "kind": kind}


def _describe_mouse(rng: random.Random) -> tuple[str, str, dict]:
    kind = rng.choice(("wired", "wireless", "Bluetooth"))
    grip = rng.choice(("standard", "ergonomic vertical", "compact travel"))
    name = f"{kind.capitalize()} {grip} mouse"
    return name, f"{grip.capitalize()} optical mouse, {kind} connection.", {"kind": kind, "grip": grip}


def _describe_dock(rng: random.Random) -> tuple[str, str, dict]:
    watts = rng.choice((65, 90, 100, 135))
    displays = rng.choice((1, 2, 3))
    name = f"USB-C docking station {watts} W, {displays} display{'s' if displays > 1 else ''}"
    return (
        name,
        f"USB-C dock with {watts} W power delivery, Ethernet and {displays} video outputs.",
        {
            "power_watts": watts,
            "displays": displays,
        },
    )


def _describe_switch(rng: random.Random) -> tuple[str, str, dict]:
    ports = rng.choice((8, 16, 24, 48))
    managed = rng.choice(("unmanaged", "smart managed", "fully managed"))
    poe = rng.choice((True, False))
    name = f"{ports}-port gigabit switch, {managed}{', PoE+' if poe else ''}"
    return name, f"{ports} x 1 GbE RJ45 ports, {managed}, rack-mountable.", {"ports": ports, "poe": poe}


def _describe_patch(rng: random.Random) -> tuple[str, str, dict]:
    length = rng.choice((0.5, 1, 2, 3, 5, 10))
    category = rng.choice(("Cat6", "Cat6A"))
    colour = rng.choice(("grey", "blue", "yellow", "red"))
    name = f"{category} patch cable {length} m, {colour}"
    return (
        name,
        f"{category} S/FTP patch cable, RJ45 both ends, {length} m, {colour} sheath.",
        {
            "length_m": length,
            "category": category,
            "colour": colour,
        },
    )


def _describe_paper(rng: random.Random) -> tuple[str, str, dict]:
    size = rng.choice(("A4", "A3", "Letter"))
    weight = rng.choice((75, 80, 90, 100))
    name = f"Copy paper {size} {weight} g/m², box of 5 reams"
    return (
        name,
        f"White multipurpose paper, {size}, {weight} g/m², 5 x 500 sheets per box.",
        {
            "size": size,
            "grammage": weight,
            "sheets": 2500,
        },
    )


def _describe_pen(rng: random.Random) -> tuple[str, str, dict]:
    kind = rng.choice(("ballpoint pen", "gel pen", "permanent marker", "highlighter"))
    colour = rng.choice(("blue", "black", "red", "assorted"))
    pack = rng.choice((10, 12, 20, 50))
    name = f"{kind.capitalize()}, {colour}, box of {pack}"
    return name, f"{kind.capitalize()} in {colour}, {pack} per box.", {"colour": colour, "pack_size": pack}


def _describe_chair(rng: random.Random) -> tuple[str, str, dict]:
    kind = rng.choice(("task chair", "ergonomic office chair", "conference chair", "24-hour control room chair"))
    upholstery = rng.choice(("mesh", "fabric", "leather"))
    name = f"{kind.capitalize()}, {upholstery}"
    return name, f"{kind.capitalize()} with {upholstery} upholstery, EN 1335 tested.", {"upholstery": upholstery}


def _describe_desk(rng: random.Random) -> tuple[str, str, dict]:
    width = rng.choice((120, 140, 160, 180))
    finish = rng.choice(("white", "oak", "grey", "walnut"))
    name = f"Office desk {width} x 80 cm, {finish}"
    return (
        name,
        f"Fixed-height office desk, {width} x 80 cm top in {finish}, steel frame.",
        {
            "width_cm": width,
            "finish": finish,
        },
    )


def _describe_bolt(rng: random.Random) -> tuple[str, str, dict]:
    size = rng.choice(("M6", "M8", "M10", "M12", "M16"))
    length = rng.choice((20, 30, 40, 50, 60, 80))
    grade = rng.choice(("8.8", "10.9", "A2-70 stainless"))
    pack = rng.choice((50, 100, 200))
    name = f"Hex bolt {size} x {length} mm, {grade}, box of {pack}"
    return (
        name,
        f"ISO 4017 hexagon head bolt {size} x {length} mm, property class {grade}, {pack} per box.",
        {
            "thread": size,
            "length_mm": length,
            "grade": grade,
            "pack_size": pack,
        },
    )


def _describe_glove(rng: random.Random) -> tuple[str, str, dict]:
    kind = rng.choice(("nitrile-coated work gloves", "cut-resistant gloves level C", "leather rigger gloves"))
    size = rng.choice(("7", "8", "9", "10", "11"))
    name = f"{kind.capitalize()}, size {size}"
    return name, f"{kind.capitalize()}, EN 388, size {size}, sold by the pair.", {"size": size}


def _describe_glasses(rng: random.Random) -> tuple[str, str, dict]:
    frame = rng.choice(("wraparound", "over-the-glasses", "half-frame"))
    lens = rng.choice(("clear", "tinted", "amber"))
    coating = rng.choice(("anti-fog", "anti-scratch", "anti-fog and anti-scratch"))
    name = f"Safety glasses, {frame}, {lens} lens, {coating}"
    return (
        name,
        f"EN 166 {frame} safety spectacles with {lens} polycarbonate lens, {coating} coating.",
        {
            "frame": frame,
            "lens": lens,
        },
    )


def _describe_cable(rng: random.Random) -> tuple[str, str, dict]:
    cores = rng.choice((3, 4, 5))
    section = rng.choice(("1.5", "2.5", "4", "6"))
    kind = rng.choice(("NYM-J", "H07RN-F", "NYY-J"))
    name = f"Power cable {kind} {cores}x{section} mm², by the metre"
    return (
        name,
        f"{kind} installation cable, {cores} cores of {section} mm², cut to length.",
        {
            "type": kind,
            "cores": cores,
            "cross_section_mm2": section,
        },
    )


def _describe_grease(rng: random.Random) -> tuple[str, str, dict]:
    kind = rng.choice(("lithium multipurpose grease", "high-temperature bearing grease", "food-grade grease H1"))
    nlgi = rng.choice(("1", "2", "3"))
    viscosity = rng.choice((100, 220, 460))
    name = f"{kind.capitalize()} NLGI {nlgi}, ISO VG {viscosity}, by the kilogram"
    description = (
        f"{kind.capitalize()}, NLGI class {nlgi}, base oil ISO VG {viscosity}, sold by weight from bulk containers."
    )
    return name, description, {"nlgi": nlgi, "base_oil_iso_vg": viscosity}


def _describe_service(rng: random.Random) -> tuple[str, str, dict]:
    kind = rng.choice(("on-site IT technician", "network installation", "workplace setup", "remote support"))
    window = rng.choice(("business hours", "extended hours"))
    name = f"{kind.capitalize()}, {window}, per hour"
    return name, f"{kind.capitalize()} by a certified technician during {window}, billed per hour.", {"window": window}


_DESCRIBERS = {
    "notebook": _describe_notebook,
    "desktop": _describe_desktop,
    "monitor": _describe_monitor,
    "keyboard": _describe_keyboard,
    "mouse": _describe_mouse,
    "dock": _describe_dock,
    "switch": _describe_switch,
    "patch": _describe_patch,
    "paper": _describe_paper,
    "pen": _describe_pen,
    "chair": _describe_chair,
    "desk": _describe_desk,
    "bolt": _describe_bolt,
    "glove": _describe_glove,
    "glasses": _describe_glasses,
    "cable": _describe_cable,
    "grease": _describe_grease,
    "service": _describe_service,
}
