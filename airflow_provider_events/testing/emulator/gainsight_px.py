"""Emulator of the gainsight_px API (stub: filled in by the vendor issue)."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import APIRouter

from airflow_provider_events.testing.emulator.base import VendorEmulator


class GainsightPXEmulator(VendorEmulator):
    name: ClassVar[str] = "gainsight_px"
    base_path: ClassVar[str] = "/v1"

    def reset(self) -> None:
        self.received: list[dict[str, Any]] = []

    def router(self) -> APIRouter:
        return APIRouter()

    def seed(self, data: dict[str, Any]) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        return {"received": list(self.received)}

    def connection(self, base_url: str) -> dict[str, Any]:
        return {"conn_type": "gainsight_px", "host": base_url, "password": "emulator-key"}
