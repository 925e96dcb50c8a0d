"""The row-key digests and the set that holds them."""

from __future__ import annotations

from airflow_provider_events.sync.digests import DigestSet, key_digest


def test_digest_set_behaves_like_a_set() -> None:
    digests = [key_digest(f"key-{i}") for i in range(5000)]
    s = DigestSet(digests[:2500])
    assert len(s) == 2500
    assert all(d in s for d in digests[:2500])
    assert not any(d in s for d in digests[2500:])
    assert not s.add(digests[0])
    assert s.add(digests[-1])
    assert sorted(s) == sorted(set(digests[:2500]) | {digests[-1]})
    assert s.nbytes <= 16 * 8 * 2501  # at most 16 slots of 8 bytes per key after growth
