"""Load the demo scenario: nations, centers, a catalog, stocks backed by the ledger, counts, requests and users.

``manage.py seed_demo [--if-empty] [--password P]``

- Idempotent: nations, centers, items, users and grants are found by their natural keys; stock quantities,
  their ledger and counts are seeded only for stocks created in this run; requests only when none exist.
  Re-running resets the demo users' password to the one given, so the printed table is always true.
- Deterministic: every random choice comes from a ``random.Random`` seeded per phase.
- Every quantity is a ledger movement with an actor.  For speed the initial stock is bulk-inserted (the stock
  row with its final balance and each movement with its running ``balance_after``, hash-chained as
  ``post_movement`` would), in one transaction; every later change (requests, counts) goes through the services
  as the user whose role allows it.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from coordination import events, requisitions, runs
from coordination import services as lifecycle
from coordination.models import (
    CenterPass,
    DaysOfSupplyTarget,
    Priority,
    ReconciliationRun,
    RequestStatus,
    Requisition,
    Shortfall,
    SupplyRequest,
)
from inventory import ledger
from inventory import services as inventory
from inventory.models import (
    CenterKind,
    CountSource,
    Item,
    ItemSubstitute,
    LogisticsCenter,
    Movement,
    MovementKind,
    Stock,
    SupplyClass,
)
from nations.access import grant_role
from nations.models import Nation, ServiceAccount
from nations.roles import Role

User = get_user_model()

SEED = 2026
EMAIL_DOMAIN = "alliance-logistics.invalid"

# ISO 3166-1 alpha-3, name, NATO Codification Bureau code (the two digits in the middle of their NSNs).
NATIONS = [
    ("BEL", "Belgium", "13"),
    ("CAN", "Canada", "20"),
    ("DEU", "Germany", "12"),
    ("DNK", "Denmark", "22"),
    ("ESP", "Spain", "33"),
    ("FRA", "France", "14"),
    ("GBR", "United Kingdom", "99"),
    ("ITA", "Italy", "15"),
    ("NLD", "Netherlands", "17"),
    ("NOR", "Norway", "25"),
    ("USA", "United States", "00"),
]


@dataclass(frozen=True)
class CenterSpec:
    code: str
    name: str
    host: str
    kind: str
    latitude: str
    longitude: str
    participants: tuple[str, ...]


CENTERS = [
    CenterSpec(
        "MLC-NORTH",
        "Multinational Logistics Center North, Bardufoss",
        "NOR",
        CenterKind.MULTINATIONAL,
        "69.05580",
        "18.54040",
        ("NOR", "DNK", "GBR", "NLD", "DEU", "USA", "CAN"),
    ),
    CenterSpec(
        "MLC-CENTRAL",
        "Multinational Logistics Center Central, Grafenwöhr",
        "DEU",
        CenterKind.MULTINATIONAL,
        "49.69890",
        "11.94050",
        ("DEU", "NLD", "BEL", "FRA", "DNK", "USA", "CAN"),
    ),
    CenterSpec(
        "MLC-SOUTH",
        "Multinational Logistics Center South, Livorno",
        "ITA",
        CenterKind.MULTINATIONAL,
        "43.61260",
        "10.37330",
        ("ITA", "ESP", "FRA", "GBR", "USA"),
    ),
    CenterSpec(
        "FRA-MIRAMAS",
        "Base de soutien du matériel, Miramas",
        "FRA",
        CenterKind.NATIONAL,
        "43.57400",
        "5.00190",
        ("FRA",),
    ),
    CenterSpec(
        "GBR-BICESTER",
        "Defence Storage and Distribution Centre, Bicester",
        "GBR",
        CenterKind.NATIONAL,
        "51.90110",
        "-1.13920",
        ("GBR",),
    ),
]


@dataclass(frozen=True)
class ItemFamily:
    """Catalog entries sharing a NATO supply classification group; one item per variant."""

    nsc: str
    supply_class: str
    unit: str
    name: str  # with "{}" where the variant goes
    variants: tuple[str, ...]
    daily: tuple[int, int]  # typical daily consumption of one nation at one center, in units of issue


def _family(nsc, supply_class, unit, name, variants=("",), daily=(1, 10)) -> ItemFamily:
    return ItemFamily(nsc, supply_class, unit, name, tuple(variants), daily)


I, II, III, IV, V = SupplyClass.I, SupplyClass.II, SupplyClass.III, SupplyClass.IV, SupplyClass.V  # noqa: E741
VI, VII, VIII, IX = SupplyClass.VI, SupplyClass.VII, SupplyClass.VIII, SupplyClass.IX

CATALOG = [
    # Class I – subsistence
    _family("8970", I, "CS", "Ration pack, 24-hour, menu {}", [str(n) for n in range(1, 13)], (10, 80)),
    _family("8970", I, "CS", "Ration pack, cold weather, menu {}", ["1", "2", "3", "4"], (4, 40)),
    _family("8970", I, "CS", "Ration pack, halal, menu {}", ["1", "2", "3"], (2, 15)),
    _family("8970", I, "CS", "Ration pack, vegetarian, menu {}", ["1", "2", "3"], (2, 15)),
    _family("8970", I, "CS", "Ration, 10-person group pack, menu {}", ["A", "B", "C", "D"], (2, 20)),
    _family("8970", I, "EA", "Ration, emergency survival, 500 g", daily=(5, 40)),
    _family("8960", I, "CS", "Water, drinking, bottled, {}", ["0.5 L, case of 24", "1.5 L, case of 6"], (40, 300)),
    _family("8960", I, "L", "Water, drinking, bulk, potable", daily=(2000, 15000)),
    _family("8960", I, "BX", "Drink powder, electrolyte, box of 50 sachets", daily=(2, 20)),
    _family("8920", I, "CS", "Biscuits, brown, {}", ["250 g pack, case of 40", "fortified, case of 24"], (2, 20)),
    _family("8920", I, "KG", "Flour, wheat, {}", ["type 550", "wholemeal"], (50, 400)),
    _family("8905", I, "CS", "Meat, canned, {}, 400 g, case of 12", ["beef", "chicken", "pork"], (3, 30)),
    _family("8905", I, "CS", "Fish, canned, {}, case of 24", ["tuna", "sardines"], (2, 20)),
    _family("8915", I, "CS", "Vegetables, canned, {}, case of 12", ["mixed", "beans", "tomatoes"], (3, 25)),
    _family("8915", I, "KG", "Fruit, dried, {}", ["mixed", "apricots"], (5, 40)),
    _family("8925", I, "CS", "Chocolate bar, energy, 100 g, case of 48", daily=(2, 15)),
    _family("8925", I, "KG", "Sugar, granulated", daily=(10, 80)),
    _family("8955", I, "CS", "Coffee, instant, 200 g, case of 12", daily=(1, 10)),
    _family("8955", I, "BX", "Tea, black, bags, box of 100", daily=(1, 10)),
    _family("8950", I, "KG", "Salt, iodised", daily=(2, 15)),
    # Class II – clothing and individual equipment
    _family("8415", II, "EA", "Jacket, combat, temperate, size {}", ["S", "M", "L", "XL"], (1, 12)),
    _family("8415", II, "EA", "Trousers, combat, temperate, size {}", ["S", "M", "L", "XL"], (1, 12)),
    _family("8415", II, "EA", "Jacket, cold weather, insulated, size {}", ["M", "L", "XL"], (1, 8)),
    _family("8415", II, "EA", "Smock, snow camouflage, size {}", ["M", "L"], (1, 5)),
    _family("8415", II, "PR", "Gloves, combat, size {}", ["M", "L"], (1, 10)),
    _family("8430", II, "PR", "Boots, combat, temperate, size {}", [str(s) for s in range(40, 47)], (1, 6)),
    _family("8430", II, "PR", "Boots, cold weather, size {}", [str(s) for s in range(41, 46)], (1, 4)),
    _family("8465", II, "EA", "Sleeping bag, {}", ["arctic", "temperate"], (1, 5)),
    _family(
        "8465",
        II,
        "EA",
        "{}",
        [
            "Rucksack, 90 L",
            "Hydration bladder, 3 L",
            "Entrenching tool, folding",
            "Canteen, 1 L, with cup",
            "Sleeping mat, closed-cell",
        ],
        (1, 6),
    ),
    _family("8470", II, "EA", "Helmet, combat, ballistic, size {}", ["M", "L", "XL"], (1, 3)),
    _family("8470", II, "EA", "Plate, body armour, ceramic, size {}", ["M", "L"], (1, 3)),
    _family("8340", II, "EA", "Tent, {}", ["modular, 10-person", "arctic, 4-person"], (1, 2)),
    _family("6230", II, "EA", "Flashlight, tactical, LED", daily=(1, 5)),
    _family("6135", II, "BX", "Battery, AA, alkaline, box of 24", daily=(2, 20)),
    _family("6135", II, "EA", "Battery, lithium, BA-5590", daily=(5, 40)),
    _family("7240", II, "EA", "Jerrycan, {}, 20 L", ["water", "fuel"], (1, 8)),
    # Class III – fuels and lubricants
    _family("9130", III, "L", "Fuel, aviation turbine, F-34 (JP-8)", daily=(10000, 80000)),
    _family("9130", III, "L", "Fuel, aviation turbine, F-35 (Jet A-1)", daily=(5000, 40000)),
    _family("9130", III, "L", "Gasoline, automotive, unleaded", daily=(500, 4000)),
    _family("9140", III, "L", "Fuel, diesel, F-54", daily=(8000, 60000)),
    _family("9140", III, "L", "Fuel, diesel, arctic grade", daily=(2000, 15000)),
    _family("9140", III, "L", "Fuel, naval distillate, F-76", daily=(5000, 30000)),
    _family("9150", III, "EA", "Oil, engine, SAE 15W-40, {}", ["1 L can", "20 L can"], (10, 120)),
    _family("9150", III, "DR", "Oil, engine, SAE 15W-40, 208 L drum", daily=(1, 4)),
    _family("9150", III, "EA", "Oil, gear, SAE 80W-90, {}", ["1 L can", "20 L can"], (5, 60)),
    _family("9150", III, "EA", "Hydraulic fluid, petroleum base, {}", ["1 L can", "20 L can"], (5, 60)),
    _family("9150", III, "DR", "Hydraulic fluid, petroleum base, 208 L drum", daily=(1, 3)),
    _family("9150", III, "EA", "Grease, automotive and artillery (GAA), 400 g cartridge", daily=(5, 40)),
    _family("9150", III, "EA", "Lubricant, weapons, cleaner-lubricant-preservative (CLP), 120 ml", daily=(10, 60)),
    _family("6850", III, "EA", "Coolant, antifreeze, ethylene glycol, {}", ["5 L can", "20 L can"], (5, 40)),
    _family("6850", III, "EA", "Fuel additive, icing inhibitor, 1 L", daily=(5, 40)),
    # Class IV – construction and barrier material
    _family("5680", IV, "RO", "Wire, concertina, barbed tape, {}", ["10 m coil", "15 m coil"], (5, 60)),
    _family("5680", IV, "EA", "Barrier, defensive, earth-filled, {}", ["0.6 m", "1.0 m", "1.4 m", "2.1 m"], (2, 30)),
    _family("5680", IV, "EA", "Barrier, concrete, jersey type, 3 m", daily=(1, 10)),
    _family("5680", IV, "EA", "Picket, steel, screw, {}", ["0.6 m", "1.2 m"], (10, 80)),
    _family("5660", IV, "RO", "Wire, barbed, 400 m reel", daily=(2, 20)),
    _family("5660", IV, "RO", "Fence, chain link, 2 m, 25 m roll", daily=(1, 10)),
    _family("8105", IV, "BX", "Sandbag, polypropylene, bale of {}", ["500", "1000"], (2, 30)),
    _family("5510", IV, "EA", "Timber, softwood, {}", ["50 x 100 mm, 4.8 m", "100 x 100 mm, 4.8 m"], (10, 80)),
    _family("5530", IV, "EA", "Plywood, exterior, 1220 x 2440 mm, {}", ["12 mm", "18 mm"], (5, 40)),
    _family("5315", IV, "BX", "Nails, wire, {}, 5 kg box", ["75 mm", "100 mm", "150 mm"], (1, 10)),
    _family("5610", IV, "EA", "Cement, Portland, 25 kg bag", daily=(10, 100)),
    _family("4010", IV, "M", "Chain, welded steel, 10 mm", daily=(5, 40)),
    _family("8340", IV, "EA", "Tarpaulin, heavy duty, {}", ["4 x 6 m", "6 x 8 m"], (1, 10)),
    _family("8135", IV, "RO", "Sheeting, polyethylene, 4 x 50 m roll", daily=(1, 8)),
    _family("5340", IV, "EA", "Gabion, mesh, welded, 1 x 1 x 1 m", daily=(2, 20)),
    # Class V – ammunition
    _family(
        "1305",
        V,
        "RD",
        "Cartridge, 5.56 mm, {}",
        ["ball (SS109)", "tracer", "ball and tracer, linked 4:1", "blank", "frangible, training"],
        (500, 8000),
    ),
    _family(
        "1305",
        V,
        "RD",
        "Cartridge, 7.62 mm, {}",
        ["ball", "tracer", "ball and tracer, linked 4:1", "blank", "sniper, match grade"],
        (300, 5000),
    ),
    _family("1305", V, "RD", "Cartridge, 9 mm, {}", ["ball (parabellum)", "frangible, training"], (100, 2000)),
    _family(
        "1305",
        V,
        "RD",
        "Cartridge, 12.7 mm, {}",
        ["ball, linked", "armour-piercing incendiary, linked", "multi-purpose, linked 4:1"],
        (100, 1500),
    ),
    _family("1305", V, "RD", "Cartridge, 30 mm, {}", ["HEI-T, linked", "APFSDS-T, linked", "TP-T, linked"], (50, 600)),
    _family(
        "1310",
        V,
        "RD",
        "Cartridge, 40 mm, {}",
        ["HE, low velocity", "HEDP, high velocity, linked", "practice, low velocity", "smoke, low velocity"],
        (20, 400),
    ),
    _family("1315", V, "RD", "Cartridge, 81 mm, mortar, {}", ["HE", "smoke", "illuminating", "practice"], (10, 200)),
    _family("1315", V, "RD", "Cartridge, 120 mm, mortar, {}", ["HE", "smoke", "illuminating"], (5, 120)),
    _family("1315", V, "RD", "Cartridge, 120 mm, tank, {}", ["APFSDS-T", "HEAT-MP-T", "TP-T"], (5, 80)),
    _family("1315", V, "RD", "Cartridge, 84 mm, recoilless, {}", ["HEAT", "HEDP", "illuminating"], (2, 40)),
    _family(
        "1320",
        V,
        "RD",
        "Projectile, 155 mm, {}",
        ["HE, base bleed", "HE", "smoke", "illuminating", "practice"],
        (20, 400),
    ),
    _family("1320", V, "EA", "Charge, propelling, 155 mm, modular, {}", ["zone 1-2", "zone 3-6"], (20, 400)),
    _family(
        "1330",
        V,
        "EA",
        "Grenade, hand, {}",
        ["fragmentation", "smoke, white", "smoke, green", "smoke, red", "stun"],
        (10, 150),
    ),
    _family("1340", V, "EA", "Rocket, 66 mm, light anti-armour weapon", daily=(1, 20)),
    _family("1370", V, "EA", "Signal, illumination, hand-held, parachute, {}", ["white", "red", "green"], (5, 60)),
    _family("1370", V, "EA", "Flare, trip, surface", daily=(5, 40)),
    _family("1375", V, "EA", "Charge, demolition, plastic explosive, 0.5 kg", daily=(2, 30)),
    _family("1375", V, "M", "Cord, detonating, 10 g/m", daily=(20, 200)),
    _family("1375", V, "EA", "Igniter, time blasting fuse", daily=(5, 50)),
    _family("1390", V, "EA", "Fuze, artillery, {}", ["point detonating", "multi-option", "proximity"], (10, 200)),
    _family("1390", V, "EA", "Primer, percussion, artillery", daily=(20, 400)),
    # Class VI – personal demand items
    _family("8520", VI, "BX", "Soap, toilet, 100 g, box of 48", daily=(1, 8)),
    _family("8540", VI, "CS", "Paper, toilet, case of 48 rolls", daily=(2, 15)),
    _family(
        "8530",
        VI,
        "BX",
        "{}",
        [
            "Toothpaste, 75 ml, box of 48",
            "Razor, disposable, box of 100",
            "Sunscreen, SPF 50, box of 24",
            "Insect repellent, box of 24",
        ],
        (1, 6),
    ),
    # Class VII – major end items
    _family("6115", VII, "EA", "Generator set, diesel, {}", ["10 kW", "60 kW"], (0, 0)),
    _family("2320", VII, "EA", "Truck, cargo, 8x8, 15 t, with crane", daily=(0, 0)),
    _family("2330", VII, "EA", "Trailer, tank, fuel, 10 000 L", daily=(0, 0)),
    _family("4610", VII, "EA", "Water purification unit, mobile, 2000 L/h", daily=(0, 0)),
    # Class VIII – medical supplies
    _family(
        "6505",
        VIII,
        "BX",
        "{}",
        [
            "Paracetamol tablets, 500 mg, box of 100",
            "Ibuprofen tablets, 400 mg, box of 100",
            "Amoxicillin capsules, 500 mg, box of 21",
            "Ondansetron tablets, 4 mg, box of 10",
        ],
        (1, 10),
    ),
    _family(
        "6505",
        VIII,
        "EA",
        "{}",
        [
            "Morphine auto-injector, 10 mg",
            "Tranexamic acid, 1 g, ampoule",
            "Sodium chloride infusion, 0.9 %, 1000 ml",
            "Ringer's lactate infusion, 1000 ml",
        ],
        (2, 30),
    ),
    _family(
        "6510",
        VIII,
        "EA",
        "{}",
        ["Bandage, emergency, 6 in", "Dressing, haemostatic, gauze, z-folded", "Dressing, chest seal, vented"],
        (5, 40),
    ),
    _family("6510", VIII, "PG", "Gauze, sterile, 10 x 10 cm, pack of 100", daily=(1, 10)),
    _family(
        "6515",
        VIII,
        "EA",
        "{}",
        [
            "Tourniquet, combat application",
            "Airway, nasopharyngeal, 28 Fr",
            "Needle, decompression, 14 G",
            "Splint, malleable, 36 in",
        ],
        (2, 25),
    ),
    _family("6515", VIII, "BX", "Syringe, single use, 10 ml, box of 100", daily=(1, 5)),
    _family("6530", VIII, "EA", "Stretcher, folding, NATO standard", daily=(1, 3)),
    _family(
        "6545",
        VIII,
        "EA",
        "{}",
        ["First aid kit, individual (IFAK)", "Medical kit, combat medic", "Burn kit", "Trauma kit, vehicle"],
        (1, 20),
    ),
    # Class IX – repair parts
    _family("2610", IX, "EA", "Tyre, pneumatic, {}", ["395/85 R20", "14.00 R20", "335/80 R20", "12.5 R20"], (1, 8)),
    _family(
        "2940",
        IX,
        "EA",
        "Filter element, engine air, {}",
        ["wheeled APC", "main battle tank", "4x4 utility vehicle", "8x8 cargo truck"],
        (1, 6),
    ),
    _family(
        "2940",
        IX,
        "EA",
        "Filter, engine oil, {}",
        ["wheeled APC", "main battle tank", "4x4 utility vehicle", "8x8 cargo truck"],
        (1, 8),
    ),
    _family("6140", IX, "EA", "Battery, storage, lead-acid, {}", ["12 V, 6TL", "24 V, 100 Ah"], (1, 6)),
    _family("2530", IX, "SE", "Brake pad set, {}", ["4x4 utility vehicle", "8x8 cargo truck"], (1, 4)),
    _family("2920", IX, "EA", "{}", ["Alternator, 28 V", "Starter motor, 24 V"], (1, 2)),
    _family("4720", IX, "EA", "Hose assembly, hydraulic, {}", ["0.5 m", "1.0 m", "2.0 m"], (1, 5)),
    _family("5330", IX, "SE", "Gasket set, engine, {}", ["wheeled APC", "8x8 cargo truck"], (1, 2)),
]

# Alliance-level days-of-supply targets that differ from the default (nation, supply class, days).
DAYS_OF_SUPPLY_TARGETS = [
    ("NOR", III, 30),
    ("NOR", I, 30),
    ("DNK", III, 20),
    ("USA", V, 30),
    ("GBR", V, 30),
    ("DEU", V, 30),
    ("FRA", V, 30),
    ("ITA", VIII, 20),
    ("CAN", I, 20),
    ("NLD", III, 20),
]

RECEIPT_REASONS = [
    "Initial stock from national depot",
    "Replenishment convoy",
    "Delivery from contractor",
    "Strategic lift, sealift consignment",
]
ISSUE_REASONS = [
    "Issue to battlegroup",
    "Issue to brigade support battalion",
    "Exercise consumption",
    "Issue to field hospital",
    "Issue to engineer company",
]
ADJUSTMENT_REASONS = [
    (-1, "Write-off: damaged in storage"),
    (-1, "Write-off: expired shelf life"),
    (1, "Found during inventory"),
    (-1, "Loss in transit, board of inquiry"),
]
# Shares of the stocks planned exhausted, below their safety level, and above it but under their days-of-supply
# target: about 8% of the demo's stocks are then below safety and 14% flagged at all (a first reconciliation raises
# some 1,000 flags over about 650 stocks, not a third of the portal).
STOCK_SHORTAGES = (0.02, 0.06, 0.06)
EXERCISES = {"MLC-NORTH": "COLD RESPONSE", "MLC-CENTRAL": "STEADFAST DEFENDER", "MLC-SOUTH": "TRIDENT JUNCTURE"}


@dataclass
class DemoUsers:
    logistics: dict[str, object] = field(default_factory=dict)  # nation code -> user
    liaison: dict[str, object] = field(default_factory=dict)
    system: dict[str, object] = field(default_factory=dict)
    operators: dict[str, object] = field(default_factory=dict)  # center code -> user
    coordinator: object = None
    admin: object = None
    table: list[tuple[str, str, str]] = field(default_factory=list)  # (username, role, for)


def _rng(phase: str) -> random.Random:
    """An independent generator per phase, so skipping one phase never changes what another one creates."""
    return random.Random(f"{SEED}:{phase}")


class DemoScenario:
    def __init__(self, *, password: str):
        self.password = password
        self.now = timezone.now()
        self.created: Counter[str] = Counter()

    def load(self) -> DemoUsers:
        self.nations = self.load_nations()
        self.centers = self.load_centers()
        self.users = self.load_users()
        self.load_targets()
        self.items = self.load_items()
        new_stocks = self.load_stocks()
        self.load_releases(new_stocks)
        self.load_counts(new_stocks)
        self.load_requests()
        self.load_substitutes()
        self.load_requisitions()
        self.reconcile(first_time=bool(new_stocks))
        return self.users

    # --- reference data ----------------------------------------------------------------------------------------

    def load_nations(self) -> dict[str, Nation]:
        nations = {}
        for code, name, ncb in NATIONS:
            nations[code], created = Nation.objects.get_or_create(code=code, defaults={"name": name, "ncb_code": ncb})
            self.created["nations"] += created
        return nations

    def load_centers(self) -> dict[str, LogisticsCenter]:
        centers = {}
        for spec in CENTERS:
            center, created = LogisticsCenter.objects.get_or_create(
                code=spec.code,
                defaults={
                    "name": spec.name,
                    "host_nation": self.nations[spec.host],
                    "kind": spec.kind,
                    "latitude": Decimal(spec.latitude),
                    "longitude": Decimal(spec.longitude),
                },
            )
            center.participants.add(*(self.nations[code] for code in spec.participants))
            centers[spec.code] = center
            self.created["centers"] += created
        return centers

    def load_users(self) -> DemoUsers:
        # One hash for every demo user: hashing is deliberately slow, and they all share one password anyway.
        password_hash = make_password(self.password)
        users = DemoUsers()

        def person(username: str, **extra):
            user, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@{EMAIL_DOMAIN}", **extra}
            )
            if user.password != password_hash or any(getattr(user, k) != v for k, v in extra.items()):
                user.password = password_hash
                for key, value in extra.items():
                    setattr(user, key, value)
                user.save()
            self.created["users"] += created
            return user

        for code in self.nations:
            nation = self.nations[code]
            users.logistics[code] = person(f"{code.lower()}-logistics")
            grant_role(users.logistics[code], Role.LOGISTICS, nation)
            users.table.append((users.logistics[code].username, Role.LOGISTICS.label, code))
            users.liaison[code] = person(f"{code.lower()}-liaison")
            grant_role(users.liaison[code], Role.LIAISON, nation)
            users.table.append((users.liaison[code].username, Role.LIAISON.label, code))
        for code, center in self.centers.items():
            users.operators[code] = person(f"{code.lower()}-operator")
            grant_role(users.operators[code], Role.OPERATOR, center)
            users.table.append((users.operators[code].username, Role.OPERATOR.label, code))
        users.coordinator = person("coordinator")
        grant_role(users.coordinator, Role.COORDINATOR)
        users.table.append(("coordinator", Role.COORDINATOR.label, "alliance"))
        users.admin = person("admin", is_staff=True, is_superuser=True)
        users.table.append(("admin", "Administrator (superuser)", "Django admin"))

        for code, nation in self.nations.items():
            username = f"{code.lower()}-system"
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            ServiceAccount.objects.get_or_create(
                user=user, defaults={"nation": nation, "description": f"{nation.name} national logistics system"}
            )
            grant_role(user, Role.LOGISTICS, nation)
            users.system[code] = user
            users.table.append((username, "National system (API tokens only)", code))
            self.created["users"] += created
        return users

    def load_targets(self) -> None:
        self.targets = {(code, supply_class): days for code, supply_class, days in DAYS_OF_SUPPLY_TARGETS}
        for code, supply_class, days in DAYS_OF_SUPPLY_TARGETS:
            _, created = DaysOfSupplyTarget.objects.get_or_create(
                nation=self.nations[code], supply_class=supply_class, defaults={"days": days}
            )
            self.created["days-of-supply targets"] += created

    def load_items(self) -> list[Item]:
        """The catalog: one item per family variant, its NSN built from the family's supply classification
        group, the NCB code of a seeded nation, and a serial drawn from a seeded generator."""
        rng = _rng("items")
        ncbs = sorted(ncb for _, _, ncb in NATIONS)
        wanted: dict[str, Item] = {}
        for family in CATALOG:
            for variant in family.variants:
                while True:
                    serial = rng.randrange(10_000_000)
                    nsn = f"{family.nsc}-{rng.choice(ncbs)}-{serial // 10_000:03d}-{serial % 10_000:04d}"
                    if nsn not in wanted:
                        break
                wanted[nsn] = Item(
                    nsn=nsn,
                    name=family.name.format(variant).strip(", "),
                    supply_class=family.supply_class,
                    unit_of_issue=family.unit,
                )
        existing = set(Item.objects.filter(nsn__in=wanted).values_list("nsn", flat=True))
        Item.objects.bulk_create([item for nsn, item in wanted.items() if nsn not in existing])
        self.created["items"] += len(wanted) - len(existing)
        self.daily_range = {}
        for family in CATALOG:
            for variant in family.variants:
                self.daily_range[family.name.format(variant).strip(", ")] = family.daily
        return list(Item.objects.filter(nsn__in=wanted).order_by("nsn"))

    # --- stocks and their ledger -------------------------------------------------------------------------------

    def load_stocks(self) -> list[Stock]:
        """Stocks for every participant of every center, each booked as a short history of movements.

        Only stocks that do not exist yet are created and given quantities: an existing stock's books are
        left alone."""
        rng = _rng("stocks")
        existing = set(Stock.objects.values_list("nation_id", "center_id", "item_id"))
        new_stocks: list[Stock] = []
        histories: list[list[tuple[str, int, int, str]]] = []  # per new stock: (kind, quantity, days ago, reason)
        for spec in CENTERS:
            center = self.centers[spec.code]
            share = 0.5 if spec.kind == CenterKind.NATIONAL else 0.95
            for code in sorted(spec.participants):
                nation = self.nations[code]
                held = rng.sample(self.items, round(len(self.items) * rng.uniform(share - 0.1, share)))
                for item in sorted(held, key=lambda i: i.nsn):
                    stock, history = self._plan_stock(rng, nation, center, item, spec)
                    if (nation.pk, center.pk, item.pk) in existing:
                        continue
                    new_stocks.append(stock)
                    histories.append(history)
        Stock.objects.bulk_create(new_stocks, batch_size=500)
        movements = []
        for stock, history in zip(new_stocks, histories, strict=True):
            balance = 0
            first = len(movements)
            for kind, quantity, days_ago, reason in history:
                balance += quantity
                actor = (self.users.system if kind == MovementKind.ISSUE and days_ago % 2 else self.users.logistics)[
                    stock.nation.code
                ]
                movements.append(
                    Movement(
                        stock=stock,
                        center_id=stock.center_id,
                        kind=kind,
                        quantity=quantity,
                        balance_after=balance,
                        actor=actor,
                        reason=reason,
                        occurred_at=self.now - timedelta(days=days_ago, hours=rng.randrange(6, 18)),
                    )
                )
            assert balance == stock.on_hand, (stock, balance)
            # chained in the order they are inserted (ids ascending), as post_movement would have
            stock.ledger_head = ledger.seal_chain(movements[first:], stock.ledger_head)
        Movement.objects.bulk_create(movements, batch_size=1000)
        Stock.objects.bulk_update(new_stocks, ["ledger_head"], batch_size=500)
        self.created["stocks"] += len(new_stocks)
        self.created["movements"] += len(movements)
        return new_stocks

    def _plan_stock(
        self, rng: random.Random, nation: Nation, center: LogisticsCenter, item: Item, spec: CenterSpec
    ) -> tuple[Stock, list[tuple[str, int, int, str]]]:
        low, high = self.daily_range[item.name]
        daily = Decimal(rng.uniform(low, high)).quantize(Decimal("0.01")) if high else Decimal("0")
        # major end items are not consumed: a small fleet is held in reserve instead
        safety = max(1, round(float(daily) * rng.uniform(3, 7))) if daily else rng.randrange(0, 3)
        # what the nation wants to hold (days of supply) for the item's class
        target = float(daily) * self.targets.get(
            (nation.code, item.supply_class), settings.DEFAULT_DAYS_OF_SUPPLY_TARGET
        )
        # Most stocks are where their nation wants them; a minority is short (STOCK_SHORTAGES): below safety or
        # even exhausted (critical), or above safety but under the days-of-supply target.
        roll = rng.random()
        exhausted, below_safety, under_target = STOCK_SHORTAGES
        if roll < exhausted:
            on_hand = 0
        elif roll < exhausted + below_safety:
            on_hand = round(safety * rng.uniform(0.1, 0.95))
        elif daily and roll < exhausted + below_safety + under_target:
            on_hand = round(rng.uniform(safety, max(safety, target * 0.95)))
        elif daily:
            on_hand = round(max(target, safety) * rng.uniform(1.1, 3))
        else:
            on_hand = rng.randrange(2, 25)
        history = self._plan_history(rng, on_hand, daily)
        on_hand = sum(q for _, q, _, _ in history)
        stock = Stock(
            nation=nation,
            center=center,
            item=item,
            on_hand=on_hand,
            reserved=0,
            safety_level=safety,
            daily_consumption=daily,
            shared=spec.kind == CenterKind.MULTINATIONAL and rng.random() < 0.65,
        )
        return stock, history

    @staticmethod
    def _plan_history(rng: random.Random, on_hand: int, daily: Decimal) -> list[tuple[str, int, int, str]]:
        """Signed movements, oldest first, that end at `on_hand` and never take the balance below zero.

        All of them lie two days or more in the past, before the demo counts (which are at most 48 h old)."""
        start = rng.randrange(60, 90)
        day = start
        later: list[tuple[str, int, int, str]] = []
        if daily:
            for _ in range(rng.randrange(0, 3)):
                day = rng.randrange(max(day - 25, 3), day)
                later.append(
                    (
                        MovementKind.ISSUE,
                        -max(1, round(float(daily) * rng.uniform(2, 12))),
                        day,
                        rng.choice(ISSUE_REASONS),
                    )
                )
            if rng.random() < 0.3:
                day = rng.randrange(max(day - 10, 3), day)
                later.append(
                    (
                        MovementKind.RECEIPT,
                        max(1, round(float(daily) * rng.uniform(3, 10))),
                        day,
                        rng.choice(RECEIPT_REASONS),
                    )
                )
            if on_hand == 0 and not later:  # exhausted: everything received has been issued
                later.append(
                    (
                        MovementKind.ISSUE,
                        -max(1, round(float(daily) * 5)),
                        rng.randrange(3, start),
                        rng.choice(ISSUE_REASONS),
                    )
                )
        if on_hand and rng.random() < 0.08:
            sign, reason = rng.choice(ADJUSTMENT_REASONS)
            later.append((MovementKind.ADJUSTMENT, sign * max(1, on_hand // 50), 2, reason))
        first = on_hand - sum(q for _, q, _, _ in later)
        balance, lowest = first, first
        for _, quantity, _, _ in later:
            balance += quantity
            lowest = min(lowest, balance)
        if first <= 0 or lowest < 0:  # the extras do not fit this balance: one receipt says it all
            later, first = [], on_hand
        if first == 0:
            return []
        return [(MovementKind.RECEIPT, first, start, rng.choice(RECEIPT_REASONS)), *later]

    # (owner, center, releasable to): a few private stocks released to named nations (REL TO), so the marking,
    # the filter and sourcing by release show in the demo.  GBR releases national stock at Bicester to the USA,
    # which does not take part there: an explicit release needs no participation.
    RELEASES = [
        ("DEU", "MLC-CENTRAL", ("FRA", "NLD")),
        ("USA", "MLC-NORTH", ("CAN", "GBR")),
        ("ITA", "MLC-SOUTH", ("ESP", "FRA")),
        ("GBR", "GBR-BICESTER", ("USA",)),
    ]

    def load_releases(self, new_stocks: list[Stock]) -> None:
        """Release a few new private stocks through the service (audited, in the change history)."""
        rng = _rng("releases")
        for owner, center, nations in self.RELEASES:
            candidates = [
                s
                for s in new_stocks
                if s.nation.code == owner and s.center.code == center and not s.shared and not s.below_safety
            ]
            for stock in rng.sample(candidates, min(3, len(candidates))):
                inventory.update_stock_settings(
                    stock=stock, actor=self.users.logistics[owner], releasable_to=list(nations)
                )
                self.created["stocks released to named nations"] += 1

    def load_counts(self, new_stocks: list[Stock]) -> None:
        """A few physical counts, mostly agreeing with the books, some short (for reconciliation to find)."""
        rng = _rng("counts")
        candidates = [s for s in new_stocks if s.on_hand > 0]
        for stock in rng.sample(candidates, min(60, len(candidates))):
            by_system = rng.random() < 0.3
            counted = stock.on_hand if rng.random() < 0.75 else max(0, stock.on_hand - rng.randrange(1, 6))
            inventory.record_count(
                stock=stock,
                counted_quantity=counted,
                counted_by=self.users.system[stock.nation.code]
                if by_system
                else self.users.operators[stock.center.code],
                counted_at=self.now - timedelta(hours=rng.randrange(2, 48)),
                source=CountSource.NATIONAL_SYSTEM if by_system else CountSource.OPERATOR,
                note="Stock report from national system" if by_system else "Quarterly physical inventory",
            )
            self.created["stock counts"] += 1

    # --- a first reconciliation ----------------------------------------------------------------------------------

    def reconcile(self, *, first_time: bool) -> None:
        """Reconcile every center once, in-process, as a scheduled run would: a fresh portal shows its shortfalls
        and discrepancies instead of none.  A re-run that created no stock leaves the flags to the schedule."""
        if not first_time and CenterPass.objects.exists():
            return
        run = ReconciliationRun.objects.create(trigger="seed_demo", centers_total=len(self.centers))
        for center_id in runs.begin_run(run.pk) or []:
            runs.work_center(run.pk, center_id)
        run = runs.finish_run(run.pk)
        flagged = Shortfall.objects.filter(resolved_at__isnull=True)
        self.created["shortfalls flagged"] += flagged.count()
        self.created["stocks flagged"] += flagged.exclude(stock=None).values("stock").distinct().count()

    # --- supply requests through the lifecycle services --------------------------------------------------------

    # the final status of each demo request, and how many of each
    REQUEST_PLAN = [
        (RequestStatus.DRAFT, 4),
        (RequestStatus.SUBMITTED, 6),
        (RequestStatus.APPROVED, 5),
        (RequestStatus.DISPATCHED, 4),
        (RequestStatus.RECEIVED, 6),
        (RequestStatus.REJECTED, 3),
        (RequestStatus.CANCELLED, 3),
    ]

    def load_requests(self) -> None:
        if SupplyRequest.objects.exists():
            return
        rng = _rng("requests")
        suppliers = list(
            Stock.objects.filter(center__kind=CenterKind.MULTINATIONAL, shared=True, on_hand__gte=50)
            .exclude(daily_consumption=0)
            .select_related("nation", "center", "item")
            .order_by("pk")
        )
        suppliers = [s for s in suppliers if not s.below_safety]
        plan = [status for status, count in self.REQUEST_PLAN for _ in range(count)]
        for index, (final, stock) in enumerate(zip(plan, rng.sample(suppliers, len(plan)), strict=True)):
            self._request(rng, index, final, stock)
            self.created[f"requests ({final})"] += 1

    def _request(self, rng: random.Random, index: int, final: str, stock: Stock) -> SupplyRequest:
        spec = next(s for s in CENTERS if s.code == stock.center.code)
        requester_code = rng.choice([c for c in sorted(spec.participants) if c != stock.nation.code])
        destinations = sorted(s.code for s in CENTERS if requester_code in s.participants)
        destination = self.centers[rng.choice(destinations)]
        quantity = max(1, min(stock.available // 5, round(float(stock.daily_consumption) * rng.uniform(3, 10))))
        requester = self.users.logistics[requester_code]
        supplier_liaison = self.users.liaison[stock.nation.code]
        exercise = EXERCISES[stock.center.code]
        request = lifecycle.create_request(
            requester=requester,
            requesting_nation=self.nations[requester_code],
            supplying_nation=stock.nation,
            item=stock.item,
            source_center=stock.center,
            destination_center=destination,
            quantity=quantity,
            required_by=timezone.localdate() + timedelta(days=rng.randrange(3, 30)),
            justification=f"{rng.choice(['Replenish', 'Build up', 'Top up'])} "
            f"{self.nations[requester_code].name}'s stock of {stock.item.name.lower()} for exercise "
            f"{exercise}; national resupply arrives too late.",
            priority=rng.choices(Priority.values, weights=[1, 3, 6])[0],
        )
        if final == RequestStatus.DRAFT:
            return request
        if final == RequestStatus.CANCELLED and index % 3 == 0:
            return lifecycle.cancel_request(request=request, actor=requester, comment="Raised in error.")
        request = lifecycle.submit_request(request=request, actor=requester)
        if final == RequestStatus.SUBMITTED:
            return request
        if final == RequestStatus.REJECTED:
            return lifecycle.reject_request(
                request=request,
                approver=supplier_liaison,
                reason=rng.choice(
                    [
                        "Stock is earmarked for national operations.",
                        "Approving would take our stock below its safety level.",
                        "Not interchangeable with your equipment; ask for the national variant.",
                    ]
                ),
            )
        if final == RequestStatus.CANCELLED and index % 3 == 1:
            return lifecycle.cancel_request(
                request=request, actor=requester, comment="Requirement met from national stock."
            )
        approved = quantity if rng.random() < 0.6 else max(1, quantity * 3 // 4)
        request = lifecycle.approve_request(
            request=request,
            approver=supplier_liaison,
            quantity=approved,
            comment="Approved." if approved == quantity else "Approved in part; the rest is needed for national tasks.",
        )
        if final == RequestStatus.APPROVED:
            return request
        if final == RequestStatus.CANCELLED:
            return lifecycle.cancel_request(request=request, actor=requester, comment="Exercise postponed.")
        dispatcher = self.users.operators[stock.center.code] if index % 2 else self.users.logistics[stock.nation.code]
        request = lifecycle.dispatch_request(request=request, actor=dispatcher, comment="Loaded on convoy.")
        if final == RequestStatus.DISPATCHED:
            return request
        receiver = self.users.operators[destination.code] if index % 2 else requester
        short = index % 5 == 0 and approved > 1
        return lifecycle.receive_request(
            request=request,
            actor=receiver,
            quantity=approved - 1 if short else approved,
            comment="One unit damaged in transit." if short else "Received complete.",
        )

    # --- substitutes and requisitions ---------------------------------------------------------------------------

    def load_substitutes(self) -> None:
        """The 24-hour ration pack's menus stand in for one another (menu n and n+1, both ways)."""
        menus = list(Item.objects.filter(name__startswith="Ration pack, 24-hour, menu").order_by("nsn"))
        menus.sort(key=lambda item: int(item.name.rsplit(" ", 1)[1]))
        for item, substitute in zip(menus, menus[1:], strict=False):
            _, made = ItemSubstitute.objects.get_or_create(item=item, substitute=substitute, defaults={"two_way": True})
            self.created["substitutes"] += made

    def load_requisitions(self) -> None:
        """FRA's resupply requisition for MLC-CENTRAL, submitted and sourced (DEU approves its lines, one of them
        short; ITA refuses one: a backorder to re-source), and a DEU draft."""
        if Requisition.objects.exists():
            return
        rng = _rng("requisitions")
        for code, destination, lines, submit in (("FRA", "MLC-CENTRAL", 10, True), ("DEU", "MLC-CENTRAL", 3, False)):
            nation, center = self.nations[code], self.centers[destination]
            offered = (
                Stock.objects.filter(shared=True, center__participants=nation)
                .exclude(nation=nation)
                .filter(on_hand__gt=F("reserved") + F("safety_level") + 20)
                .values_list("item_id", flat=True)
                .distinct()
            )
            items = list(Item.objects.filter(pk__in=offered).order_by("nsn"))
            chosen = rng.sample(items, min(lines, len(items)))
            requisition = requisitions.create_requisition(
                requester=self.users.logistics[code],
                requesting_nation=nation,
                destination_center=center,
                required_by=timezone.localdate() + timedelta(days=14),
                urgency="B",
                justification=f"Resupply of {nation.name}'s battlegroup for exercise {EXERCISES[destination]}.",
                lines=[requisitions.LineInput(item=item, quantity=rng.randrange(5, 20)) for item in chosen],
                submit=submit,
            )
            self.created["requisitions"] += 1
            if submit:
                self._decide_requisition(rng, requisition)

    def _decide_requisition(self, rng: random.Random, requisition) -> None:
        refused = False
        for request in requisition.requests.select_related("supplying_nation").order_by("pk"):
            liaison = self.users.liaison[request.supplying_nation.code]
            if not refused and rng.random() < 0.3:
                lifecycle.reject_request(request=request, approver=liaison, reason="Earmarked for national tasks.")
                refused = True
            elif rng.random() < 0.6:
                short = rng.random() < 0.3 and request.quantity_requested > 1
                lifecycle.approve_request(
                    request=request,
                    approver=liaison,
                    quantity=request.quantity_requested // 2 if short else None,
                    comment="Approved in part." if short else "",
                )


