"""What the catalog benchmarks share: databases, synthetic data, CPU accounting.

Creates and drops the throw-away `mk_bench_*` databases on the local PostgreSQL; makes
vendors, a ~50-category tree (3 levels) and product text from a word list, written with
COPY (`Copier` adapts to a table's current columns, so a schema that has moved on shows up
as a printed note instead of a crash); reads processes' and the machine's CPU time from
/proc. Nothing here measures by itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------------------
# Vocabulary: titles and descriptions are built from these; search words are picked among
# the content words by their measured frequency after seeding.


def _words(text: str) -> list[str]:
    return text.split()


ADJECTIVES = _words(
    """handmade vintage rustic modern classic minimalist elegant cozy lightweight
durable waterproof organic recycled portable compact premium artisan bohemian scandinavian
industrial retro sleek soft sturdy foldable adjustable reversible embroidered woven knitted
carved polished brushed hammered glazed matte glossy textured quilted padded insulated
breathable stretchy slim oversized chunky delicate dainty bold colorful pastel neutral
striped checkered floral geometric abstract botanical nautical tropical festive seasonal
personalized custom engraved monogrammed rechargeable wireless ergonomic magnetic stackable
antique heirloom farmhouse coastal urban celestial whimsical playful luxurious everyday
miniature giant round square oval hexagonal tall shallow wide narrow"""
)
MATERIALS = _words(
    """cotton linen wool merino cashmere silk leather suede denim canvas bamboo oak
walnut maple pine teak cedar birch ceramic porcelain stoneware terracotta glass crystal marble
granite slate concrete brass copper bronze silver gold steel aluminum iron pewter cork rattan
jute hemp felt velvet resin acrylic beeswax"""
)
NOUNS = _words(
    """mug cup bowl plate vase planter candle lamp lantern clock mirror frame poster print
painting sculpture figurine ornament coaster tray basket box jar bottle teapot kettle pitcher
spoon knife board apron towel blanket throw pillow cushion rug curtain tablecloth napkin quilt
duvet hammock chair stool bench table desk shelf cabinet dresser bookcase hook hanger rack
ring necklace bracelet earrings pendant brooch anklet watch wallet purse backpack tote satchel
belt scarf hat beanie gloves mittens socks sweater cardigan hoodie jacket coat vest shirt
blouse dress skirt trousers shorts leggings pajamas robe slippers sandals boots sneakers
notebook journal planner pencil sketchbook bookmark envelope sticker stamp puzzle doll teddy
kite dice guitar ukulele drum harmonica speaker headphones charger organizer soap lotion balm
serum shampoo perfume diffuser incense coffee honey jam chocolate spice sauce seeds leash
collar feeder birdhouse terrarium succulent bonsai"""
)
COLORS = _words(
    """red blue green black white grey navy teal mustard olive beige ivory pink coral
burgundy lavender charcoal sage rust turquoise"""
)
AUDIENCES = _words(
    """kids babies women men pets dogs cats gardeners cooks travelers runners weddings
