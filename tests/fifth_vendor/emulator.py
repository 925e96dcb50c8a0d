"""The fifth vendor's emulator module: Pulse's two routes, served by the provider's vendor emulator."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from airflow_provider_events.testing.emulator.base import VendorEmulator

API_KEY = "pulse-test-key"


class PulseEmulator(VendorEmulator):
    """Stores events by id (a resent id is not stored twice); refuses a wrong ``X-Api-Key`` with 401."""

    name: ClassVar[str] = "pulse"
    base_path: ClassVar[str] = "/api"

    def reset(self) -> None:
        with self.lock:
            self.events: dict[str, dict[str, Any]] = {}
            self.posts = 0

    def seed(self, data: dict[str, Any]) -> None:
        with self.lock:
            for event in data.get("events", []):
                self.events[str(event["id"])] = dict(event)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"received": list(self.events.values()), "posts": self.posts}

    def connection(self, base_url: str) -> dict[str, Any]:
        return {"conn_type": "pulse", "host": base_url, "password": API_KEY}

    def router(self) -> APIRouter:
        router = APIRouter()
        emulator = self

        @router.get("/health")
        def health(request: Request) -> JSONResponse:
            if request.headers.get("X-Api-Key") != API_KEY:
                return JSONResponse({"message": "bad API key"}, status_code=401)
            return JSONResponse({"status": "ok"})

        @router.post("/events")
        async def post_event(request: Request) -> JSONResponse:
            if request.headers.get("X-Api-Key") != API_KEY:
                return JSONResponse({"message": "bad API key"}, status_code=401)
            body = await request.json()
            if not isinstance(body, dict) or not body.get("id") or not body.get("user"):
                return JSONResponse({"message": "id and user are required"}, status_code=400)
            with emulator.lock:
                emulator.posts += 1
                emulator.events.setdefault(str(body["id"]), body)
            return JSONResponse({"id": body["id"]}, status_code=201)

        return router
