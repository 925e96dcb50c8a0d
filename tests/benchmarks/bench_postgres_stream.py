"""Streaming 100,000 and 1,000,000 rows from a real PostgreSQL server through the sync: peak memory vs rows.

A private cluster (OS packages, loopback, free port) holds ``events``; each size runs in a fresh Python
process (so one run's peak cannot hide the other's) that calls the delivery engine on a ``SqlSource`` in
``dry_run`` mode: every row is read through the named cursor, mapped to a Gainsight PX event, validated and
keyed, nothing is sent. The process reports its peak RSS, the rows read and how long the stream took.

What may grow with the row count, by design: the run's set of event-key digests (8 bytes a slot, for
in-run duplicate detection). Everything else must be flat: the figures print both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from airflow_provider_events.testing.postgres import PostgresCluster, fill_events

SIZES = (100_000, 1_000_000)
CHUNK = 2_000

PROBE = textwrap.dedent(
    """
    import json, resource, sys, time
    from airflow_provider_events.sync.checkpoint import CheckpointIdentity
    from airflow_provider_events.sync.engine import SyncOptions
    from airflow_provider_events.sync.runner import sync_rows
    from airflow_provider_events.sync.source import SqlSource

    def rss_mib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    source = SqlSource("pg_bench", "SELECT * FROM events ORDER BY id", chunk_size=int(sys.argv[1]))
    baseline = rss_mib()  # after the imports: what any task process pays before reading a row
    start = time.perf_counter()
    report = sync_rows(
        destination_conn_id="gainsight_px_default",
        source=source,
        mapping={"identifyId": "user_id", "eventName": "event", "date": "ts_ms",
                 "attributes": {"amount": "amount", "plan": "plan"}},
        identity=CheckpointIdentity("bench_pg", sys.argv[2], "sync"),
        options=SyncOptions(key_columns=["id"], dry_run=True),
    )
    print(json.dumps({
        "rows_read": report.rows_read,
        "would_send": report.would_send,
        "seconds": time.perf_counter() - start,
        "baseline_mib": baseline,
        "peak_mib": rss_mib(),
        "server_side": source.server_side,
    }))
    """
)


def stream(cluster: PostgresCluster, rows: int, tmp_path) -> dict:  # type: ignore[no-untyped-def,type-arg]
    fill_events(cluster, rows, pad=100)
    env = dict(os.environ)
    env.update(cluster.connection_env("pg_bench"))
    # dry run: nothing is sent, but the destination's connection must exist; nothing listens on it
    env["AIRFLOW_CONN_GAINSIGHT_PX_DEFAULT"] = json.dumps(
        {
            "conn_type": "gainsight_px",
            "host": "http://127.0.0.1:9/v1",
            "password": "unused",
            "extra": {"property_key": "AP-BENCH00000-2"},
        }
    )
    env["AIRFLOW_PROVIDER_EVENTS_STATE_DIR"] = str(tmp_path / f"state-{rows}")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(CHUNK), f"run-{rows}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[type-arg]
    assert result["rows_read"] == rows
    assert result["would_send"] == rows
    assert result["server_side"] is True
    return result


def test_postgres_stream_memory_is_flat_in_the_row_count(figures, tmp_path) -> None:  # type: ignore[no-untyped-def]
    load = os.getloadavg()[0]
    results = {}
    with PostgresCluster() as cluster:
        for rows in SIZES:
            results[rows] = stream(cluster, rows, tmp_path)
    for rows, r in results.items():
        figures.add(
            rows=rows,
            seconds=round(r["seconds"], 1),
            rows_per_s=round(rows / r["seconds"]),
            baseline_rss_mib=round(r["baseline_mib"], 1),
            peak_rss_mib=round(r["peak_mib"], 1),
            growth_mib=round(r["peak_mib"] - r["baseline_mib"], 1),
            key_digests_mib=round(2 * 8 * rows / 2**20, 1),  # upper bound: 8-byte slots, <= half full
            load=round(load, 1),
        )
    small, large = (results[n]["peak_mib"] - results[n]["baseline_mib"] for n in SIZES)
    # 10x the rows: growth beyond the key digests stays within a few MiB (materialising 1M rows of ~200
    # bytes would take hundreds of MiB)
    digests = 2 * 8 * (SIZES[1] - SIZES[0]) / 2**20
    assert large - small < digests + 32, (small, large)
