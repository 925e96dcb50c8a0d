"""Streaming 100k rows through dag.test() with bounded memory (peak RSS growth, printed)."""

from __future__ import annotations

import gc
import resource
import tracemalloc

import pytest
from helpers.sync import make_dag

from airflow_provider_events.sync.source import SqlSource
from tests.dag_runner import run_dag, task_states, xcom

ROWS = 100_000
SQL = "SELECT * FROM events ORDER BY id"


def peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.mark.usefixtures("airflow_db", "tmp_state")
def test_100k_rows_stream_with_bounded_memory(emulator, warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(ROWS, pad=200)
    # warm up: the first dag.test() of a process imports and caches much of Airflow
    run_dag(make_dag("sync_100k_warmup", sql=SQL + " LIMIT 50", dry_run=True))
    gc.collect()
    before = peak_rss()
    dr = run_dag(make_dag("sync_100k", sql=SQL, dry_run=True, key_columns=["id"], chunk_size=500))
    growth = peak_rss() - before
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    assert report["rows_read"] == ROWS
    assert report["would_send"] == ROWS
    assert report["rejected"] == 0

    # what holding the rows would take: the same source, materialised (measured after, so that its
    # allocation does not raise the peak measured above)
    gc.collect()
    tracemalloc.start()
    rows = list(SqlSource("warehouse", SQL))
    materialised = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del rows
    print(
        f"\n100k rows: materialised {materialised / 2**20:.1f} MiB; peak RSS growth of the whole "
        f"dag.test() while streaming {growth / 2**20:.1f} MiB ({report['seconds']}s in the engine)"
    )
    assert growth < materialised / 4
