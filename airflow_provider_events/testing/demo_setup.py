"""What the example DAGs (``dags_examples/``) expect to find at the vendors, seeded into the emulator.

The example DAGs take their vendor-side ids from params whose defaults are the constants below (the tests
check that they agree):

- Act-On: the custom-event listing ``Webinars`` (:data:`ACTON_DESTINATION`);
- ExpertSender CDP: custom events 101 (per purchase) and 102 (per segment), segments 7 and 12;
- CRM CareCloud: the event type ``online_purchase`` (:data:`CARECLOUD_EVENT_TYPE_ID`) with the properties
  ``amount`` (float), ``currency``, ``product`` (strings) and ``purchased_at`` (timestamp);
- Gainsight PX: the emulator's default product key (in its default connection).

Given the sample warehouse, the warehouse's customers are also seeded as the vendors' customers / users:
CareCloud needs them (an event names an existing customer, found here by e-mail), the others do not, but
it makes the emulator's state look like a real account's.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from airflow_provider_events.testing.emulator import EmulatorServer

ACTON_DESTINATION = "Webinars"
EXPERTSENDER_PURCHASE_EVENT_ID = 101
EXPERTSENDER_SEGMENT_EVENT_ID = 102
EXPERTSENDER_SEGMENTS = {7: 250, 12: 40}  # segment id -> member count
CARECLOUD_EVENT_TYPE_ID = "8a0f5e3c1d2b4a6978e5c0d1f2"
CARECLOUD_EVENT_TYPE_TEXT_ID = "online_purchase"
CARECLOUD_CUSTOMER_SOURCE_ID = "8795d942b31990e944c2ab1254"


def carecloud_customer_id(customer_id: int) -> str:
    """The CareCloud id (26 hex digits) the seed gives the warehouse customer ``customer_id``."""
    return hashlib.sha256(f"customer-{customer_id}".encode()).hexdigest()[:26]


def warehouse_customers(warehouse: str | Path) -> list[dict[str, Any]]:
    """The ``customers`` rows of the sample warehouse, as dicts."""
    con = sqlite3.connect(warehouse)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("SELECT id, email, phone, crm_id FROM customers ORDER BY id")]
    finally:
        con.close()


def seed_emulator(server: EmulatorServer, warehouse: str | Path | None = None) -> None:
    """Seed every vendor emulator of ``server`` with what the example DAGs need.

    :param server: the running emulator.
    :param warehouse: the sample SQLite warehouse; its customers become the vendors' customers.
    """
    customers = warehouse_customers(warehouse) if warehouse is not None else []
    vendors = server.emulator.vendors
    vendors["acton"].seed({"destinations": [ACTON_DESTINATION]})
    vendors["expertsender_cdp"].seed(
        {
            "custom_events": {
                str(EXPERTSENDER_PURCHASE_EVENT_ID): "Purchase follow-up",
                str(EXPERTSENDER_SEGMENT_EVENT_ID): "Daily digest",
            },
            "segments": {str(k): v for k, v in EXPERTSENDER_SEGMENTS.items()},
            "customers": [
                {"id": c["id"], "email": c["email"], "phone": c["phone"], "crmId": c["crm_id"]}
                for c in customers
            ],
        }
    )
    vendors["carecloud"].seed(
        {
            "event_types": [
                {
                    "event_type_id": CARECLOUD_EVENT_TYPE_ID,
                    "name": "Online purchase",
                    "text_id": CARECLOUD_EVENT_TYPE_TEXT_ID,
                    "event_group_text_id": "shopping",
                    "properties": [
                        {
                            "property_id": "amount",
                            "name": "Amount",
                            "data_type": "float",
                            "is_required": True,
                        },
                        {"property_id": "currency", "name": "Currency", "data_type": "string"},
                        {"property_id": "product", "name": "Product", "data_type": "string"},
                        {"property_id": "purchased_at", "name": "Purchased at", "data_type": "timestamp"},
                    ],
                }
            ],
            "customers": [
                {
                    "customer_id": carecloud_customer_id(c["id"]),
                    "email": c["email"],
                    "phone": c["phone"],
                    "external_ids": [
                        {"customer_source_id": CARECLOUD_CUSTOMER_SOURCE_ID, "external_id": c["crm_id"]}
                    ],
                }
                for c in customers
            ],
        }
    )
    vendors["gainsight_px"].seed(
        {"users": [{"identifyId": f"user-{c['id']}", "email": c["email"]} for c in customers]}
    )


def connection_env(server: EmulatorServer, max_requests_per_second: float | None = None) -> dict[str, str]:
    """``AIRFLOW_CONN_<VENDOR>_DEFAULT`` variables pointing at ``server``.

    :param max_requests_per_second: set as every connection's ``max_requests_per_second`` extra (the
        client-side pacing; 0 turns it off): the local emulator has no rate limit, the real vendors do.
    """
    env = server.connection_env()
    if max_requests_per_second is None:
        return env
    paced = {}
    for name, value in env.items():
        conn = json.loads(value)
        conn["extra"] = {**(conn.get("extra") or {}), "max_requests_per_second": max_requests_per_second}
        paced[name] = json.dumps(conn)
    return paced
