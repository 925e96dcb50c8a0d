"""Idempotency keys as 64-bit digests, and a compact set of them (8 bytes a slot, not ~70 as in ``set``)."""

from __future__ import annotations

import hashlib
import importlib
import struct
import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def _builtin_sha256() -> Callable[[bytes], Any]:
    """CPython's own SHA-256 where the build has it: for a key of a few bytes it costs ~0.1 us less a call
    than OpenSSL's (``hashlib.sha256``), whose setup dominates; the digest is the same by definition."""
    for module in ("_sha256", "_sha2"):  # Python 3.11; 3.12 and later
        try:
            return importlib.import_module(module).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


_sha256 = _builtin_sha256()
_first_64_bits = struct.Struct(">Q").unpack_from


def key_digest(key: str) -> int:
    """The first 64 bits of the key's SHA-256 (never 0, which marks an empty slot).

    With 64-bit digests, the chance that two of a billion distinct keys collide is about 3 in 100 million.
    """
    value: int = _first_64_bits(_sha256(key.encode("utf-8")).digest())[0]
    return value or 1


def key_digests(keys: Iterable[str]) -> array[int]:
    """:func:`key_digest` of each key, in an ``array('Q')``: the hashing runs through ``map`` (no Python call
    a key) and the 64-bit prefixes are read in one go (0.44 us a key instead of 0.63)."""
    prefixes = b"".join([digest.digest()[:8] for digest in map(_sha256, map(str.encode, keys))])
    values = array("Q", prefixes)
    if not _BIG_ENDIAN:
        values.byteswap()  # the prefixes are big-endian
    if 0 in values:  # never in practice: 0 marks an empty slot
        values = array("Q", [value or 1 for value in values])
    return values


_BIG_ENDIAN = sys.byteorder == "big"


class DigestSet:
    """An open-addressing hash set of non-zero 64-bit integers, kept in one ``array('Q')``."""

    __slots__ = ("_mask", "_size", "_slots")

    def __init__(self, items: Iterable[int] = ()) -> None:
        self._slots = array("Q", bytes(8 * 1024))
        self._mask = 1023
        self._size = 0
        for item in items:
            self.add(item)

    def __len__(self) -> int:
        return self._size

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, int) or item == 0:
            return False
        slots, mask = self._slots, self._mask
        index = item & mask
        while True:
            current = slots[index]
            if current == item:
                return True
            if current == 0:
                return False
            index = (index + 1) & mask

    def add(self, item: int) -> bool:
        """Add ``item``; True when it was not there yet."""
        if item <= 0 or item >= 1 << 64:
            raise ValueError("digests are non-zero 64-bit unsigned integers")
        if (self._size + 1) * 2 > len(self._slots):
            self._grow()
        slots, mask = self._slots, self._mask
        index = item & mask
        while True:
            current = slots[index]
            if current == item:
                return False
            if current == 0:
                slots[index] = item
                self._size += 1
                return True
            index = (index + 1) & mask

    def __iter__(self) -> Iterator[int]:
        return (value for value in self._slots if value)

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(16 * len(old)))
        self._mask = len(self._slots) - 1
        self._size = 0
        for value in old:
            if value:
                self.add(value)

    @property
    def nbytes(self) -> int:
        """Memory held by the slots."""
        return len(self._slots) * self._slots.itemsize


class DigestBuckets:
    """Digests dealt into 256 compact arrays by their top byte: 8 bytes a key, drained once in order.

    Digests are uniformly spread SHA-256 prefixes, so each bucket holds about 1/256 of them; draining sorts
    one bucket at a time and frees it, so the peak beyond the keys themselves is one bucket's Python ints.
    """

    __slots__ = ("_buckets", "_count")

    def __init__(self) -> None:
        self._buckets = [array("Q") for _ in range(256)]
        self._count = 0

    def add(self, value: int) -> None:
        """Collect ``value`` (a non-zero 64-bit digest)."""
        self._buckets[value >> 56].append(value)
        self._count += 1

    def __len__(self) -> int:
        """How many digests were added (repeats included)."""
        return self._count

    def drain(self, keep: Callable[[int], bool] | None = None) -> array[int]:
        """The distinct digests (those ``keep`` accepts), ascending; the buckets are empty afterwards."""
        result = array("Q")
        for index, bucket in enumerate(self._buckets):
            if bucket:
                self._buckets[index] = array("Q")  # freed before the next bucket is sorted
                ordered = sorted(set(bucket))
                del bucket
                result.extend(ordered if keep is None else filter(keep, ordered))
        self._count = 0
        return result


class HandedDigests:
    """The digests handed to a batch delivery, in row order, taken out part by part as the vendor holds them.

    Two compact arrays (16 bytes a row, nothing per row in Python objects); what is held is only the rows
    handed but not yet in a recorded job, so it stays bounded by the size of a part, not of the run.
    """

    __slots__ = ("_digests", "_rows")

    def __init__(self) -> None:
        self._rows = array("Q")
        self._digests = array("Q")

    def add(self, row_number: int, digest: int) -> None:
        """Note a handed row (row numbers ascending)."""
        self._rows.append(row_number)
        self._digests.append(digest)

    def add_many(self, row_numbers: Iterable[int], digests: Iterable[int]) -> None:
        """Note many handed rows at once (row numbers ascending, after those noted before)."""
        self._rows.extend(row_numbers)
        self._digests.extend(digests)

    def take_through(self, row_number: int) -> array[int]:
        """The digests of the rows numbered up to ``row_number``, removed from here."""
        count = bisect_right(self._rows, row_number)
        taken = self._digests[:count]
        del self._digests[:count]
        del self._rows[:count]
        return taken

    def take_all(self) -> array[int]:
        """Every digest still here, removed."""
        taken, self._digests, self._rows = self._digests, array("Q"), array("Q")
        return taken


def sorted_digests(
    *sources: Iterable[int] | DigestBuckets, keep: Callable[[int], bool] | None = None
) -> array[int]:
    """The distinct digests of ``sources`` (those ``keep`` accepts), ascending, in an ``array('Q')``.

    ``sorted(set(...))`` holds every key as a Python int (about 70 bytes with its set slot); this deals
    them into :class:`DigestBuckets` first (8 bytes a key). A single :class:`DigestBuckets` source is
    drained in place, without a copy.
    """
    if len(sources) == 1 and isinstance(sources[0], DigestBuckets):
        return sources[0].drain(keep)
    buckets = DigestBuckets()
    for source in sources:
        for value in source.drain() if isinstance(source, DigestBuckets) else source:
            buckets.add(value)
    return buckets.drain(keep)
