"""Emulator of the acton API (stub: filled in by the vendor issue)."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import APIRouter

from airflow_provider_events.testing.emulator.base import VendorEmulator


class ActOnEmulator(VendorEmulator):
    name: ClassVar[str] = "acton"
    base_path: ClassVar[str] = ""

    def reset(self) -> None:
        self.received: list[dict[str, Any]] = []

    def router(self) -> APIRouter:
        return APIRouter()

    def seed(self, data: dict[str, Any]) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        return {"received": list(self.received)}

    def connection(self, base_url: str) -> dict[str, Any]:
        return {"conn_type": "acton", "host": base_url, "password": "emulator-key"}
