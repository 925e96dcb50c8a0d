"""Import cost: what importing every provider module adds to ``import airflow.sdk`` (DAG parsing pays it).

Target: under 50 ms.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from airflow_provider_events.get_provider_info import get_provider_info

PROBE = """
import json, sys, time
t0 = time.perf_counter()
import airflow.sdk  # noqa: F401
t1 = time.perf_counter()
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
t2 = time.perf_counter()
print(json.dumps({"sdk": t1 - t0, "provider": t2 - t1}))
"""


def provider_modules() -> list[str]:
    info = get_provider_info()
    names = ["airflow_provider_events.get_provider_info"]
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            names += entry["python-modules"]
    return names


def test_import_cost(figures):
    modules = provider_modules()
    runs = []
    for _ in range(7):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    sdk_ms = statistics.median(r["sdk"] for r in runs) * 1000
    provider_ms = statistics.median(r["provider"] for r in runs) * 1000
    figures.add(what="import airflow.sdk", median_ms=sdk_ms, runs=len(runs))
    figures.add(
        what=f"+ all {len(modules)} provider modules",
        median_ms=provider_ms,
        runs=len(runs),
        target_ms=50,
        met=provider_ms < 50,
    )
    assert provider_ms < 50, f"provider modules add {provider_ms:.1f} ms to import airflow.sdk"
