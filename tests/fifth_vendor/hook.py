"""The fifth vendor's hook: "Pulse", an imaginary event API taking one JSON event per POST with an API key.

Written only against the provider's public extension points (``BaseEventsHook``); nothing in the package
knows it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_events.hooks.base import BaseEventsHook


class PulseHook(BaseEventsHook):
    """Talks to the Pulse events API: ``POST /events`` with ``X-Api-Key``; ``GET /health`` to check."""

    default_conn_name: ClassVar[str] = "pulse_default"
    conn_type: ClassVar[str] = "pulse"
    hook_name: ClassVar[str] = "Pulse"
    default_path: ClassVar[str] = "/api"

    def __init__(self, pulse_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(pulse_conn_id, **kwargs)

    def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": str(self.connection.password or "")}

    def post_event(self, event: dict[str, Any]) -> Any:
        """Record one event; the vendor deduplicates on ``event["id"]``."""
        return self.request_json("POST", "events", json_body=event, idempotent=True)

    def check_connection(self) -> str:
        self.request_json("GET", "health")
        return f"Connected to Pulse at {self.base_url}"
