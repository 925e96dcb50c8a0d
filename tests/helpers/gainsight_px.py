"""Gainsight PX test helpers and fixtures: a raw HTTP client of the emulator, a valid event body, a hook.

Registered for the whole suite in ``tests/conftest.py``; a test file named after the vendor gets
``gainsight_px_hook`` as ``hook`` (see ``helpers/per_vendor.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_events.hooks.gainsight_px import GainsightPXHook
from airflow_provider_events.hooks.retry import RetryPolicy
from airflow_provider_events.testing.emulator import EmulatorServer
from airflow_provider_events.testing.emulator.gainsight_px import (
    DEFAULT_PROPERTY_KEY,
    DEFAULT_READ_ONLY_KEY,
    DEFAULT_WRITE_KEY,
)

WRITE_KEY = DEFAULT_WRITE_KEY
READ_KEY = DEFAULT_READ_ONLY_KEY
PROPERTY_KEY = DEFAULT_PROPERTY_KEY
FAST_RETRIES = RetryPolicy(max_attempts=8, backoff_initial=0.01, backoff_max=0.05, retry_after_max=0.2)


class PX:
    """Raw HTTP access to the emulated Gainsight PX API (no provider code involved)."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.base = server.base_url("gainsight_px")
        self.http = requests.Session()

    @property
    def state(self) -> Any:
        return self.server.emulator.vendor("gainsight_px")

    def post(self, body: Any, key: str | None = WRITE_KEY, **kwargs: Any) -> requests.Response:
        headers = {"X-APTRINSIC-API-KEY": key} if key is not None else {}
        headers.update(kwargs.pop("headers", {}))
        if isinstance(body, (bytes, str)):
            return self.http.post(f"{self.base}/events/custom", data=body, headers=headers, **kwargs)
        return self.http.post(f"{self.base}/events/custom", json=body, headers=headers, **kwargs)

    def get(self, path: str, params: Any = None, key: str | None = READ_KEY) -> requests.Response:
        headers = {"X-APTRINSIC-API-KEY": key} if key is not None else {}
        return self.http.get(f"{self.base}/{path.lstrip('/')}", params=params, headers=headers)


def event(**overrides: Any) -> dict[str, Any]:
    """A valid ``CustomEvent`` body."""
    body: dict[str, Any] = {
        "identifyId": "user-1",
        "propertyKey": PROPERTY_KEY,
        "eventName": "signup",
        "userType": "USER",
        "date": 1_700_000_000_000,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def px(emulator: EmulatorServer) -> Iterator[PX]:
    client = PX(emulator)
    yield client
    client.http.close()


@pytest.fixture
def gainsight_px_hook(emulator: EmulatorServer) -> Iterator[GainsightPXHook]:
    h = GainsightPXHook(retry_policy=FAST_RETRIES, max_requests_per_second=0)
    yield h
    h.close()
