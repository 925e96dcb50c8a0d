"""Delivery ledger at 1M keys: bytes on storage, time to write and to load, and the cost of one lookup.

Two layouts of the same million keys: one compacted segment (a month compacted into one file per day is
close to it), and the month as written day by day (30 day buckets of 33,334 keys, each compacted). Lookups
are measured over keys the ledger holds (a row delivered before: skipped) and keys it does not (a new row).
Run: ``make bench PYTEST_ARGS="-k ledger"``.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_provider_events.sync.digests import key_digest
from airflow_provider_events.sync.ledger import LedgerOptions, destination_dir_name, open_ledger
from airflow_provider_events.sync.ledger_segments import SegmentStore, day_bucket

KEYS = 1_000_000
LOOKUPS = 200_000
DEST = "gainsight_px:gainsight_px_default:property=AP-BENCH/event=*"


def _dir_bytes(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*.seg")]
    return sum(p.stat().st_size for p in files), len(files)


def _open(root: Path) -> Any:
    ledger = open_ledger(DEST, LedgerOptions(path=str(root)))
    assert ledger is not None
    ledger.load()
    return ledger


def _measure(root: Path, figures, layout: str, keys: list[int]) -> None:  # type: ignore[no-untyped-def]
    """CPU seconds (``process_time``: what the ledger costs, whatever else the machine runs) and wall."""
    size, files = _dir_bytes(root)
    wall, cpu = time.perf_counter(), time.process_time()
    ledger = _open(root)
    load_cpu, load_wall = time.process_time() - cpu, time.perf_counter() - wall
    assert len(ledger) == len(set(keys))

    hits = random.sample(keys, LOOKUPS)
    misses = [key_digest(f"new-{i}") for i in range(LOOKUPS)]
    cpu = time.process_time()
    assert all(ledger.holds(d) for d in hits)
    hit_us = (time.process_time() - cpu) / LOOKUPS * 1e6
    cpu = time.process_time()
    assert not any(ledger.holds(d) for d in misses)
    miss_us = (time.process_time() - cpu) / LOOKUPS * 1e6
    del ledger

    tracemalloc.start()  # a second load, traced (tracing slows allocation: not timed)
    held = _open(root)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    figures.add(
        layout=layout,
        keys=len(keys),
        segments=files,
        bytes_on_storage=size,
        bytes_per_key=round(size / len(keys), 2),
        load_cpu_s=round(load_cpu, 3),
        load_wall_s=round(load_wall, 3),
        load_peak_mb=round(peak / 1e6, 1),
        held_mb=round(len(held) * 8 / 1e6, 1),
        lookup_hit_us=round(hit_us, 2),
        lookup_miss_us=round(miss_us, 2),
    )


def test_ledger_one_million_keys(tmp_path: Path, figures) -> None:  # type: ignore[no-untyped-def]
    keys = [key_digest(f"order-{i}") for i in range(KEYS)]

    # one run delivering a million events: one segment
    single = tmp_path / "single"
    wall, cpu = time.perf_counter(), time.process_time()
    writer = open_ledger(DEST, LedgerOptions(path=str(single)))
    assert writer is not None
    writer.record_many(keys)
    figures.add(
        layout="write 1M keys (record_many: one segment)",
        write_cpu_s=round(time.process_time() - cpu, 3),
        write_wall_s=round(time.perf_counter() - wall, 3),
    )
    _measure(single, figures, "one segment", keys)

    # a month of daily runs, each day's bucket compacted into one segment
    month = tmp_path / "month"
    store = SegmentStore(month / destination_dir_name(DEST))
    now = datetime.now(timezone.utc)
    per_day = -(-KEYS // 30)
    for day in range(30):
        part = keys[day * per_day : (day + 1) * per_day]
        store.write(day_bucket(now - timedelta(days=day)), part, compacted=True)
    _measure(month, figures, "30 day buckets", keys)
