"""Fixtures of the Gainsight PX tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_events.hooks.gainsight_px import GainsightPXHook
from airflow_provider_events.testing.emulator import EmulatorServer
from gainsight_px.px_helpers import FAST_RETRIES, PX


@pytest.fixture
def px(emulator: EmulatorServer) -> Iterator[PX]:
    client = PX(emulator)
    yield client
    client.http.close()


@pytest.fixture
def hook(emulator: EmulatorServer) -> Iterator[GainsightPXHook]:
    h = GainsightPXHook(retry_policy=FAST_RETRIES, max_requests_per_second=0)
    yield h
    h.close()
