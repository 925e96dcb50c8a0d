"""The fifth vendor's delivery adapter: one Pulse event per record, keyed by the engine's idempotency key."""

from __future__ import annotations

from typing import Any

from airflow_provider_events.exceptions import InvalidRecordError
from airflow_provider_events.sync.adapter import PerEventAdapter, SendOutcome
from tests.fifth_vendor.hook import PulseHook


class PulseAdapter(PerEventAdapter[PulseHook, dict[str, Any]]):
    """Records carry ``user`` (required), ``name`` (required) and ``value`` (optional number)."""

    conn_type = "pulse"
    vendor_deduplicates = True
    default_max_concurrency = 4
    option_names = frozenset({"source"})

    def prepare(self, record: dict[str, Any], key: str) -> dict[str, Any]:
        for name in ("user", "name"):
            if record.get(name) in (None, ""):
                raise InvalidRecordError(name, "is missing")
        value = record.get("value")
        if value is not None and not isinstance(value, (int, float)):
            raise InvalidRecordError("value", "is not a number")
        event = {"id": key, "user": str(record["user"]), "name": str(record["name"]), "value": value}
        if self.options.get("source"):
            event["source"] = str(self.options["source"])
        return event

    def send(self, payload: dict[str, Any]) -> SendOutcome:
        self.hook.post_event(payload)
        return SendOutcome.ACCEPTED
