"""Validating a chunk of source rows at once, for a batch delivery: no record dict and no Python call a row.

A batch delivery (Act-On) reads every row of a large source as fast as it can, so the cost of one row is
the engine's whole budget. When the source gives rows as values (SQL), the mapping is flat (each field a
column or a constant), the key is one source column and the adapter has a
:meth:`~.adapter.BatchAdapter.block_preparer`, a chunk of fetched rows is turned into a
:class:`~.adapter.PreparedBlock` column by column: the fields' values are transposed out of the rows, the
keys are the key column's text, and the adapter validates each field's values together.

This is only a faster way to the same result. Whenever a chunk holds anything the row-by-row rules must
decide (an empty key, text that may not be UTF-8, a record the adapter's block check does not pass),
:meth:`BlockPlan.prepare` returns ``None`` and the engine prepares that chunk row by row, so every reject
still names its row and field, and the events, keys and digests are the same either way.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_events.sync.adapter import BatchAdapter, BlockPreparer, PreparedBlock
from airflow_provider_events.sync.mapping import RowMapping, invalid_text_field


@dataclass(frozen=True)
class BlockPlan:
    """How a chunk of value rows becomes a :class:`~.adapter.PreparedBlock`.

    :param picks: per record field, in field order: ``(column index, None)`` or ``(None, constant)``.
    :param key_position: the index of the key column.
    :param prepare_block: the adapter's block preparer for the record's fields.
    :param check_text: look for undecodable text in each chunk (the source cannot tell which rows hold any).
    """

    picks: tuple[tuple[int | None, Any], ...]
    key_position: int
    prepare_block: BlockPreparer[Any]
    check_text: bool

    def prepare(self, chunk: Sequence[Sequence[Any]], first_row: int) -> PreparedBlock[Any] | None:
        """The chunk's events (rows numbered from ``first_row``), or ``None``: prepare it row by row."""
        count = len(chunk)
        columns = list(zip(*chunk, strict=True))
        key_values = columns[self.key_position]
        if None in key_values or "" in key_values:  # the row loop names the empty key
            return None
        values: list[Sequence[Any]] = []
        for index, constant in self.picks:
            if index is None:
                values.append((constant,) * count)
                continue
            column = columns[index]
            if self.check_text and not _text_is_valid(column):
                return None
            values.append(column)
        keys = list(map(str, key_values))
        payloads = self.prepare_block(values, keys)
        if payloads is None:
            return None
        return PreparedBlock(range(first_row, first_row + count), keys, payloads)


def plan_blocks(
    adapter: BatchAdapter[Any, Any],
    mapping: RowMapping,
    columns: Sequence[str],
    key_columns: Sequence[str] | None,
    *,
    text_checked_by_source: bool,
) -> BlockPlan | None:
    """The plan for validating chunks of this source at once, or ``None`` when rows go one by one.

    :param columns: the source's columns (its rows are value tuples in this order); the mapping is bound.
    :param key_columns: the sync's key columns (one source column is needed).
    :param text_checked_by_source: the source counts the rows that may hold undecodable text.
    """
    if not mapping.renders_values or key_columns is None or len(key_columns) != 1:
        return None
    if key_columns[0] not in columns:
        return None  # a mapped field as the key: the row loop reads it from the record
    fields = mapping.value_fields(columns)
    constants = {field: constant for field, index, constant in fields if index is None}
    if invalid_text_field(constants) is not None:
        return None  # the row loop rejects every row for it, naming the field
    prepare_block = adapter.block_preparer([field for field, _index, _constant in fields])
    if prepare_block is None:
        return None
    return BlockPlan(
        picks=tuple((index, constant) for _field, index, constant in fields),
        key_position=list(columns).index(key_columns[0]),
        prepare_block=prepare_block,
        check_text=not text_checked_by_source,
    )


def without(
    block: PreparedBlock[Any], digests: Sequence[int], positions: Sequence[int]
) -> tuple[PreparedBlock[Any], array[int]]:
    """The block and its key digests without the events at ``positions`` (ascending)."""
    dropped = set(positions)
    keep = [index for index in range(len(block)) if index not in dropped]
    rows, keys, payloads = block.row_numbers, block.keys, block.payloads
    return (
        PreparedBlock([rows[i] for i in keep], [keys[i] for i in keep], [payloads[i] for i in keep]),
        array("Q", [digests[i] for i in keep]),
    )


def _text_is_valid(column: Sequence[Any]) -> bool:
    """False when a text value may hold undecodable bytes, or a value is a nested record (as
    :func:`~.mapping.invalid_text_field` would look into it): the row loop then decides row by row."""
    try:
        text = "".join(column)
    except TypeError:  # not all text: join the text values, and leave nested records to the row loop
        texts = []
        for value in column:
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, Mapping):
                return False
        text = "".join(texts)
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
