"""Idempotency keys as 64-bit digests, and a compact set of them (8 bytes a slot, not ~70 as in ``set``)."""

from __future__ import annotations

import hashlib
import heapq
from array import array
from collections.abc import Iterable, Iterator
from itertools import pairwise


def key_digest(key: str) -> int:
    """The first 64 bits of the key's SHA-256 (never 0, which marks an empty slot).

    With 64-bit digests, the chance that two of a billion distinct keys collide is about 3 in 100 million.
    """
    value = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return value or 1


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


#: digests sorted at a time by :func:`sorted_digests` (about 2.5 MiB of Python ints at once).
_SORT_RUN = 65_536


def sorted_digests(*sources: Iterable[int]) -> array[int]:
    """The distinct digests of ``sources``, ascending, in an ``array('Q')``: 8 bytes a key at rest.

    ``sorted(set(...))`` holds every key as a Python int (about 70 bytes with its set slot); here the keys
    are sorted in runs of :data:`_SORT_RUN` into compact arrays, then merged, so the peak beyond the
    result is one run, not the whole input.
    """
    runs: list[array[int]] = []
    pending: list[int] = []
    for source in sources:
        for value in source:
            pending.append(value)
            if len(pending) >= _SORT_RUN:
                runs.append(array("Q", sorted(pending)))
                pending = []
    if pending:
        runs.append(array("Q", sorted(pending)))
    if not runs:
        return array("Q")
    if all(earlier[-1] <= later[0] for earlier, later in pairwise(runs)):
        merged = runs[0]  # already in order (a sorted source): concatenate, no merge
        for run in runs[1:]:
            merged.extend(run)
    else:
        merged = array("Q", heapq.merge(*runs))
    result = array("Q")
    previous = -1
    for value in merged:
        if value != previous:
            result.append(value)
            previous = value
    return result
