"""Rate limits: the emulator enforces 100 requests/s (429 with ``Retry-After`` beyond it); the engine, told
the same limit, must deliver within 10% of it and never be answered 429.

Baseline in the same run, on the same emulator: the engine *not* told the limit (its default pacing,
150/s for Gainsight PX), which meets the vendor's 429s and their ``Retry-After``.
"""

from __future__ import annotations

import pytest
from benchmarks.benchkit import (
    PER_EVENT_VENDORS,
    build_warehouse,
    emulator_env,
    environment,
    fault_counters,
    load,
    run_engine,
    scaled,
    warehouse_env,
)

from airflow_provider_events.exceptions import EventsProviderError
from airflow_provider_events.testing.emulator import EmulatorProcess

LIMIT = 100.0
LATENCY_MS = 50
EVENTS = scaled(3_000)
BASELINE_EVENTS = scaled(1_500)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    db = build_warehouse(tmp_path_factory.mktemp("ratelimit") / "warehouse.db", EVENTS)
    with EmulatorProcess("--rate-limit", str(LIMIT), "--latency-ms", str(LATENCY_MS)) as emu:
        env = {**warehouse_env(db), **emulator_env(emu)}
        with environment(env):
            yield emu


@pytest.mark.timeout(900)
def test_rate_limit(setup, figures) -> None:  # type: ignore[no-untyped-def]
    emu = setup
    failures = []
    cases = [
        ("gainsight_px", "told the limit", LIMIT, EVENTS),
        ("expertsender_cdp", "told the limit", LIMIT, EVENTS),
        ("gainsight_px", "baseline: not told (default pacing)", None, BASELINE_EVENTS),
    ]
    for vendor_name, variant, told, events in cases:
        vendor = PER_EVENT_VENDORS[vendor_name]
        before = fault_counters(emu, vendor.name)
        error = None
        try:
            run = run_engine(
                vendor.conn_id,
                vendor.plain,
                limit=events,
                destination_options=vendor.options,
                max_requests_per_second=told,
            )
            report, wall = run.report, run.wall
        except EventsProviderError as exc:  # the baseline may give up on events after its retries
            report, wall, error = exc.report, exc.report.seconds, type(exc).__name__  # type: ignore[attr-defined]
        after = fault_counters(emu, vendor.name)
        http_429 = after["rate_limited"] - before["rate_limited"]
        rate = report.accepted / wall
        within = abs(rate - LIMIT) / LIMIT <= 0.10
        row = {
            "vendor": vendor.name,
            "variant": variant,
            "told_rps": told or "default",
            "events": events,
            "accepted": report.accepted,
            "failed": report.failed,
            "seconds": wall,
            "events_per_s": rate,
            "pct_of_limit": 100 * rate / LIMIT,
            "requests": after["requests"] - before["requests"],
            "http_429": http_429,
            "client_retries": report.retries,
        }
        if told is not None:
            row["target"] = "met" if within and http_429 == 0 and report.accepted == events else "MISSED"
            if not within:
                failures.append(f"{vendor.name}: {rate:.1f}/s is not within 10% of {LIMIT:g}/s")
            if http_429:
                failures.append(f"{vendor.name}: {http_429} answers 429")
            if report.accepted != events:
                failures.append(f"{vendor.name}: {report.accepted} of {events} accepted")
        else:
            row["target"] = f"baseline ({error})" if error else "baseline"
        row["load"] = load()
        figures.add(**row)
    assert not failures, failures
