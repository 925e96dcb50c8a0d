"""The emulator must never be a benchmark's bottleneck: >= 2,000 simple requests/s from keep-alive clients.

The emulator runs in its own process; the load generator is a light asyncio client in this one.
"""

from __future__ import annotations

from benchmarks.benchkit import load
from benchmarks.loadgen import HOT_ENDPOINTS, emulator_capacity, post_json_load

from airflow_provider_events.testing.emulator import EmulatorProcess
from airflow_provider_events.testing.emulator.gainsight_px import DEFAULT_WRITE_KEY

EVENT = {
    "identifyId": "user-1",
    "propertyKey": "AP-EMULATOR-2",
    "eventName": "bench",
    "userType": "USER",
    "date": 1_763_000_000_000,
}


def test_emulator_throughput(figures):
    with EmulatorProcess() as emu:
        assert emu.admin("GET", "health")["status"] == "ok"
        for connections in (8, 32):
            result = post_json_load(
                "127.0.0.1",
                emu.port,
                "/gainsight_px/v1/events/custom",
                EVENT,
                {"X-APTRINSIC-API-KEY": DEFAULT_WRITE_KEY},
                connections=connections,
                seconds=5,
            )
            figures.add(
                endpoint="POST gainsight_px /v1/events/custom (201 Created)",
                connections=connections,
                requests=result.requests,
                req_per_s=result.rate,
                statuses=dict(result.statuses),
            )
            assert set(result.statuses) == {201}, result.statuses  # every request really created an event
    best = max(r["req_per_s"] for r in figures.rows)
    assert best >= 2000, f"emulator served {best:.0f} req/s"


def test_emulator_hot_endpoints(figures):
    """Requests/s and CPU per request of each vendor's hot endpoint (compare before/after a change)."""
    with EmulatorProcess() as emu:
        for vendor, (endpoint, status) in HOT_ENDPOINTS.items():
            capacity = emulator_capacity(emu, vendor, connections=16, seconds=5)
            figures.add(
                endpoint=endpoint,
                connections=16,
                requests=capacity.requests,
                req_per_s=capacity.rate,
                emulator_cpu_ms_per_req=capacity.cpu_per_request_ms,
                statuses=capacity.statuses,
                load=load(),
            )
            assert set(capacity.statuses) == {status}, (vendor, capacity.statuses)
