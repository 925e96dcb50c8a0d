"""What one vendor module of the emulator provides."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from fastapi import APIRouter


class VendorEmulator(ABC):
    """One vendor's API, served under ``/<name><base_path>`` of the emulator.

    Subclasses keep their state in memory behind :attr:`lock`, expose it through :meth:`snapshot`, accept
    fixtures through :meth:`seed`, and describe the Airflow connection that authenticates against them.
    """

    #: the vendor's connection type, also its URL prefix (``/acton``, ``/gainsight_px`` ...).
    name: ClassVar[str]
    #: the vendor's own base path below the prefix (e.g. ``/v1`` for Gainsight PX).
    base_path: ClassVar[str] = ""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    @abstractmethod
    def reset(self) -> None:
        """Forget everything received and restore the default seed."""

    @abstractmethod
    def router(self) -> APIRouter:
        """The vendor's routes, with paths as the vendor documents them below :attr:`base_path`."""

    @abstractmethod
    def seed(self, data: dict[str, Any]) -> None:
        """Add fixtures (customers, segments, event types, users, credentials ...)."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """The JSON-safe state: what was received, jobs, seeded fixtures."""

    @abstractmethod
    def connection(self, base_url: str) -> dict[str, Any]:
        """An Airflow connection (JSON form) whose credentials this emulator accepts, pointing at base_url."""
