"""The offset/count pagination helper."""

from __future__ import annotations

import pytest

from airflow_provider_events.hooks.pagination import paginate_offset


def pages_of(items: list[int], total: int | None, calls: list[tuple[int, int]]):
    def fetch(offset: int, count: int) -> tuple[list[int], int | None]:
        calls.append((offset, count))
        return items[offset : offset + count], total

    return fetch


def test_walks_every_page_until_the_total():
    calls: list[tuple[int, int]] = []
    assert list(paginate_offset(pages_of(list(range(250)), 250, calls), page_size=100)) == list(range(250))
    assert calls == [(0, 100), (100, 100), (200, 100)]


def test_stops_on_exact_multiple_without_an_extra_call():
    calls: list[tuple[int, int]] = []
    assert len(list(paginate_offset(pages_of(list(range(200)), 200, calls), page_size=100))) == 200
    assert calls == [(0, 100), (100, 100)]


def test_stops_on_short_page_when_total_is_unknown_or_wrong():
    calls: list[tuple[int, int]] = []
    assert len(list(paginate_offset(pages_of(list(range(150)), 10_000, calls), page_size=100))) == 150
    assert len(calls) == 2


def test_rejects_a_zero_page_size():
    with pytest.raises(ValueError, match="page_size"):
        list(paginate_offset(lambda o, c: ([], 0), page_size=0))
