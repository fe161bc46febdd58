"""Support's search box on 1,000,000 deliveries in PostgreSQL: p50 / p95 per kind of query.

    python bench/support_search.py                    # 1,000,000 rows, 200 queries per kind
    python bench/support_search.py --rows 100000 --queries 50

Works in a fresh PostgreSQL schema on PG_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test), migrated, dropped afterwards. The rows go
in with COPY (names with accents, Berlin streets and postcodes, unique phones and carrier
references); the two trigram indexes are dropped for the COPY and built again after it, as
a bulk load would. Each query goes through ``services.lookup.search`` (classification, phone
normalisation, the repository's query, one page of 20) exactly as the support page calls
it, with what a caller would type: a tracking number, a phone number in the local format
("030 …"), part of a name without its accents, part of a street, a postcode, a reference.
Prints one JSON line; exits 1 if any kind's p95 is over --target-ms (default 50).
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from lastmile_portal import create_app  # noqa: E402
from lastmile_portal.adapters.migrations import upgrade  # noqa: E402
from lastmile_portal.domain.lookup import fold, fold_street  # noqa: E402
from lastmile_portal.services import lookup  # noqa: E402
from tests.builders import make_world  # noqa: E402
from tests.conftest import base_config  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FIRST = [
    "Anna",
    "Ben",
    "Clara",
    "Dario",
    "Elif",
    "Emma",
    "Felix",
    "Greta",
    "Hannah",
    "Ilias",
    "Jana",
    "Jonas",
    "Karim",
    "Lea",
    "Lena",
    "Lukas",
    "Mia",
    "Noah",
    "Ömer",
    "Paul",
    "René",
    "Sofia",
    "Søren",
    "Theo",
    "Zoë",
    "Amélie",
    "José",
    "Łukasz",
    "Ángel",
    "Chloé",
    "Björn",
    "Maël",
    "Nuria",
    "Oğuz",
    "Renée",
    "Tomáš",
    "Yusuf",
    "Zeynep",
    "Marta",
    "Ida",
]
LAST = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Krause",
    "Meier",
    "Lehmann",
    "Öztürk",
    "Yılmaz",
    "Kaya",
    "Nowak",
    "Kowalski",
    "García",
    "López",
    "Dubois",
    "Lefèvre",
    "Rossi",
    "Ferrari",
    "Novák",
    "Dvořák",
    "Jensen",
    "Nielsen",
    "Šimek",
    "Çelik",
    "Ibrahim",
    "Haddad",
    "Nguyen",
]
STREETS = [
    "Kastanienallee",
    "Schönhauser Allee",
    "Oranienstraße",
    "Wiener Straße",
    "Sonnenallee",
    "Karl-Marx-Straße",
    "Bergmannstraße",
    "Gneisenaustraße",
    "Warschauer Straße",
    "Boxhagener Straße",
    "Danziger Straße",
    "Kollwitzstraße",
    "Greifswalder Straße",
    "Prenzlauer Allee",
    "Torstraße",
    "Invalidenstraße",
    "Müllerstraße",
    "Seestraße",
    "Turmstraße",
    "Hermannstraße",
    "Kottbusser Damm",
    "Friedrichstraße",
    "Chausseestraße",
    "Akazienstraße",
    "Hauptstraße",
    "Potsdamer Straße",
    "Kantstraße",
    "Wilmersdorfer Straße",
    "Schloßstraße",
    "Lindenstraße",
]
POSTCODES = [f"{10115 + i * 7}" for i in range(180)]


def seed(services: Any, engine: sa.Engine, rows: int, depot_id: int, rng: random.Random) -> dict:  # type: ignore[type-arg]
    """COPY ``rows`` deliveries; return samples of what was stored, for the queries."""
    now = services.clock.now()
    streets = STREETS
    samples: dict[str, list[str]] = {k: [] for k in ("tracking", "phone", "reference")}
    columns = (
        "tracking_number, tracking_token, recipient_name, phone, address_line, postcode, city, "
        "lat, lng, depot_id, service_date, window_start, window_end, option, parcel_size, "
        "weight_kg, status, attempts, sms_enabled, created_at, version, reschedules, reference, "
        "search_name, search_street"
    )
    statuses = ["scheduled", "out_for_delivery", "delivered", "delivered", "delivered", "failed"]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("DROP INDEX ix_deliveries_search_name_trgm")
        cur.execute("DROP INDEX ix_deliveries_search_street_trgm")
        with cur.copy(f"COPY deliveries ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for i in range(rows):
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                street = f"{rng.choice(streets)} {rng.randint(1, 180)}"
                day = now + timedelta(days=-(i % 90))
                tracking = f"LM{i:010d}"
                phone = f"+4930{20000000 + i:08d}"
                reference = f"ORD-{i:07d}"
                if i % (rows // 500 or 1) == 0:
                    samples["tracking"].append(tracking)
                    samples["phone"].append(phone)
                    samples["reference"].append(reference)
                copy.write_row(
                    (
                        tracking,
                        secrets.token_urlsafe(24),
                        name,
                        phone,
                        street,
                        rng.choice(POSTCODES),
                        "Berlin",
                        52.45 + rng.random() / 10,
                        13.30 + rng.random() / 5,
                        depot_id,
                        day.date(),
                        day + timedelta(hours=2),
                        day + timedelta(hours=4),
                        "door",
                        "M",
                        1.0,
                        statuses[i % len(statuses)],
                        0,
                        True,
                        day,
                        1,
                        0,
                        reference,
                        fold(name),
                        fold_street(street),
                    )
                )
        schema = cur.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
            "ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
        ).fetchone()[0]
        for column in ("search_name", "search_street"):
            cur.execute(
                f"CREATE INDEX ix_deliveries_{column}_trgm ON deliveries "
                f'USING gin ({column} "{schema}".gin_trgm_ops)'
            )
        cur.execute("ANALYZE deliveries")
        raw.commit()
    finally:
        raw.close()
    return samples


def queries(samples: dict[str, list[str]], n: int, rng: random.Random) -> dict[str, list[str]]:
    """Return ``n`` queries per kind, typed as a caller would say them."""

    def local(e164: str) -> str:
        national = "0" + e164[3:]
        return f"{national[:3]} {national[3:]}"

    def part(word: str) -> str:
        plain = fold(word).replace(" ", "")
        start = rng.randint(0, max(0, len(plain) - 5))
        return plain[start : start + rng.randint(4, 6)]

    streets = STREETS
    return {
        "tracking": [rng.choice(samples["tracking"]).lower() for _ in range(n)],
        "phone": [local(rng.choice(samples["phone"])) for _ in range(n)],
        "name": [
            f"{fold(rng.choice(FIRST))} {part(rng.choice(LAST))}"
            if i % 2
            else part(rng.choice(LAST))
            for i in range(n)
        ],
        "street": [f"{rng.choice(streets)} {rng.randint(1, 180)}" for _ in range(n)],
        "postcode": [rng.choice(POSTCODES) for _ in range(n)],
        "reference": [rng.choice(samples["reference"]) for _ in range(n)],
    }


def run(rows: int, n: int, target_ms: float, keep: bool = False) -> dict[str, Any]:
    """Seed a fresh schema, time every kind of query, and report."""
    rng = random.Random(14)
    schema = "bench_" + secrets.token_hex(4)
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        with tempfile.TemporaryDirectory() as tmp:
            app = create_app(base_config(Path(tmp), DATABASE_URL=url, LOG_LEVEL="WARNING"))
            upgrade(app.config["SETTINGS"].database_url)
            services = app.extensions["lastmile"]
            world = make_world(services)
            engine = sa.create_engine(url)
            started = time.perf_counter()
            samples = seed(services, engine, rows, world.depot_id, rng)
            seed_s = time.perf_counter() - started
            engine.dispose()
            report: dict[str, Any] = {"rows": rows, "seed_s": round(seed_s, 1), "kinds": {}}
            for kind, typed in queries(samples, n, rng).items():
                for q in typed[:5]:
                    lookup.search(services, q)  # warm the connection pool and caches
                times, hits = [], 0
                for q in typed:
                    t0 = time.perf_counter()
                    results = lookup.search(services, q)
                    times.append((time.perf_counter() - t0) * 1000)
                    hits += bool(results.found)
                    assert results.query.kind.value == kind, (q, results.query.kind)
                slowest = typed[max(range(len(times)), key=times.__getitem__)]
                times.sort()
                report["kinds"][kind] = {
                    "slowest": slowest,
                    "p50_ms": round(statistics.median(times), 1),
                    "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
                    "max_ms": round(times[-1], 1),
                    "found": f"{hits}/{len(typed)}",
                }
            report["within_target"] = all(
                k["p95_ms"] <= target_ms for k in report["kinds"].values()
            )
            return report
    finally:
        if keep:
            print(f"schema {schema} kept", file=sys.stderr)
        else:
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> int:
    """Parse the arguments, run once, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="per kind")
    parser.add_argument("--target-ms", type=float, default=50.0)
    parser.add_argument("--keep-schema", action="store_true", help="Leave it, to EXPLAIN.")
    args = parser.parse_args()
    report = run(args.rows, args.queries, args.target_ms, args.keep_schema)
    print(json.dumps(report))
    return 0 if report["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
