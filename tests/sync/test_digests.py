"""The row-key digests and the set that holds them."""

from __future__ import annotations

import hashlib

from airflow_provider_events.sync.digests import DigestSet, key_digest, key_digests


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


def test_sorted_digests_equals_sorted_set_across_runs_and_sources() -> None:
    """Shuffled keys with repeats, from two sources: ascending and distinct."""
    import random

    from airflow_provider_events.sync.digests import sorted_digests

    rng = random.Random(7)
    values = [rng.randrange(1, 1 << 64) for _ in range(70_000)] + list(range(1, 300))  # + one crowded bucket
    repeated = values[:3_000]
    result = sorted_digests(values, repeated)
    assert list(result) == sorted(set(values))
    assert result.typecode == "Q"
    assert sorted_digests(sorted(values)) == result
    assert len(sorted_digests([])) == 0


def test_digest_buckets_drain_in_order_once_with_a_filter() -> None:
    from airflow_provider_events.sync.digests import DigestBuckets, sorted_digests

    digests = [key_digest(f"row-{i}") for i in range(20_000)]
    buckets = DigestBuckets()
    for digest in digests + digests[:500]:
        buckets.add(digest)
    assert len(buckets) == 20_500
    odd = sorted_digests(buckets, keep=lambda d: d % 2 == 1)  # drained in place, no copy
    assert list(odd) == sorted(d for d in set(digests) if d % 2)
    assert len(buckets) == 0
    assert len(buckets.drain()) == 0


def test_key_digest_is_the_sha256_prefix_ledgers_and_checkpoints_store() -> None:
    # the digest is persisted (ledger segments, checkpoints): whatever SHA-256 implementation computes it,
    # it must stay the first 64 bits of the key's UTF-8 SHA-256
    keys = ["", "1", "12345", "Zoë — 日本語 🎉", "x" * 5000, *(f"evt-{i}" for i in range(2000))]
    for key in keys:
        expected = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
        assert key_digest(key) == expected
    assert key_digest("1") == 0x6B86B273FF34FCE1


def test_bulk_digests_are_the_per_key_digests() -> None:
    """The block path hashes keys in bulk; the delivery ledger must see the same digests either way."""
    keys = [str(i) for i in range(3_000)] + ["", "é", "ключ", "a" * 500]
    assert list(key_digests(keys)) == [key_digest(key) for key in keys]
