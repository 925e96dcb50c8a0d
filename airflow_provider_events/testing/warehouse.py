"""A realistic sample warehouse on SQLite, for the demo, the example DAG tests and the benchmarks.

Tables (timestamps are UTC text ``YYYY-MM-DDTHH:MM:SS``, so they compare correctly as strings):

- ``customers(id, email, phone, crm_id, first_name, country, created_at)``
- ``webinar_attendance(id, customer_id, email, webinar_title, attended_at, note)``: Act-On CSV events.
- ``purchases(id, customer_id, email, order_id, amount, currency, purchased_at, product)``: ExpertSender
  scenario events and CareCloud events with property records.
- ``product_usage(id, user_id, account_id, event_name, feature, duration_seconds, occurred_at)``:
  Gainsight PX.

A share of rows is deliberately bad (malformed or missing email, missing date, over-long values), so the
demo shows rejects being counted and written, never silently dropped.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

TS_FORMAT = "%Y-%m-%dT%H:%M:%S"

_FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Linus",
    "Radia",
    "Donald",
    "Zoë",
    "José",
    "Łukasz",
    "Søren",
    "Chloé",
]
_COUNTRIES = ["US", "GB", "DE", "FR", "PL", "CZ", "ES", "SE"]
_WEBINARS = [
    "Q4 Product Roadmap",
    "Warehouse-native marketing, part 1",
    'Data "contracts", in practice',
    "Scaling Airflow: 10,000 DAGs",
    "Privacy-first analytics; a how-to",
]
_PRODUCTS = ["starter", "pro", "enterprise", "add-on: sso", "add-on: audit"]
_FEATURES = ["dashboard", "export", "alerts", "sql-editor", "sharing"]
_EVENTS = ["feature_used", "report_exported", "alert_created", "seat_added"]


@dataclass(frozen=True)
class WarehouseSpec:
    """Sizes of the sample warehouse.

    :param customers: rows in ``customers``.
    :param attendance: rows in ``webinar_attendance``.
    :param purchases: rows in ``purchases``.
    :param usage: rows in ``product_usage``.
    :param bad_ratio: share of event rows that are deliberately bad.
    :param seed: random seed (the same spec always builds the same data).
    """

    customers: int = 2000
    attendance: int = 3000
    purchases: int = 2000
    usage: int = 3000
    bad_ratio: float = 0.02
    seed: int = 7


def _ts(moment: datetime) -> str:
    return moment.strftime(TS_FORMAT)


def build_warehouse(path: str | Path, window_start: datetime, spec: WarehouseSpec | None = None) -> Path:
    """Create (or replace) the SQLite warehouse at ``path`` with events inside the day after ``window_start``.

    :param path: the database file.
    :param window_start: start of the one-day window the event timestamps fall in (UTC).
    :param spec: table sizes and bad-row ratio.
    :returns: the path.
    """
    spec = spec or WarehouseSpec()
    rng = random.Random(spec.seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    start = window_start.astimezone(timezone.utc).replace(tzinfo=None)

    def when() -> str:
        return _ts(start + timedelta(seconds=rng.randrange(0, 86_400)))

    def bad() -> bool:
        return rng.random() < spec.bad_ratio

    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, phone TEXT, crm_id TEXT, first_name TEXT,
                                country TEXT, created_at TEXT);
        CREATE TABLE webinar_attendance (id INTEGER PRIMARY KEY, customer_id INTEGER, email TEXT,
                                         webinar_title TEXT, attended_at TEXT, note TEXT);
        CREATE TABLE purchases (id INTEGER PRIMARY KEY, customer_id INTEGER, email TEXT, order_id TEXT,
                                amount REAL, currency TEXT, purchased_at TEXT, product TEXT);
        CREATE TABLE product_usage (id INTEGER PRIMARY KEY, user_id TEXT, account_id TEXT, event_name TEXT,
                                    feature TEXT, duration_seconds INTEGER, occurred_at TEXT);
        """
    )
    customers = []
    for cid in range(1, spec.customers + 1):
        name = rng.choice(_FIRST)
        email = f"{name.lower()}.{cid}@example.com".encode("ascii", "ignore").decode()
        customers.append(
            (
                cid,
                email,
                f"+4860{cid:07d}",
                f"CRM-{cid:06d}",
                name,
                rng.choice(_COUNTRIES),
                _ts(start - timedelta(days=rng.randrange(1, 900))),
            )
        )
    con.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?,?)", customers)

    rows: list[tuple[object, ...]] = []
    for rid in range(1, spec.attendance + 1):
        cid, email = customers[rng.randrange(len(customers))][:2]
        title, note = rng.choice(_WEBINARS), f"watched {rng.randrange(5, 90)} min"
        attended: str | None = when()
        if bad():
            kind = rng.randrange(3)
            email = "not-an-email" if kind == 0 else email
            attended = None if kind == 1 else attended
            title = "" if kind == 2 else title
        rows.append((rid, cid, email, title, attended, note))
    con.executemany("INSERT INTO webinar_attendance VALUES (?,?,?,?,?,?)", rows)

    rows = []
    for rid in range(1, spec.purchases + 1):
        cid, email = customers[rng.randrange(len(customers))][:2]
        amount = round(rng.uniform(5, 2500), 2)
        if bad():
            email = rng.choice(["", "broken@", "x" * 330 + "@example.com"])
        rows.append((rid, cid, email, f"ORD-{rid:07d}", amount, "EUR", when(), rng.choice(_PRODUCTS)))
    con.executemany("INSERT INTO purchases VALUES (?,?,?,?,?,?,?,?)", rows)

    rows = []
    for rid in range(1, spec.usage + 1):
        cid = rng.randrange(1, spec.customers + 1)
        user_id, event = f"user-{cid}", rng.choice(_EVENTS)
        if bad():
            user_id = ""  # identifyId is required
        rows.append(
            (rid, user_id, f"acct-{cid % 97}", event, rng.choice(_FEATURES), rng.randrange(1, 3600), when())
        )
    con.executemany("INSERT INTO product_usage VALUES (?,?,?,?,?,?,?)", rows)
    con.commit()
    con.close()
    return path


def warehouse_connection(path: str | Path) -> dict[str, str]:
    """The Airflow connection (JSON form) of the SQLite warehouse at ``path``."""
    return {"conn_type": "sqlite", "host": str(Path(path).resolve())}
