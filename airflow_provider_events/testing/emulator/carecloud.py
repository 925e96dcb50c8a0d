"""Emulator of the carecloud API (stub: filled in by the vendor issue)."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import APIRouter

from airflow_provider_events.testing.emulator.base import VendorEmulator


class CareCloudEmulator(VendorEmulator):
    name: ClassVar[str] = "carecloud"
    base_path: ClassVar[str] = "/webservice/rest-api/enterprise-interface/v1.0"

    def reset(self) -> None:
        self.received: list[dict[str, Any]] = []

    def router(self) -> APIRouter:
        return APIRouter()

    def seed(self, data: dict[str, Any]) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        return {"received": list(self.received)}

    def connection(self, base_url: str) -> dict[str, Any]:
        return {"conn_type": "carecloud", "host": base_url, "password": "emulator-key"}
