"""The long crash-trial run of issue 13: 15 randomized SIGKILL trials per per-event vendor and policy.

Each trial (``tests/reliability/crash_trials.py``): ``N`` events through ``sync_rows`` to the out-of-process
emulator under faults before processing (5% 503, 3% 429 + Retry-After, 3% resets) and after processing (3%
dropped after storing, 3% answered after the read timeout); the first attempt is killed with SIGKILL once the
vendor holds a random 10-90% of the events, then retried to completion. Prints one row per vendor and policy:
events lost and duplicated (what the vendor holds) against ``in_doubt`` / ``possible_duplicates`` (what the
reports say). ``CRASH_TRIALS`` / ``CRASH_EVENTS`` change the counts.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from benchmarks.benchkit import load
from reliability.conftest import FaultEmulator
from reliability.crash_trials import VENDORS, connection_env, run_trial

TRIALS = int(os.environ.get("CRASH_TRIALS", "15"))
EVENTS = int(os.environ.get("CRASH_EVENTS", "200"))


@pytest.fixture(scope="module")
def emulator() -> FaultEmulator:
    server = FaultEmulator()
    yield server  # type: ignore[misc]
    server.stop()


def test_crash_trials(
    figures, emulator: FaultEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_STATE_DIR", str(tmp_path / "state"))
    for name, value in connection_env(emulator).items():
        monkeypatch.setenv(name, value)
    rng = random.Random(13)
    for vendor in VENDORS:
        for retry_ambiguous in (False, True):
            started = time.monotonic()
            results = [
                run_trial(
                    emulator,
                    vendor,
                    retry_ambiguous,
                    EVENTS,
                    rng,
                    tmp_path / f"{vendor}-{retry_ambiguous}-{i}",
                )
                for i in range(TRIALS)
            ]
            lost = sum(r.lost for r in results)
            duplicated = sum(r.duplicated for r in results)
            in_doubt = sum(r.report.in_doubt for r in results)
            possible = sum(r.report.possible_duplicates for r in results)
            figures.add(
                vendor=vendor,
                policy="at-least-once" if retry_ambiguous else "at-most-once",
                trials=TRIALS,
                events=TRIALS * EVENTS,
                killed=sum(r.killed_at is not None for r in results),
                lost=lost,
                duplicated=duplicated,
                in_doubt=in_doubt,
                possible_duplicates=possible,
                read_back=sum(r.report.resolved_by_lookup for r in results),
                already_delivered=sum(r.report.already_delivered for r in results),
                unaccounted=sum(r.report.unaccounted for r in results),
                losses_counted=all(r.lost <= r.report.in_doubt for r in results),
                duplicates_counted=all(r.duplicated <= r.report.possible_duplicates for r in results),
                seconds=round(time.monotonic() - started, 1),
                load=load(),
            )
            assert all(r.report.unaccounted == 0 for r in results)
            assert all(r.lost <= r.report.in_doubt for r in results)
            assert all(r.duplicated <= r.report.possible_duplicates for r in results)
            if vendor != "expertsender_cdp":
                assert lost == duplicated == 0
