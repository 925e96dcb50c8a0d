"""Every event accounted for through SIGKILL, faults before and after processing, and retries (issue 13).

Randomized crash trials (see ``crash_trials.py``): the first attempt is killed with ``SIGKILL`` at a random
point, then retried to completion. Per trial:

- Gainsight PX (read-back by ``eventId``) and CareCloud (``relation_already_exists``): 0 lost, 0 duplicated;
- ExpertSender CDP (no way to ask): every loss is counted in ``in_doubt`` and every duplicate in
  ``possible_duplicates``, under both policies;
- the report's bucket identity holds: every row in exactly one bucket, the killed attempt's included.

The longer run (15+ trials per vendor and policy) is ``tests/benchmarks/bench_crash_trials.py``.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from .conftest import FaultEmulator
from .crash_trials import connection_env, run_trial

N = 120
SEED = 1313


@pytest.mark.parametrize(
    ("vendor", "retry_ambiguous", "trials"),
    [
        ("gainsight_px", False, 2),
        ("carecloud", False, 2),
        ("expertsender_cdp", False, 2),
        ("expertsender_cdp", True, 2),
    ],
)
def test_crash_trials_account_for_every_event(
    fault_emulator: FaultEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    vendor: str,
    retry_ambiguous: bool,
    trials: int,
) -> None:
    for name, value in connection_env(fault_emulator).items():
        monkeypatch.setenv(name, value)
    rng = random.Random(f"{SEED}-{vendor}-{retry_ambiguous}")
    for trial in range(trials):
        result = run_trial(fault_emulator, vendor, retry_ambiguous, N, rng, tmp_path / f"t{trial}")
        print("\n" + result.row())
        report = result.report
        assert report.rows_read == N
        assert report.unaccounted == 0, report.to_dict()  # every row in exactly one bucket
        assert report.failed == 0
        if vendor in ("gainsight_px", "carecloud"):
            assert (result.lost, result.duplicated) == (0, 0), result.row()
            assert report.in_doubt == 0
            assert report.possible_duplicates == 0
        else:
            assert result.lost <= report.in_doubt, result.row()
            assert result.duplicated <= report.possible_duplicates, result.row()
            if not retry_ambiguous:
                assert result.duplicated == 0
                assert report.possible_duplicates == 0
        assert report.attempts == result.attempts - (1 if result.killed_at is not None else 0)


def test_emulator_faults_after_processing_and_throttling_as_shares(fault_emulator: FaultEmulator) -> None:
    """``drop_rate``: the request is processed, then the connection drops; ``throttle_rate``: 429 with
    ``Retry-After`` before processing. Both are shares of requests, for every vendor."""
    import requests

    conn = fault_emulator.connection("gainsight_px")
    url = conn["host"] + "/events/custom"
    headers = {"X-APTRINSIC-API-KEY": conn["password"], "Content-Type": "application/json"}
    body = {"identifyId": "u1", "propertyKey": "AP-EMULATOR-2", "eventName": "e", "userType": "USER"}
    body["eventId"] = "id-1"

    fault_emulator.faults("gainsight_px", drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json=body, headers=headers, timeout=10)
    assert [e["eventId"] for e in fault_emulator.state("gainsight_px")["received"]] == ["id-1"]  # processed
    assert fault_emulator.counters("gainsight_px")["dropped_after_accept"] == 1

    fault_emulator.faults("gainsight_px", drop_rate=0.0, throttle_rate=1.0, throttle_retry_after=7)
    answer = requests.post(url, json=dict(body, eventId="id-2"), headers=headers, timeout=10)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert len(fault_emulator.state("gainsight_px")["received"]) == 1  # refused before processing
    assert fault_emulator.counters("gainsight_px")["throttled_share"] == 1
