"""Client CPU per event (microseconds of ``time.process_time``), with a plain column mapping and with Jinja.

In process, stage by stage, over rows already read from SQLite: ``RowMapping.render`` (mapping), the
idempotency key + the adapter's ``prepare`` (validation, payload), ``json.dumps`` of the payload (what the
HTTP layer sends; Act-On writes CSV instead, measured in the end-to-end rows). Baseline: a hand-written dict
built from the row plus ``json.dumps``, what a ``PythonOperator`` loop would do.

End to end, against the emulator in its own process with no latency: the whole engine (SQLite cursor,
mapping, validation, HTTP through the hook's lean keep-alive transport, checkpoint) unpaced with 16 requests
in flight, CPU of this process (every thread) per event. Baselines over the same payloads: a plain sequential
``requests.post`` loop, and a bare ``requests.Session`` with 16 threads (the same concurrency as the engine).

Target (issue 18): the engine's client CPU per delivered Gainsight PX event is at most half the bare
``requests.Session`` loop's, measured in the same run.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from benchmarks.benchkit import (
    ACTON_OPTIONS,
    ACTON_PLAIN,
    ACTON_TEMPLATED,
    PER_EVENT_VENDORS,
    WAREHOUSE_CONN,
    build_warehouse,
    emulator_env,
    environment,
    load,
    prepared_payloads,
    run_engine,
    scaled,
    sequential_post,
    tagged_sql,
    warehouse_env,
)

from airflow_provider_events.sync.engine import event_key
from airflow_provider_events.sync.mapping import RowMapping
from airflow_provider_events.sync.runner import build_adapter
from airflow_provider_events.sync.source import SqlSource
from airflow_provider_events.testing.emulator import EmulatorProcess

ROWS = scaled(20_000, minimum=1_000)
E2E_EVENTS = scaled(5_000, minimum=500)
NAIVE_EVENTS = scaled(1_000, minimum=200)
CONCURRENCY = 16
US = 1e6


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    db = build_warehouse(tmp_path_factory.mktemp("cpu") / "warehouse.db", max(ROWS, E2E_EVENTS))
    with EmulatorProcess() as emu:
        env = {**warehouse_env(db), **emulator_env(emu)}
        with environment(env):
            yield emu


def _cpu(func: Any, items: list[Any]) -> tuple[list[Any], float]:
    start = time.process_time()
    out = [func(item) for item in items]
    return out, (time.process_time() - start) / len(items) * US


def _stages(conn_id: str, mapping_spec: dict[str, Any], options: dict[str, Any], rows: list[dict]) -> dict:  # type: ignore[type-arg]
    adapter = build_adapter(conn_id, options)
    adapter.open()
    try:
        mapping = RowMapping(mapping_spec)
        mapping.bind(list(rows[0]))
        numbered = list(enumerate(rows, start=1))
        records, render_us = _cpu(lambda item: mapping.render(item[1], item[0]), numbered)
        pairs = list(zip(records, rows, strict=True))
        payloads, prepare_us = _cpu(
            lambda pair: adapter.prepare(pair[0], event_key(pair[0], pair[1], ["id"])), pairs
        )
        if isinstance(payloads[0], dict):
            _, json_us = _cpu(json.dumps, payloads)
        else:
            json_us = None
    finally:
        adapter.close()
        adapter.hook.close()
    return {"render_us": render_us, "key_prepare_us": prepare_us, "json_us": json_us}


def _naive_px(row: dict) -> str:  # type: ignore[type-arg]
    return json.dumps(
        {
            "identifyId": row["user_id"],
            "eventName": row["event"],
            "date": row["ts_ms"],
            "propertyKey": "AP-EMULATOR-2",
            "userType": "USER",
            "attributes": {"amount": row["amount"], "plan": row["plan"]},
        }
    )


def test_client_cpu(setup, figures) -> None:  # type: ignore[no-untyped-def]
    rows = list(SqlSource(WAREHOUSE_CONN, tagged_sql("cpu", ROWS)))

    # ---- in process, stage by stage
    _cpu(_naive_px, rows[:500])
    _, naive_us = _cpu(_naive_px, rows)
    figures.add(
        scope="in-process",
        vendor="gainsight_px",
        mapping="baseline: dict literal + json.dumps",
        events=len(rows),
        total_us=naive_us,
        load=load(),
    )
    cases: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    for vendor in PER_EVENT_VENDORS.values():
        cases.append((vendor.name, "plain", dict(vendor.plain), dict(vendor.options)))
        cases.append((vendor.name, "jinja", dict(vendor.templated), dict(vendor.options)))
    cases.append(("acton", "plain", ACTON_PLAIN, ACTON_OPTIONS))
    cases.append(("acton", "jinja", ACTON_TEMPLATED, ACTON_OPTIONS))
    for name, kind, spec, options in cases:
        _stages(f"{name}_default", spec, options, rows[:500])  # warm-up: first-call costs do not count
        stages = _stages(f"{name}_default", spec, options, rows)
        total = stages["render_us"] + stages["key_prepare_us"] + (stages["json_us"] or 0.0)
        figures.add(
            scope="in-process",
            vendor=name,
            mapping=kind,
            events=len(rows),
            render_us=stages["render_us"],
            key_prepare_us=stages["key_prepare_us"],
            json_us=stages["json_us"] if stages["json_us"] is not None else "n/a (CSV)",
            total_us=total,
            load=load(),
        )

    # ---- end to end against the emulator (no latency), CPU of this process per event
    px = PER_EVENT_VENDORS["gainsight_px"]
    url, headers, payloads = prepared_payloads(px, NAIVE_EVENTS)
    cpu0 = time.process_time()
    seconds, statuses = sequential_post(url, headers, payloads)
    assert all(200 <= s < 300 for s in statuses), statuses
    figures.add(
        scope="end-to-end",
        vendor=px.name,
        mapping="baseline: requests.post loop",
        events=len(payloads),
        total_us=(time.process_time() - cpu0) / len(payloads) * US,
        events_per_s=len(payloads) / seconds,
        load=load(),
    )
    bare_us = _bare_session_cpu(url, headers, payloads)
    figures.add(
        scope="end-to-end",
        vendor=px.name,
        mapping=f"baseline: requests.Session, {CONCURRENCY} threads",
        events=len(payloads),
        total_us=bare_us,
        load=load(),
    )
    engine_px_us = None
    for vendor in PER_EVENT_VENDORS.values():
        for kind, spec in (("plain", vendor.plain), ("jinja", vendor.templated)):
            if vendor.name != "gainsight_px" and kind == "jinja":
                continue
            run = run_engine(
                vendor.conn_id,
                spec,
                limit=E2E_EVENTS,
                destination_options=vendor.options,
                max_requests_per_second=0,
                max_concurrency=CONCURRENCY,
            )
            assert run.report.accepted == E2E_EVENTS, run.report.to_dict()
            if vendor.name == "gainsight_px" and kind == "plain":
                engine_px_us = run.cpu / E2E_EVENTS * US
            figures.add(
                scope="end-to-end",
                vendor=vendor.name,
                mapping=kind,
                events=E2E_EVENTS,
                total_us=run.cpu / E2E_EVENTS * US,
                events_per_s=run.rate,
                load=load(),
            )
    assert engine_px_us is not None
    ratio = engine_px_us / bare_us
    figures.add(
        scope="target",
        vendor=px.name,
        mapping="engine / bare requests.Session (<= 0.5)",
        events=E2E_EVENTS,
        total_us=engine_px_us,
        ratio=round(ratio, 2),
        load=load(),
    )
    assert ratio <= 0.5, f"engine {engine_px_us:.0f} us/event vs bare requests.Session {bare_us:.0f} us/event"


def _bare_session_cpu(url: str, headers: dict, payloads: list[Any]) -> float:  # type: ignore[type-arg]
    """Client CPU per event of a bare ``requests.Session`` posting with ``CONCURRENCY`` threads."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=CONCURRENCY))

    def post(payload: Any) -> int:
        return session.post(url, json=payload, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(CONCURRENCY) as pool:  # warm the pool's connections first
        list(pool.map(post, payloads[:CONCURRENCY]))
        start = time.process_time()
        statuses = list(pool.map(post, payloads))
        cpu = time.process_time() - start
    session.close()
    assert all(200 <= status < 300 for status in statuses)
    return cpu / len(payloads) * US
