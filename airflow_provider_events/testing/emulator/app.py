"""The emulator's FastAPI application: every vendor under its own prefix, faults, and an admin API."""

from __future__ import annotations

from typing import Any

from fastapi import Body, FastAPI, HTTPException

from airflow_provider_events.testing.emulator.base import VendorEmulator
from airflow_provider_events.testing.emulator.dependencies import Refused, answer_refusal
from airflow_provider_events.testing.emulator.faults import FaultMiddleware, VendorFaults


def default_vendors() -> list[VendorEmulator]:
    """One fresh emulator per vendor."""
    from airflow_provider_events.testing.emulator.acton import ActOnEmulator
    from airflow_provider_events.testing.emulator.carecloud import CareCloudEmulator
    from airflow_provider_events.testing.emulator.expertsender_cdp import ExpertSenderCdpEmulator
    from airflow_provider_events.testing.emulator.gainsight_px import GainsightPXEmulator

    return [ActOnEmulator(), ExpertSenderCdpEmulator(), CareCloudEmulator(), GainsightPXEmulator()]


class Emulator:
    """The four vendors, their faults, and the ASGI app that serves them.

    :param vendors: the vendor emulators to serve (default: all four).
    """

    def __init__(self, vendors: list[VendorEmulator] | None = None) -> None:
        self.vendors: dict[str, VendorEmulator] = {v.name: v for v in (vendors or default_vendors())}
        self.faults: dict[str, VendorFaults] = {name: VendorFaults() for name in self.vendors}
        self.app = self._build_app()

    def vendor(self, name: str) -> Any:
        """The emulator of one vendor (typed ``Any`` so tests reach vendor-specific helpers)."""
        return self.vendors[name]

    def set_faults(self, vendor: str | None = None, **settings: Any) -> None:
        """Change fault settings of one vendor, or of all when ``vendor`` is None."""
        for name in [vendor] if vendor else list(self.faults):
            self.faults[name].config.update(**settings)

    def fault_counters(self, vendor: str) -> dict[str, int]:
        return dict(self.faults[vendor].counters)

    def reset(self) -> None:
        for name, vendor in self.vendors.items():
            with vendor.lock:
                vendor.reset()
            self.faults[name].reset()

    def _build_app(self) -> Any:
        app = FastAPI(
            title="airflow-provider-events vendor emulator",
            docs_url="/_admin/docs",
            openapi_url="/_admin/openapi.json",
            redoc_url=None,
        )
        app.add_exception_handler(Refused, answer_refusal)
        for name, vendor in self.vendors.items():
            app.include_router(vendor.router(), prefix=f"/{name}{vendor.base_path}")

        def get_vendor(name: str) -> VendorEmulator:
            if name not in self.vendors:
                raise HTTPException(404, f"unknown vendor {name!r}")
            return self.vendors[name]

        @app.get("/_admin/health")
        def health() -> dict[str, Any]:
            return {"status": "ok", "vendors": sorted(self.vendors)}

        @app.get("/_admin/{name}/state")
        def state(name: str) -> dict[str, Any]:
            vendor = get_vendor(name)
            with vendor.lock:
                return vendor.snapshot()

        @app.post("/_admin/{name}/seed")
        def seed(name: str, data: dict[str, Any] = Body(...)) -> dict[str, str]:  # noqa: B008
            vendor = get_vendor(name)
            with vendor.lock:
                vendor.seed(data)
            return {"status": "seeded"}

        @app.get("/_admin/{name}/faults")
        def get_faults(name: str) -> dict[str, Any]:
            get_vendor(name)
            return self.faults[name].snapshot()

        @app.post("/_admin/{name}/faults")
        def put_faults(name: str, settings: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
            get_vendor(name)
            try:
                self.faults[name].config.update(**settings)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from exc
            return self.faults[name].snapshot()

        @app.post("/_admin/reset")
        def reset() -> dict[str, str]:
            self.reset()
            return {"status": "reset"}

        return FaultMiddleware(app, self.faults)
