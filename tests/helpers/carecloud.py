"""Helpers shared by the CareCloud tests."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_events.testing.emulator.carecloud import (
    CUSTOMER_IDS,
    NEWSLETTER_TYPE_ID,
    PURCHASE_TYPE_ID,
)

SEEDED_EVENTS = 2500
START = datetime(2026, 1, 1, 0, 0, 0)


def make_events(count: int = SEEDED_EVENTS) -> list[dict[str, Any]]:
    """``count`` events over two event types and three customers, one every 37 minutes from START."""
    events = []
    for i in range(count):
        event_type = PURCHASE_TYPE_ID if i % 3 else NEWSLETTER_TYPE_ID
        records = (
            [{"property_id": "visit_count", "property_value": i}]
            if event_type == PURCHASE_TYPE_ID
            else [{"property_id": "source", "property_value": f"web-{i % 5}"}]
        )
        events.append(
            {
                "event_id": secrets.token_hex(13),
                "event_type_id": event_type,
                "customer_id": CUSTOMER_IDS[i % len(CUSTOMER_IDS)],
                "external_id": f"ext-{i:05d}",
                "secondary_external_id": None,
                "data": {"n": i},
                "created_at": (START + timedelta(minutes=37 * i)).strftime("%Y-%m-%d %H:%M:%S"),
                "property_records": records,
            }
        )
    return events
