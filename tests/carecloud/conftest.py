"""Fixtures of the CareCloud tests: the vendor's emulator state, a hook on it, and 2,500 seeded events."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_events.hooks.carecloud import CareCloudHook
from airflow_provider_events.testing.emulator.carecloud import CareCloudEmulator
from carecloud.cc_helpers import make_events


@pytest.fixture
def cc(emulator: Any) -> CareCloudEmulator:
    """The CareCloud emulator, fresh for the test."""
    vendor: CareCloudEmulator = emulator.emulator.vendor("carecloud")
    return vendor


@pytest.fixture
def base_url(emulator: Any) -> str:
    url: str = emulator.base_url("carecloud")
    return url


@pytest.fixture
def hook(emulator: Any, tmp_state: Any) -> CareCloudHook:
    """A hook on the ``carecloud_default`` connection, with a private token store."""
    return CareCloudHook()


@pytest.fixture
def seeded(cc: CareCloudEmulator) -> list[dict[str, Any]]:
    """2,500 events seeded into the emulator (as given to ``seed``)."""
    events = make_events()
    cc.seed({"events": events})
    return events
