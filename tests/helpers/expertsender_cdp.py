"""Fixtures of the ExpertSender CDP tests: the vendor's emulator, its base URL and a fast-retrying hook.

Registered for the whole suite in ``tests/conftest.py``; a test file named after the vendor gets the last two
as ``base_url`` and ``hook`` (see ``helpers/per_vendor.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_events.hooks.expertsender_cdp import ExpertSenderCdpHook
from airflow_provider_events.hooks.retry import RetryPolicy
from airflow_provider_events.testing.emulator import EmulatorServer

VENDOR = "expertsender_cdp"
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05)


@pytest.fixture
def ecdp(emulator: EmulatorServer) -> Any:
    """The ExpertSender CDP emulator (fresh state)."""
    return emulator.emulator.vendor(VENDOR)


@pytest.fixture
def expertsender_cdp_base_url(emulator: EmulatorServer) -> str:
    return emulator.base_url(VENDOR)


@pytest.fixture
def expertsender_cdp_hook(emulator: EmulatorServer) -> ExpertSenderCdpHook:
    """A hook on ``expertsender_cdp_default`` (pointing at the emulator), retrying fast."""
    return ExpertSenderCdpHook(retry_policy=FAST, timeout=(2.0, 5.0))
