"""Size of the delivery checkpoint in Airflow's task state store for N events (default 1,000,000).

Run: ``python tests/benchmarks/bench_task_state_size.py 1000000``. Drives a
:class:`~airflow_provider_events.sync.task_state.TaskStateCheckpoint` like the engine does (write ahead a
group of 16 keys, acknowledge them) over a dict standing in for ``context["task_state_store"]``, measuring
each value as Airflow does (its JSON length), then reloads it as a retry would.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from typing import Any

from airflow_provider_events.sync.digests import key_digest
from airflow_provider_events.sync.task_state import TaskStateCheckpoint


class DictStore:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0
        self.bytes_written = 0

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = json.dumps(value)
        self.writes += 1
        self.bytes_written += len(self.values[key])


def measure(n: int, group: int = 16) -> dict[str, Any]:
    store = DictStore()
    spool = tempfile.mkdtemp()
    checkpoint = TaskStateCheckpoint(store, spool)
    started = time.monotonic()
    for start in range(0, n, group):
        digests = [key_digest(str(i)) for i in range(start, min(n, start + group))]
        checkpoint.begin(digests)
        for digest in digests:
            checkpoint.ack(digest)
    checkpoint.flush()
    write_s = time.monotonic() - started
    sizes = {key: len(value) for key, value in store.values.items()}
    started = time.monotonic()
    again = TaskStateCheckpoint(store, spool)
    return {
        "events": n,
        "keys": len(sizes),
        "total_bytes": sum(sizes.values()),
        "bytes_per_event": round(sum(sizes.values()) / n, 2),
        "largest_value": max(sizes.values()),
        "writes": store.writes,
        "bytes_written_per_event": round(store.bytes_written / n, 1),
        "write_seconds": round(write_s, 1),
        "reload_seconds": round(time.monotonic() - started, 1),
        "reloaded_keys": len(again.done),
    }


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)))
