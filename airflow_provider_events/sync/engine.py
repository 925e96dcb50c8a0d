"""The delivery engine: source -> mapping -> validation -> delivery -> report.

:func:`run_sync` moves every row of a :class:`~.source.RowSource` to a vendor through its adapter:

1. **read** rows lazily (a streaming cursor; memory stays flat);
2. **map** each row with the compiled :class:`~.mapping.RowMapping` (a failing template rejects the row);
3. **key** it: the ``key_columns`` values, else a SHA-256 of the rendered record's canonical JSON (stable
   across processes and retries);
4. **validate** it with the adapter's :meth:`~.adapter.EventAdapter.prepare` (an ``InvalidRecordError``
   rejects the row, with its row number, field and reason, into the rejects file);
5. **skip** keys the checkpoint holds (delivered by an earlier attempt) or seen earlier in this run, and
   keys the delivery ledger holds (delivered by an earlier DAG run: ``delivered_earlier``; see
   :mod:`~.ledger`);
6. **deliver**: a :class:`~.adapter.PerEventAdapter` gets concurrent ``send()`` calls (``max_concurrency``
   worker threads over the hook's pooled session, at most ``2 x max_concurrency`` events in flight, paced by a
   token bucket at ``max_requests_per_second``); a :class:`~.adapter.BatchAdapter` gets a lazy iterator of
   :class:`~.adapter.PreparedBlock` (SQL chunks validated a block at a time where :mod:`~.blocks` can,
   steps 2-5 at once) and the checkpoint state;
7. **acknowledge** each delivered key in the checkpoint at once, so a retried task resumes after it, and
   in the delivery ledger, so a later DAG run skips it;
8. **report**, then fail when events could not be delivered (a task retry resends them) or when more rows
   were rejected than ``max_rejected`` / ``max_rejected_ratio`` allow (after the good rows were delivered).

Outcomes of one per-event ``send()``:

- ``ACCEPTED`` / ``ALREADY_DELIVERED``: acknowledged;
- a vendor refusal (4xx other than 429): ``adapter.error_scope()`` decides: ``ROW`` rejects the event (the
  vendor's message goes to the rejects file), ``RUN`` stops the run at once with ``DeliveryAbortedError``;
- 429 / 5xx / unreachable after the hook's retries: *failed*, not acknowledged, so a task retry resends it.
  When the failure is *ambiguous* (the vendor may have processed it: a read timeout, a dropped connection, a
  5xx after the body was sent) and the vendor does not deduplicate, resending could duplicate it. By default
  (``retry_ambiguous=False``, at-most-once) the key is recorded as attempted and never resent, and counted in
  ``ambiguous``: for marketing events a duplicate (a second campaign trigger, a second email) is worse than a
  missing one, and the report says how many are in doubt. ``retry_ambiguous=True`` (at-least-once) resends
  once at once and leaves it unacknowledged if that fails too;
- too many consecutive failures (``max_consecutive_failures``): the vendor is down; the run stops instead of
  grinding through every remaining row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from operator import itemgetter, methodcaller
from typing import Any

from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError
from airflow_provider_events.sync.adapter import (
    BatchAdapter,
    EventAdapter,
    PerEventAdapter,
    PreparedBlock,
    PreparedEvent,
)
from airflow_provider_events.sync.blocks import plan_blocks, without
from airflow_provider_events.sync.checkpoint import Checkpoint
from airflow_provider_events.sync.digests import HandedDigests, key_digest, key_digests
from airflow_provider_events.sync.ledger import DestinationLedger
from airflow_provider_events.sync.mapping import RowMapping, invalid_text_field
from airflow_provider_events.sync.options import SyncOptions
from airflow_provider_events.sync.outcome import check_outcome
from airflow_provider_events.sync.per_event import PerEventDelivery, _State
from airflow_provider_events.sync.progress import ProgressLogger
from airflow_provider_events.sync.rejects import RejectsWriter
from airflow_provider_events.sync.report import DeliveryReport
from airflow_provider_events.sync.settle import _TOTALS, _Item
from airflow_provider_events.sync.source import RowSource

logger = logging.getLogger(__name__)

__all__ = ["SyncOptions", "check_outcome", "event_key", "run_sync"]

#: a batch delivery reads rows as fast as it can: the progress clock is looked at once per this many rows.
_BATCH_TICK = 64
#: events per block handed to a batch delivery when rows are prepared one by one.
_EVENTS_PER_BLOCK = 500
#: rows per chunk read from a source of dict rows.
_CHUNK_ROWS = 256


@dataclass(frozen=True)
class _RowAccess:
    """How the row loop reads a source row (a dict, or its values in column order)."""

    #: the mapped record of a row (and its row number, for a template's error)
    render: Callable[[Any, int | None], dict[str, Any]]
    #: the row as a dict (for the rejects file and per-event items)
    as_dict: Callable[[Any], Mapping[str, Any]]
    #: the single key column's value, when there is one key column
    key_value: Callable[[Any], Any] | None
    #: look for undecodable text only in the rows the source counts in ``suspect_rows`` (the record holds
    #: the row's values and constants only, and the constants were looked at once)
    text_checked_by_source: bool = False


def _as_is(row: Mapping[str, Any]) -> Mapping[str, Any]:
    return row


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(items, size)):
        yield chunk


_first = itemgetter(0)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_key(record: Mapping[str, Any], row: Mapping[str, Any], key_columns: Sequence[str] | None) -> str:
    """The idempotency key of one event.

    With ``key_columns``: the single column's value as text, or the canonical JSON array of several. Without:
    the first 32 hex digits of the SHA-256 of the rendered record's canonical JSON.

    :raises InvalidRecordError: when a key column is null.
    """
    if key_columns:
        values = []
        for name in key_columns:
            value = row[name] if name in row else record.get(name)
            if value is None or value == "":
                raise InvalidRecordError(name, "key column is empty; the event cannot be made idempotent")
            values.append(value)
        if len(values) == 1:
            return str(values[0])
        return _canonical(values)
    return hashlib.sha256(_canonical(record).encode("utf-8")).hexdigest()[:32]


class _SyncRun(PerEventDelivery):
    def __init__(
        self,
        adapter: EventAdapter,
        source: RowSource,
        mapping: RowMapping,
        checkpoint: Checkpoint,
        rejects: RejectsWriter,
        options: SyncOptions,
        log: Any,
        ledger: DestinationLedger | None = None,
    ) -> None:
        self.adapter = adapter
        self.ledger = ledger
        self.source = source
        self.mapping = mapping
        self.checkpoint = checkpoint
        self.rejects = rejects
        self.options = options
        self.log = log
        self.report = DeliveryReport(
            vendor=adapter.conn_type, dry_run=options.dry_run, checkpoint=checkpoint.location
        )
        self.progress = ProgressLogger(log, self.report, source.total, options.progress_interval)
        self.state = _State()
        self.deferred: list[_Item] = []
        #: the source's ``suspect_rows`` when a record's text was last looked at
        self._suspects_seen = 0

    # ------------------------------------------------------------------ rows -> prepared events
    def _bind(self, first_row: Mapping[str, Any] | None) -> None:
        columns = list(self.source.columns or (first_row or {}))
        self.mapping.bind(columns)
        for name in self.options.key_columns or ():
            if name not in columns and not self.mapping.maps_top_level(name):
                raise ConfigurationError(
                    f"key column {name!r} is neither a source column nor a mapped field; "
                    f"available columns: {sorted(columns)}"
                )

    def _open_rows(self) -> tuple[Iterator[Sequence[Any]], _RowAccess, list[str] | None] | None:
        """The source's rows in chunks, the mapping bound to its columns, how to read a row, and the columns
        when rows are value tuples (``None``: rows are dicts); ``None``: no rows.

        A source that yields value tuples (SQL) with a mapping that renders them (identity, or plain columns
        and constants) skips the dict per row: the record is picked from the values by position.
        """
        source, mapping = self.source, self.mapping
        key_columns = self.options.key_columns
        # one key column is read by the row loop; event_key makes every other key (and names an empty one)
        key_column = key_columns[0] if key_columns is not None and len(key_columns) == 1 else None
        if not (source.yields_values and mapping.renders_values):
            rows = iter(source)
            first_row = next(rows, None)
            if first_row is None:
                if source.columns is not None:
                    self._bind(None)  # an empty result still checks the mapping against the columns
                return None
            self._bind(first_row)
            key_of = None if key_column is None else methodcaller("get", key_column)
            access = _RowAccess(mapping.render, _as_is, key_of)
            return _chunks(chain((first_row,), rows), _CHUNK_ROWS), access, None
        blocks = source.value_blocks()
        first = next(blocks, None)
        if first is None:
            if source.columns is not None:
                self._bind(None)
            return None
        columns = list(source.columns or ())
        self._bind(dict(zip(columns, first[0], strict=True)))
        position = columns.index(key_column) if key_column in columns else None
        render = mapping.values_renderer(columns)
        constants_text_ok = invalid_text_field(render((None,) * len(columns), None)) is None
        access = _RowAccess(
            render,
            lambda values: dict(zip(columns, values, strict=True)),
            None if position is None else itemgetter(position),
            text_checked_by_source=source.suspect_rows is not None and constants_text_ok,
        )
        return chain((first,), blocks), access, columns

    def _reject(
        self,
        row_number: int,
        row: Mapping[str, Any] | None,
        error: InvalidRecordError,
        stage: str,
        key: str | None = None,
    ) -> None:
        self.report.rejected += 1
        self.rejects.write(row_number, error.field, error.reason, row, stage=stage, key=key)

    def prepared(self, keep_rows: bool, track_keys: bool = True) -> Iterator[_Item]:
        """Read, map, key, validate and de-duplicate, lazily (see :meth:`_checked_rows`).

        :param keep_rows: keep each source row with its event (for the rejects file of vendor refusals).
        :param track_keys: skip keys acknowledged before or seen earlier in the run.
        """
        for event, digest, row in self._checked_rows(track_keys, keep_rows):
            doubt = track_keys and digest in self.checkpoint.in_doubt
            yield _Item(event, digest, row, doubt=doubt)

    def _checked_rows(
        self, track_keys: bool, keep_rows: bool = False, remember: Callable[[int, int], None] | None = None
    ) -> Iterator[tuple[PreparedEvent, int, Mapping[str, Any] | None]]:
        """``(event, key digest, source row or None)`` of each row to deliver (see :meth:`_check_rows`)."""
        opened = self._open_rows()
        if opened is None:
            return
        chunks, access, _columns = opened
        yield from self._check_rows(chain.from_iterable(chunks), access, track_keys, keep_rows, remember)

    def _check_rows(
        self,
        rows: Iterator[Any],
        access: _RowAccess,
        track_keys: bool,
        keep_rows: bool = False,
        remember: Callable[[int, int], None] | None = None,
        first_row: int = 1,
    ) -> Iterator[tuple[PreparedEvent, int, Mapping[str, Any] | None]]:
        """``(event, key digest, source row or None)`` of each of ``rows`` to be delivered.

        :param track_keys: skip keys acknowledged before or seen earlier in the run. Batch deliveries pass
            False: their retries re-attach to the recorded jobs, so per-key state would only make memory
            grow with the row count. They also log progress every :data:`_BATCH_TICK` rows, not every row.
        :param keep_rows: give each source row as a dict (else ``None``).
        :param remember: called with the row number and key digest of each row yielded.
        :param first_row: the source row number of the first of ``rows``.
        """
        report, key_columns, ledger = self.report, self.options.key_columns, self.ledger
        # bound once: the per-row loop is the engine's hot path
        render, as_dict, key_value = access.render, access.as_dict, access.key_value
        prepare, tick = self.adapter.prepare, self.progress.tick
        earlier = None if ledger is None else ledger.delivered_earlier
        tick_every = 1 if track_keys else _BATCH_TICK
        source, check_every_record = self.source, not access.text_checked_by_source
        suspects_seen = self._suspects_seen
        for row_number, row in enumerate(rows, start=first_row):
            report.rows_read += 1
            if not row_number % tick_every:
                tick()
            try:
                record = render(row, row_number)
                if check_every_record or source.suspect_rows != suspects_seen:
                    suspects_seen = self._suspects_seen = source.suspect_rows or 0
                    bad_text = invalid_text_field(record)
                    if bad_text is not None:
                        raise InvalidRecordError(bad_text, "holds bytes that are not valid UTF-8 text")
            except InvalidRecordError as exc:
                self._reject(row_number, as_dict(row), exc, "mapping")
                continue
            if key_value is not None and (value := key_value(row)) is not None and value != "":
                key = str(value)
            else:
                try:
                    key = event_key(record, as_dict(row), key_columns)
                except InvalidRecordError as exc:
                    self._reject(row_number, as_dict(row), exc, "mapping")
                    continue
            try:
                payload = prepare(record, key)
            except InvalidRecordError as exc:
                self._reject(row_number, as_dict(row), exc, "validation", key)
                continue
            digest = key_digest(key)
            if track_keys:
                if not self.state.seen.add(digest):
                    report.duplicates_skipped += 1  # the same key earlier in this read
                    continue
                outcome = self.checkpoint.outcome(digest)
                if outcome is not None:
                    self._count_earlier(outcome, row_number, as_dict(row), key)
                    continue
            # -- delivery ledger (sync/ledger.py): delivered by an earlier DAG run?
            if earlier is not None and earlier(digest):
                report.delivered_earlier += 1
                continue
            if remember is not None:
                remember(row_number, digest)
            yield PreparedEvent(row_number, key, payload), digest, as_dict(row) if keep_rows else None

    def _checked_blocks(self, handed: HandedDigests | None) -> Iterator[PreparedBlock]:
        """The events to deliver in blocks of consecutive rows, for a batch delivery.

        A chunk of value rows is prepared at once where :mod:`~.blocks` can (and the rows a block check
        leaves undecided go through :meth:`_check_rows`, chunk by chunk); other sources go row by row. The
        handed keys are noted in ``handed`` for the delivery ledger.
        """
        opened = self._open_rows()
        if opened is None:
            return
        chunks, access, columns = opened
        remember = None if handed is None else handed.add
        adapter = self.adapter
        plan = None
        if columns is not None and isinstance(adapter, BatchAdapter):
            plan = plan_blocks(
                adapter,
                self.mapping,
                columns,
                self.options.key_columns,
                text_checked_by_source=access.text_checked_by_source,
            )
        if plan is None:
            rows = self._check_rows(chain.from_iterable(chunks), access, False, remember=remember)
            events = map(_first, rows)  # in C: no generator frame per row
            yield from map(PreparedBlock.of, _chunks(events, _EVENTS_PER_BLOCK))
            return
        report, ledger, source, tick = self.report, self.ledger, self.source, self.progress.tick
        next_row, in_blocks = 1, 0
        for chunk in chunks:
            first_row, next_row = next_row, next_row + len(chunk)
            block = None
            suspects = source.suspect_rows  # None: the plan looks at every chunk's text itself
            if suspects is None or suspects == self._suspects_seen:  # else: text to look at, row by row
                block = plan.prepare(chunk, first_row)
            if block is None:  # a row the row-by-row rules decide: they name its row and field
                checked = self._check_rows(iter(chunk), access, False, remember=remember, first_row=first_row)
                block = PreparedBlock.of(list(map(_first, checked)))
            else:
                report.rows_read += len(chunk)
                in_blocks += len(chunk)
                tick()
                if ledger is not None:  # -- delivery ledger (sync/ledger.py): delivered by an earlier run?
                    digests = key_digests(block.keys)
                    if earlier := ledger.earlier_among(digests):
                        report.delivered_earlier += len(earlier)
                        block, digests = without(block, digests, earlier)
                    if handed is not None:
                        handed.add_many(block.row_numbers, digests)
            if len(block):
                yield block
        self.log.info(
            "%d of %d rows validated a block at a time, the rest row by row", in_blocks, next_row - 1
        )

    # ------------------------------------------------------------------ delivery
    def run(self) -> DeliveryReport:
        started = time.monotonic()
        hook = self.adapter.hook
        stats_before = dict(hook.stats)
        self.log.info(
            "sync to %s from %s; checkpoint %s (%d delivered, %d attempted before)%s",
            self.adapter.conn_type,
            self.source.describe(),
            self.checkpoint.location,
            self.checkpoint.loaded_acked,
            self.checkpoint.loaded_attempted,
            "; DRY RUN: nothing will be sent" if self.options.dry_run else "",
        )
        self.rejects.discard_previous()
        earlier = self.checkpoint.get(_TOTALS) or {}
        if self.checkpoint.in_doubt:
            self.log.warning(
                "%d events were in the air when an earlier attempt ended: they are settled first (read back "
                "where the vendor allows it, else per retry_ambiguous=%s)",
                len(self.checkpoint.in_doubt),
                self.options.retry_ambiguous,
            )
        self.adapter.open()
        try:
            if self.options.dry_run:
                for _item in self.prepared(keep_rows=False):
                    self.report.would_send += 1
            elif isinstance(self.adapter, BatchAdapter):
                self._deliver_batch(self.adapter)
            elif isinstance(self.adapter, PerEventAdapter):
                self._deliver_per_event(self.adapter)
            else:
                raise ConfigurationError(
                    f"{type(self.adapter).__name__} is neither a per-event nor a batch adapter"
                )
        finally:
            self.report.seconds = time.monotonic() - started
            self.report.retries = int(hook.stats.get("retries", 0) - stats_before.get("retries", 0))
            self.report.throttled = int(hook.stats.get("throttled", 0) - stats_before.get("throttled", 0))
            self._fold_attempts(earlier)
            self.report.rejects_path = self.rejects.written_path
            self.checkpoint.flush()
            if self.ledger is not None:  # delivery ledger: write out, count deliberate resends, warn
                fresh = not (self.checkpoint.loaded_acked or self.checkpoint.loaded_attempted)
                self.ledger.finish(self.report, self.log, fresh_attempt=fresh)
            self.rejects.flush()
            try:
                self.adapter.close()
            finally:
                self.progress.final()
        return self.report

    def _deliver_batch(self, adapter: BatchAdapter) -> None:
        # the digests handed to the vendor, for the delivery ledger: recorded part by part as the adapter
        # reports its jobs recorded (``on_held``), so they reach the ledger before any wait for the jobs and
        # only a part's worth is held here
        ledger = self.ledger
        handed = HandedDigests() if ledger is not None else None

        blocks = self._checked_blocks(handed)

        def held(through_row: int) -> None:
            if ledger is not None and handed is not None:
                ledger.record_many(handed.take_through(through_row), lookups=False)

        outcome = adapter.deliver(
            blocks,
            self.checkpoint,
            wait=self.options.wait_for_completion,
            retry_ambiguous=self.options.retry_ambiguous,
            on_held=held,
        )
        if ledger is not None and handed is not None and outcome.job_ids:
            # the rest: the vendor holds the submitted jobs' rows
            ledger.record_many(handed.take_all(), lookups=False)
        self.report.sent += outcome.sent
        self.report.accepted += outcome.accepted
        self.report.rejected_by_vendor += outcome.rejected_by_vendor
        self.report.rejected += outcome.rejected_by_vendor
        self.report.in_doubt += outcome.in_doubt
        self.report.possible_duplicates += outcome.possible_duplicates
        self.report.job_ids.extend(outcome.job_ids)


def run_sync(
    *,
    adapter: EventAdapter,
    source: RowSource,
    mapping: RowMapping,
    checkpoint: Checkpoint,
    rejects: RejectsWriter,
    options: SyncOptions | None = None,
    log: Any = None,
    raise_on_failure: bool = True,
    ledger: DestinationLedger | None = None,
) -> DeliveryReport:
    """Deliver every row of ``source`` through ``adapter``; usable outside operators.

    :param adapter: the vendor adapter (its hook is configured here: pool size, pacing).
    :param source: the rows.
    :param mapping: the compiled mapping.
    :param checkpoint: the delivery checkpoint (see :func:`~.checkpoint.open_checkpoint`).
    :param rejects: the rejects file writer.
    :param options: how to run.
    :param log: where progress goes.
    :param raise_on_failure: apply :func:`check_outcome` (failed events, rejects threshold) at the end.
    :param ledger: the destination's delivery ledger (see :func:`~.ledger.open_ledger`); ``None``: only the
        checkpoint de-duplicates.
    :returns: the report.
    :raises DeliveryAbortedError: when the vendor refused the run (bad key, unknown id) or is down.
    """
    options = options or SyncOptions()
    log = log or logger
    run = _SyncRun(adapter, source, mapping, checkpoint, rejects, options, log, ledger)
    try:
        report = run.run()
    finally:
        rejects.close()
    log.info("sync report (every field is explained in docs/report.md): %s", json.dumps(report.to_dict()))
    if raise_on_failure:
        check_outcome(report, options, log)
    return report
