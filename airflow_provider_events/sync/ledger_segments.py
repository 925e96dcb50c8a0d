"""The delivery ledger's storage: immutable, compressed segment files of sorted 64-bit key digests.

A segment holds a sorted run of distinct digests, delta-encoded, byte-shuffled and zlib-compressed::

    b"PEL1" | count (8 bytes, little endian) | zlib(shuffled little-endian deltas)

Sorted 64-bit digests of ``n`` random keys differ by about ``2**64 / n``: at a million keys a delta needs
~44 bits, so after the shuffle (all first bytes, then all second bytes ...) the high bytes are nearly all
zeros and compress away, and a key costs ~5.7 bytes instead of 8 (the information-theoretic floor for a set
of a million random 64-bit values is ~5.6 bytes a key). Encoding and decoding are C-level loops
(``map``, ``accumulate``, slicing), not per-key Python code.

Layout below the ledger root (a local directory or any ``ObjectStoragePath``)::

    <root>/<destination>/<YYYYMMDD>/<time_ns>-<random>.seg     one per flush of one writer
    <root>/<destination>/<YYYYMMDD>/c-<time_ns>-<random>.seg   the compaction of a day's segments

Every writer writes new objects only (never rewrites one), so concurrent runs on any workers never lose
each other's writes, and object stores without compare-and-set are enough. The day directory is the time
bucket retention drops as a whole.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import uuid
import zlib
from array import array
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from itertools import accumulate, chain, islice
from operator import lt, sub
from pathlib import Path
from typing import Any, TypeGuard

from airflow_provider_events.sync.digests import sorted_digests

logger = logging.getLogger(__name__)

MAGIC = b"PEL1"
SUFFIX = ".seg"
COMPACTED_PREFIX = "c-"
_HEADER = len(MAGIC) + 8


class CorruptSegmentError(ValueError):
    """A segment file that is not a ledger segment, or is truncated."""


def _little_endian(values: array[int]) -> memoryview:
    if sys.byteorder == "big":  # pragma: no cover - every supported platform is little endian
        values = array("Q", values)
        values.byteswap()
    return memoryview(values).cast("B")


def _ascending_array(digests: Iterable[int]) -> TypeGuard[array[int]]:
    """``digests`` is already an ``array('Q')`` of strictly ascending keys (checked in C, no copy)."""
    return isinstance(digests, array) and all(map(lt, digests, islice(digests, 1, None)))


def encode_digests(digests: Iterable[int]) -> bytes:
    """One segment holding the distinct ``digests`` (non-zero 64-bit unsigned integers).

    The ascending keys are stored as deltas, byte-plane shuffled (byte ``i`` of every delta together)
    and deflated; the planes are fed to the compressor one at a time, so a million keys cost about
    3 x 8 MB at the peak, not 5.
    """
    values = digests if _ascending_array(digests) else sorted_digests(digests)
    count = len(values)
    deltas = array("Q", map(sub, values, chain((0,), values)))
    del values
    raw = _little_endian(deltas)
    compressor = zlib.compressobj(6)
    planes = [compressor.compress(bytes(raw[i::8])) for i in range(8)]
    return MAGIC + count.to_bytes(8, "little") + b"".join(planes) + compressor.flush()


def decode_digests(data: bytes) -> array[int]:
    """The sorted digests of one segment, as an ``array('Q')`` (8 bytes a key in memory).

    :raises CorruptSegmentError: when ``data`` is not a whole segment.
    """
    if len(data) < _HEADER or data[: len(MAGIC)] != MAGIC:
        raise CorruptSegmentError("not a delivery ledger segment")
    count = int.from_bytes(data[len(MAGIC) : _HEADER], "little")
    try:
        shuffled = zlib.decompress(data[_HEADER:])
    except zlib.error as exc:
        raise CorruptSegmentError(f"truncated or damaged segment: {exc}") from None
    if len(shuffled) != 8 * count:
        raise CorruptSegmentError("segment length does not match its count")
    raw = bytearray(8 * count)
    for i in range(8):
        raw[i::8] = shuffled[i * count : (i + 1) * count]
    deltas = array("Q")
    deltas.frombytes(bytes(raw))
    if sys.byteorder == "big":  # pragma: no cover
        deltas.byteswap()
    return array("Q", accumulate(deltas))


def day_bucket(when: datetime | None = None) -> str:
    """The UTC day a segment written at ``when`` (default: now) belongs to, as ``YYYYMMDD``."""
    return (when or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%d")


def oldest_kept_bucket(retention_days: float, now: datetime | None = None) -> str:
    """The oldest day bucket still inside the retention window (older buckets are expired)."""
    now = now or datetime.now(timezone.utc)
    return day_bucket(now - timedelta(days=retention_days))


def new_segment_name(compacted: bool = False) -> str:
    """A name no other writer picks: the write time (sortable) and a random part."""
    prefix = COMPACTED_PREFIX if compacted else ""
    return f"{prefix}{time.time_ns():020d}-{uuid.uuid4().hex[:10]}{SUFFIX}"


def is_segment(name: str) -> bool:
    return name.endswith(SUFFIX) and not name.startswith(".")


class SegmentStore:
    """The segment files of one destination under a root directory (local path or ``ObjectStoragePath``).

    :param base: the destination's directory: a :class:`pathlib.Path` or an ``ObjectStoragePath``.
    """

    def __init__(self, base: Any) -> None:
        self.base = base
        self.local = isinstance(base, Path)

    def __str__(self) -> str:
        return str(self.base)

    def buckets(self) -> list[str]:
        """The day buckets present, oldest first."""
        if not self.base.exists():
            return []
        return sorted(p.name for p in self.base.iterdir() if p.name.isdigit() and len(p.name) == 8)

    def segments(self, bucket: str) -> list[Any]:
        """The segment paths of one day bucket, in write order."""
        directory = self.base / bucket
        if not directory.exists():
            return []
        return sorted((p for p in directory.iterdir() if is_segment(p.name)), key=lambda p: p.name)

    def read(self, path: Any) -> array[int]:
        """The digests of one segment.

        :raises FileNotFoundError: when a compaction removed it after it was listed.
        :raises CorruptSegmentError: when it is not a whole segment.
        """
        data: bytes = path.read_bytes()
        return decode_digests(data)

    def write(self, bucket: str, digests: Iterable[int], compacted: bool = False) -> tuple[Any, int]:
        """Write a new segment into ``bucket``; returns its path and size in bytes.

        Local files are written under a dot-name and renamed, so a reader never sees half a segment; object
        stores make each object visible whole.
        """
        directory = self.base / bucket
        directory.mkdir(parents=True, exist_ok=True)
        data = encode_digests(digests)
        path = directory / new_segment_name(compacted)
        if self.local:
            tmp = directory / f".{path.name}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, path)
        else:
            path.write_bytes(data)
        return path, len(data)

    def remove(self, path: Any) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def drop_bucket(self, bucket: str) -> int:
        """Delete a whole day bucket (expired); returns the segments removed."""
        directory = self.base / bucket
        removed = 0
        if not directory.exists():
            return 0
        for child in list(directory.iterdir()):
            self.remove(child)
            removed += 1
        with contextlib.suppress(OSError, NotImplementedError):  # object stores keep no empty directories
            directory.rmdir()
        return removed

    def read_bucket(self, bucket: str, attempts: int = 3) -> list[array[int]]:
        """The digests of every segment of a bucket, tolerant of a concurrent compaction.

        A compaction writes the merged segment before it removes the inputs, so when a listed segment has
        vanished the bucket is listed and read again: the merged segment then holds its keys.
        """
        for attempt in range(attempts):
            try:
                arrays = []
                for path in self.segments(bucket):
                    try:
                        arrays.append(self.read(path))
                    except CorruptSegmentError as exc:
                        logger.warning("skipping ledger segment %s: %s", path, exc)
                return arrays
            except FileNotFoundError:
                if attempt == attempts - 1:
                    raise
        return []

    def expire_buckets(self, oldest: str) -> int:
        """Drop the day buckets before ``oldest``; returns the segments removed."""
        return sum(self.drop_bucket(bucket) for bucket in self.buckets() if bucket < oldest)

    def compact_buckets(self, oldest: str, threshold: int, log: Any = None) -> int:
        """Merge each bucket from ``oldest`` on holding more than ``threshold`` segments; returns merges.

        The merged segment is written before its inputs are removed, so a concurrent reader always finds
        every key (see :meth:`read_bucket`).
        """
        merges = 0
        for bucket in self.buckets():
            if bucket < oldest:
                continue
            paths = self.segments(bucket)
            if len(paths) <= threshold:
                continue
            merged = array("Q")
            inputs = []
            for path in paths:
                try:
                    merged.extend(self.read(path))
                    inputs.append(path)
                except FileNotFoundError:
                    continue  # another run compacted it meanwhile
                except CorruptSegmentError as exc:
                    (log or logger).warning("leaving damaged ledger segment %s: %s", path, exc)
            if len(inputs) < 2:
                continue
            self.write(bucket, merged, compacted=True)
            for path in inputs:
                self.remove(path)
            merges += 1
        return merges