class Command(BaseCommand):
    help = (
        "Load the demo scenario: nations, centers, catalog, stocks and their ledger, counts, supply requests "
        "in every status, and one user per role. Safe to re-run: nothing is duplicated."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the database already holds nations."
        )
        parser.add_argument("--password", help="Password of every demo user (default: settings.DEMO_PASSWORD).")

    def handle(self, *args, if_empty: bool = False, password: str | None = None, **options):
        if if_empty and Nation.objects.exists():
            self.stdout.write("The database already holds nations: demo data not loaded (--if-empty).")
            return
        password = password or settings.DEMO_PASSWORD
        started = time.monotonic()
        scenario = DemoScenario(password=password)
        # the demo's requests and flags are history, not news: notifications yes, e-mails (hundreds) no
        with transaction.atomic(), events.without_email():
            users = scenario.load()
        elapsed = time.monotonic() - started

        created = ", ".join(f"{count} {what}" for what, count in scenario.created.items() if count)
        self.stdout.write(self.style.SUCCESS(f"Demo scenario loaded in {elapsed:.1f} s: {created or 'nothing new'}."))
        self.stdout.write(self._users_table(users))
        self.stdout.write(f"Password for every demo user: {password}")
        self.stdout.write("(except the national systems, <code>-system, which have none: they use API tokens)")

    @staticmethod
    def _users_table(users: DemoUsers) -> str:
        rows = [("User", "Role", "For"), *users.table]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)