birthdays anniversaries christmas housewarmings graduations nurseries kitchens bathrooms
bedrooms offices patios gardens camping picnics beaches yoga hiking"""
)
SENTENCES = (
    "This {adj} {noun} is made from {material} in a small studio.",
    "Perfect for {audience}, it pairs well with our {adj2} {noun2}.",
    "Each piece is {adj} and {adj2}, finished by hand in {material}.",
    "Care: wipe clean with a soft cloth and keep away from direct sunlight.",
    "Ships in recyclable packaging; sizes may vary slightly from piece to piece.",
    "A {adj} gift for {audience} who love a good {noun2}.",
    "Available in {color} and natural {material2} tones.",
    "Designed to last for years of everyday use.",
)
STORE_SUFFIXES = _words("Studio Co Workshop Goods Supply Atelier House Collective Crafts Market")

# ~50 categories, 3 levels: top -> second -> third. Products are filed under leaves.
CATEGORY_TREE: dict[str, dict[str, list[str]]] = {
    "Home & Living": {
        "Kitchen & Dining": ["Drinkware", "Tableware", "Cookware"],
        "Decor": ["Candles", "Wall Art", "Vases"],
        "Bedding": [],
        "Furniture": [],
        "Storage": [],
    },
    "Jewelry": {"Necklaces": [], "Rings": [], "Earrings": [], "Bracelets": []},
    "Clothing": {
        "Women": ["Dresses", "Tops", "Knitwear"],
        "Men": ["Shirts", "Outerwear"],
        "Kids": [],
        "Shoes": [],
    },
    "Accessories": {"Bags": ["Backpacks", "Totes"], "Hats": [], "Scarves": [], "Wallets": []},
    "Art & Stationery": {"Prints": [], "Paper": ["Notebooks", "Cards"], "Craft Supplies": []},
    "Toys & Games": {"Puzzles": [], "Plush": [], "Outdoor Play": []},
    "Beauty": {"Skincare": [], "Fragrance": [], "Bath": []},
    "Pets": {"Dog Supplies": [], "Cat Supplies": []},
    "Garden": {"Planters & Pots": [], "Garden Tools": []},
}

# ----------------------------------------------------------------------------------------
# Ids: the application's format (prefix + ULID), with the time part taken from created_at
# so that id order is creation order, as it is for rows the application writes.

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_at(prefix: str, when: datetime, rng: random.Random) -> str:
    value = (int(when.timestamp() * 1000) << 80) | rng.getrandbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 0x1F])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def slugify(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


# ----------------------------------------------------------------------------------------
# Rows


@dataclass
class CategoryRow:
    id: str
    parent_id: str | None
    name: str
    path: str
    depth: int
    position: int
    is_leaf: bool


@dataclass
class Column:
    name: str
    data_type: str
    nullable: bool
    has_default: bool


async def table_columns(conn: asyncpg.Connection, table: str) -> dict[str, Column]:
    rows = await conn.fetch(
        "SELECT column_name, data_type, is_nullable, column_default, is_generated "
        "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 "
        "ORDER BY ordinal_position",
        table,
    )
    return {
        r["column_name"]: Column(
            r["column_name"],
            r["data_type"],
            r["is_nullable"] == "YES",
            r["column_default"] is not None or r["is_generated"] == "ALWAYS",
        )
        for r in rows
    }


def _filler(column: Column, now: datetime) -> Any:
    """A harmless value for a NOT NULL column this script does not know (schema drift)."""
    kind = column.data_type
    if kind in ("integer", "bigint", "smallint", "numeric", "double precision", "real"):
        return 0
    if kind == "boolean":
        return False
    if kind.startswith("timestamp"):
        return now
    if kind in ("json", "jsonb"):
        return "{}"
    return ""


class Copier:
    """COPY rows (dicts) into a table, adapting to the table's current columns: unknown
    keys are dropped and NOT NULL columns without a default get a neutral value; both are
    reported, so a changed schema is visible in the output rather than a crash."""

    def __init__(self, conn: asyncpg.Connection, table: str, columns: dict[str, Column]):
        self.conn = conn
        self.table = table
        self.columns = columns
        self.reported = False

    async def copy(self, rows: Sequence[dict[str, Any]], notes: list[str]) -> int:
        if not rows:
            return 0
        now = datetime.now(UTC)
        given = list(rows[0])
        known = [k for k in given if k in self.columns]
        missing = [
            c
            for c in self.columns.values()
            if c.name not in rows[0] and not c.nullable and not c.has_default
        ]
        if not self.reported:
            self.reported = True
            if dropped := [k for k in given if k not in self.columns]:
                notes.append(f"{self.table}: no column(s) {', '.join(dropped)}; not written")
            if missing:
                names = ", ".join(c.name for c in missing)
                notes.append(f"{self.table}: unknown NOT NULL column(s) {names}; filled")
        json_columns = {k for k in known if self.columns[k].data_type in ("json", "jsonb")}
        fill = [_filler(c, now) for c in missing]
        records = [
            (
                *(
                    json.dumps(row[k]) if k in json_columns and row[k] is not None else row[k]
                    for k in known
                ),
                *fill,
            )
            for row in rows
        ]
        await self.conn.copy_records_to_table(
            self.table, records=records, columns=[*known, *(c.name for c in missing)]
        )
        return len(records)


def build_categories(rng: random.Random, now: datetime) -> list[CategoryRow]:
    rows: list[CategoryRow] = []
    created = now - timedelta(days=400)

    def add(name: str, parent: CategoryRow | None, position: int, leaf: bool) -> CategoryRow:
        cid = ulid_at("cat", created + timedelta(seconds=len(rows)), rng)
        row = CategoryRow(
            id=cid,
            parent_id=parent.id if parent else None,
            name=name,
            path=f"{parent.path if parent else '/'}{cid}/",
            depth=parent.depth + 1 if parent else 0,
            position=position,
            is_leaf=leaf,
        )
        rows.append(row)
        return row

    for i, (top, seconds) in enumerate(CATEGORY_TREE.items()):
        top_row = add(top, None, i, leaf=False)
        for j, (second, thirds) in enumerate(seconds.items()):
            second_row = add(second, top_row, j, leaf=not thirds)
            for k, third in enumerate(thirds):
                add(third, second_row, k, leaf=True)
    return rows


def _sentence(rng: random.Random) -> str:
    return rng.choice(SENTENCES).format(
        adj=rng.choice(ADJECTIVES),
        adj2=rng.choice(ADJECTIVES),
        noun=rng.choice(NOUNS),
        noun2=rng.choice(NOUNS),
        material=rng.choice(MATERIALS),
        material2=rng.choice(MATERIALS),
        audience=rng.choice(AUDIENCES),
        color=rng.choice(COLORS),
    )


def product_text(rng: random.Random) -> tuple[str, str]:
    words = [rng.choice(ADJECTIVES)]
    if rng.random() < 0.5:
        words.append(rng.choice(COLORS))
    words += [rng.choice(MATERIALS), rng.choice(NOUNS)]
    title = " ".join(words).capitalize()
    if rng.random() < 0.4:
        title += f" for {rng.choice(AUDIENCES)}"
    description = " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))
    return title, description


@dataclass
class Vendor:
    id: str
    name: str
    slug: str
    currency: str
    created_at: datetime


def build_vendors(count: int, rng: random.Random, now: datetime) -> list[Vendor]:
    vendors = []
    for i in range(count):
        created = now - timedelta(days=500 - i)
        name = (
            f"{rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS).capitalize()} "
            f"{rng.choice(STORE_SUFFIXES)}"
        )
        vendors.append(
            Vendor(
                id=ulid_at("ven", created, rng),
                name=name,
                slug=f"{slugify(name)}-{i}"[:50],
                currency=rng.choices(["USD", "EUR", "GBP"], weights=[6, 3, 1])[0],
                created_at=created,
            )
        )
    return vendors


def vendor_rows(vendors: Sequence[Vendor]) -> Iterator[dict[str, Any]]:
    for v in vendors:
        yield {
            "id": v.id,
            "slug": v.slug,
            "name": v.name,
            "status": "approved",
            "owner_id": v.id.replace("ven_", "usr_"),
            "legal_name": f"{v.name} Ltd",
            "country": {"USD": "US", "EUR": "DE", "GBP": "GB"}[v.currency],
            "tax_id_encrypted": None,
            "address": {"line1": "1 Market Street", "city": "Springfield"},
            "contact_email": f"owner@{v.slug}.example.com",
            "default_currency": v.currency,
            "currencies": [v.currency],
            "description": f"{v.name}: small-batch goods.",
            "logo_url": None,
            "banner_url": None,
            "support_email": None,
            "support_phone": None,
            "policies": {},
            "return_window_days": 30,
            "handling_days": 2,
            "vacation_mode": False,
            "vacation_message": None,
            "kyc_status": "verified",
            "status_reason": None,
            "rating_count": 0,
            "rating_total": 0,
            "created_at": v.created_at,
            "updated_at": v.created_at,
            "approved_at": v.created_at,
        }


async def table_exists(conn: asyncpg.Connection, table: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{table}"))


# ----------------------------------------------------------------------------------------
# Databases and process


def cancel_on_sigterm() -> None:
    """Make SIGTERM cancel the running main task, as Ctrl-C does, so that its `finally`
    blocks run (servers stopped, database dropped) wherever it was waiting."""
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


async def create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def database_dsn(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


# ----------------------------------------------------------------------------------------
# CPU accounting


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process and of its children that have exited (so
    PostgreSQL's short-lived parallel workers count, through the postmaster); 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return sum(int(v) for v in fields[11:15]) / CLK_TCK


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)
