"""CareCloud test helpers and fixtures: the vendor's emulator state, a hook on it, and 2,500 seeded events.

Registered for the whole suite in ``tests/conftest.py``; a test file named after the vendor gets
``carecloud_base_url`` and ``carecloud_hook`` as ``base_url`` and ``hook`` (see ``helpers/per_vendor.py``).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest

from airflow_provider_events.hooks.carecloud import CareCloudHook
from airflow_provider_events.testing.emulator.carecloud import (
    CUSTOMER_IDS,
    NEWSLETTER_TYPE_ID,
    PURCHASE_TYPE_ID,
    CareCloudEmulator,
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


@pytest.fixture
def cc(emulator: Any) -> CareCloudEmulator:
    """The CareCloud emulator, fresh for the test."""
    vendor: CareCloudEmulator = emulator.emulator.vendor("carecloud")
    return vendor


@pytest.fixture
def carecloud_base_url(emulator: Any) -> str:
    url: str = emulator.base_url("carecloud")
    return url


@pytest.fixture
def carecloud_hook(emulator: Any, tmp_state: Any) -> CareCloudHook:
    """A hook on the ``carecloud_default`` connection, with a private token store."""
    return CareCloudHook()


@pytest.fixture
def seeded(cc: CareCloudEmulator) -> list[dict[str, Any]]:
    """2,500 events seeded into the emulator (as given to ``seed``)."""
    events = make_events()
    cc.seed({"events": events})
    return events
