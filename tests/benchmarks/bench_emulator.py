"""The emulator must never be a benchmark's bottleneck: >= 2,000 simple requests/s from keep-alive clients.

The emulator runs in its own process; the load generator is a light asyncio client in this one.
"""

from __future__ import annotations

from benchmarks.loadgen import post_json_load

from airflow_provider_events.testing.emulator import EmulatorProcess

EVENT = {
    "identifyId": "user-1",
    "propertyKey": "AP-EMULATOR-2",
    "eventName": "bench",
    "userType": "USER",
    "date": 1_763_000_000_000,
}


def test_emulator_throughput(figures):
    with EmulatorProcess() as emu:
        conn = emu.admin("GET", "health")
        assert conn["status"] == "ok"
        key = "emulator-gainsight-key"
        state = emu.admin("GET", "gainsight_px/state")
        key = (
            state.get("api_keys", {}).get("write", [key])[0]
            if isinstance(state.get("api_keys"), dict)
            else key
        )
        for connections in (8, 32):
            result = post_json_load(
                "127.0.0.1",
                emu.port,
                "/gainsight_px/v1/events/custom",
                EVENT,
                {"X-APTRINSIC-API-KEY": key},
                connections=connections,
                seconds=5,
            )
            figures.add(
                endpoint="POST gainsight_px /v1/events/custom",
                connections=connections,
                requests=result.requests,
                req_per_s=result.rate,
                statuses=dict(result.statuses),
            )
        health = post_json_load("127.0.0.1", emu.port, "/_admin/health", {}, {}, connections=8, seconds=3)
        figures.add(
            endpoint="_admin/health (GET as POST: 405)",
            connections=8,
            requests=health.requests,
            req_per_s=health.rate,
            statuses=dict(health.statuses),
        )
    best = max(r["req_per_s"] for r in figures.rows[:2])
    assert best >= 2000, f"emulator served {best:.0f} req/s"
