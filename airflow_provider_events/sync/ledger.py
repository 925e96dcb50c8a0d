"""The delivery ledger: which events a destination already holds, shared by every DAG run and every worker.

The checkpoint (:mod:`~.checkpoint`) makes one *task instance* exactly-once across its retries. An event's
identity is its data, though: a manual run beside the scheduled one, a backfill over days already synced, a
run re-created after a DAG change all read the same rows again. The ledger closes that gap. It is kept per
**destination** (the vendor connection and the vendor object: the Act-On listing, the ExpertSender CDP
custom event, the CareCloud event type, the Gainsight PX product key and event name; see
:meth:`~.adapter.EventAdapter.destination_id`), keyed by the events' idempotency-key digests
(:func:`~.digests.key_digest`):

- **consulted before sending**: a key the ledger holds is skipped and counted in the report's
  ``delivered_earlier``;
- **updated on acknowledgement**: each key the vendor acknowledged (for Act-On: each row of a submitted
  job) is recorded, and written out every ``flush_interval`` seconds and when the run ends;
- **shared**: it lives under a root every worker reaches (``ledger_path``, a local directory or any
  ``ObjectStoragePath`` URI such as ``s3://bucket/events-ledger``), as immutable segment files (see
  :mod:`~.ledger_segments`) written by each run and never rewritten in place, so concurrent runs on
  different workers never overwrite each other;
- **bounded**: segments are bucketed by UTC day; buckets older than ``retention_days`` (default 30) are
  dropped, and a day's many small segments are merged into one (``compact_threshold``).

Why object storage (or a shared directory) rather than Airflow's own stores: an Airflow Variable is one
database row rewritten whole on every update (megabytes per write for a million keys, and two runs writing
at once lose one's update); Airflow 3.3's asset state store only exists when the sync declares an outlet
asset, keeps values to ``[state_store] max_value_storage_bytes`` (64 KB by default, ~11,000 compressed
keys) and offers no compare-and-set, so a ledger of millions of keys would be hundreds of values rewritten
by concurrent runs. Segment files give append-only writes, compression to ~5.7 bytes a key, and reads that
cost one listing plus one object per segment; it is the same storage the checkpoint uses for
``checkpoint_path`` URIs and that Airflow's common.io state backend routes large state to.

Where it lives (first set wins): the operator's ``ledger_path``; the deployment's
``[provider_events] ledger_location``; ``$AIRFLOW_PROVIDER_EVENTS_LEDGER_PATH``; ``<checkpoint_path>/ledger``
when ``checkpoint_path`` is an object storage URI; a ``ledger`` folder beside an object-storage
``rejects_location``; else ``<state dir>/ledger`` on the local disk, which is only shared by runs on the
same machine (with a warning in the task log when the executor runs tasks on several hosts).

``resend_delivered=True`` bypasses the lookups (the report's ``resent_delivered`` counts the events an
earlier run had delivered that this run sent again); acknowledgements are still recorded.

Limits, said plainly:

- Runs of the same task slot (DAG, task, map index) to one destination are serialized by a lease
  (:mod:`~.ledger_lease`): the later run waits, then skips what the earlier one delivered. *Different*
  tasks sending the same keys at the same moment both look before either records: each run re-reads the
  segments other writers added at most every ``refresh_interval`` seconds, which shrinks but does not
  close that window; at its end a run looks once more and logs how many of its events another run
  recorded meanwhile (sent twice). Serialize those with an Airflow pool with one slot.
- A worker killed hard loses the last ``flush_interval`` seconds of ledger records; the task's retry
  re-records them from its checkpoint before sending. Act-On rows are recorded when the jobs were
  submitted: a kill between the upload and that record leaves them out of the ledger (the retry re-attaches
  to the jobs without reading the rows).
"""

from __future__ import annotations

import logging
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from airflow_provider_events.sync.digests import DigestBuckets, DigestSet, sorted_digests
from airflow_provider_events.sync.ledger_lease import DestinationLease
from airflow_provider_events.sync.ledger_options import (
    DEFAULT_RETENTION_DAYS,
    LedgerOptions,
    as_bool,
    destination_dir_name,
    ledger_root,
)
from airflow_provider_events.sync.ledger_segments import (
    COMPACTED_PREFIX,
    SegmentStore,
    day_bucket,
    oldest_kept_bucket,
)
from airflow_provider_events.sync.rejects import safe_part

logger = logging.getLogger(__name__)

#: in-run key repeats above this share of the rows read (and at least ``_REPEAT_MIN`` rows) are logged.
_REPEAT_RATIO = 0.01
_REPEAT_MIN = 10


class DestinationLedger:
    """The delivered keys of one destination; see the module docstring.

    Nothing is read until the first lookup or :meth:`load`. Not thread-safe: the engine consults and
    records from its main thread.

    :param store: the destination's segment files.
    :param destination: the destination id (for logs).
    :param options: see :class:`LedgerOptions`.
    :param log: where the ledger's few log lines go.
    """

    def __init__(
        self,
        store: SegmentStore,
        destination: str,
        options: LedgerOptions,
        log: Any = None,
        lease: DestinationLease | None = None,
    ) -> None:
        self.store = store
        self.lease = lease
        self.destination = destination
        self.options = options
        self.retention_days = options.resolved_retention_days()
        self.log = log or logger
        self._known: array[int] = array("Q")  # sorted: every key loaded at open
        #: recorded by this run, or found in other writers' newer segments; ``None`` until there is one, so
        #: that a lookup in an empty ledger (a first run) costs no probe
        self._recent: DigestSet | None = None
        self._mine = DigestSet()  # recorded one by one by this run
        self._mine_batches: list[array[int]] = []  # recorded in bulk by this run (sorted)
        self._pending: array[int] = array("Q")
        self._seen: set[str] = set()
        self._loaded = False
        self._last_flush = time.monotonic()
        self._last_refresh = 0.0
        #: events an earlier run delivered that were sent again because of ``resend_delivered``.
        self.resent = 0
        #: keys recorded (new to the ledger) by this run.
        self.recorded = 0
        #: keys this run recorded that another run, running at the same time, recorded too (both sent them).
        self.concurrent_overlap = 0
        self.load_seconds = 0.0
        self.segments_loaded = 0

    @property
    def location(self) -> str:
        return str(self.store)

    def __len__(self) -> int:
        return len(self._known) + (0 if self._recent is None else len(self._recent))

    # ------------------------------------------------------------------ reading
    def load(self) -> None:
        """Read every segment inside the retention window (once)."""
        if self._loaded:
            return
        if self.lease is not None:
            self.lease.acquire()  # a run of the same task slot delivering now: wait, then read what it did
        started = time.monotonic()
        oldest = oldest_kept_bucket(self.retention_days)
        arrays: list[array[int]] = []
        for bucket in self.store.buckets():
            if bucket < oldest:
                continue
            for path in self.store.segments(bucket):
                self._seen.add(f"{bucket}/{path.name}")
            arrays.extend(self.store.read_bucket(bucket))
        self.segments_loaded = len(arrays)
        if len(arrays) == 1:
            self._known = arrays[0]
        elif arrays:
            self._known = sorted_digests(*arrays)
        self._loaded = True
        self._last_refresh = time.monotonic()
        self.load_seconds = time.monotonic() - started
        self.log.info(
            "delivery ledger %s: %d keys delivered in the last %g days (%d segments, read in %.2f s)%s",
            self.location,
            len(self._known),
            self.retention_days,
            self.segments_loaded,
            self.load_seconds,
            "; resend_delivered is set: keys an earlier run delivered are sent again"
            if self.options.resend_delivered
            else "",
        )

    def _refresh(self) -> None:
        """Pick up the segments other runs wrote since the last look (today's and yesterday's buckets)."""
        self._last_refresh = time.monotonic()
        for bucket in [b for b in self.store.buckets() if b >= oldest_kept_bucket(1.0)]:
            for path in self.store.segments(bucket):
                name = f"{bucket}/{path.name}"
                if name in self._seen:
                    continue
                self._seen.add(name)
                try:
                    digests = self.store.read(path)
                except FileNotFoundError:
                    continue  # compacted meanwhile: the merged segment is listed by the next refresh
                except ValueError as exc:
                    self.log.warning("skipping ledger segment %s: %s", name, exc)
                    continue
                # a compaction's output repeats keys this run wrote itself: only direct writes overlap
                compacted = path.name.startswith(COMPACTED_PREFIX)
                recent = self._recent_set()
                for digest in digests:
                    if not compacted and self._is_mine(digest):
                        self.concurrent_overlap += 1
                    recent.add(digest)

    def _recent_set(self) -> DigestSet:
        if self._recent is None:
            self._recent = DigestSet()
        return self._recent

    def _is_mine(self, digest: int) -> bool:
        if digest in self._mine:
            return True
        for batch in self._mine_batches:
            index = bisect_left(batch, digest)
            if index < len(batch) and batch[index] == digest:
                return True
        return False

    def holds(self, digest: int) -> bool:
        """True when the destination holds this key (delivered by any run inside the retention window)."""
        if not self._loaded:
            self.load()
        recent = self._recent
        if recent is not None and digest in recent:
            return True
        known = self._known
        index = bisect_left(known, digest)
        return index < len(known) and known[index] == digest

    def _holds_any(self) -> bool:
        return self._recent is not None or len(self._known) > 0

    def _up_to_date(self) -> None:
        """Load the ledger once, then read other writers' new segments every ``refresh_interval``."""
        if not self._loaded:
            self.load()
        elif time.monotonic() - self._last_refresh >= self.options.refresh_interval:
            self._refresh()

    def delivered_earlier(self, digest: int) -> bool:
        """Whether to skip this key because an earlier run delivered it (``False`` with ``resend_delivered``).

        Counts the keys sent again on purpose in :attr:`resent`.
        """
        self._up_to_date()
        if (self._recent is None and not self._known) or not self.holds(digest):  # a first run: no lookup
            return False
        if self.options.resend_delivered:
            self.resent += 1
            return False
        return True

    def earlier_among(self, digests: Sequence[int]) -> list[int]:
        """The positions in ``digests`` of the keys to skip (:meth:`delivered_earlier` of each), ascending.

        One look at the clock and the ledger's emptiness for the whole block: a first run costs nothing a key.
        """
        self._up_to_date()
        if not self._holds_any():
            return []
        held = [index for index, digest in enumerate(digests) if self.holds(digest)]
        if held and self.options.resend_delivered:
            self.resent += len(held)
            return []
        return held

    # ------------------------------------------------------------------ writing
    def record(self, digest: int) -> None:
        """Record one acknowledged key; written out within ``flush_interval`` seconds."""
        if self.holds(digest):
            return
        self._recent_set().add(digest)
        self._mine.add(digest)
        self._pending.append(digest)
        self.recorded += 1
        if (
            len(self._pending) >= self.options.flush_records
            or time.monotonic() - self._last_flush >= self.options.flush_interval
        ):
            self.flush()

    def _unknown(self, digest: int) -> bool:
        return not self.holds(digest)

    def record_many(self, digests: Iterable[int] | DigestBuckets, *, lookups: bool = True) -> None:
        """Record many acknowledged keys (a submitted batch job, a checkpoint carried over) and flush.

        The new keys are sorted into a compact array (8 bytes a key), written as a segment of their own
        (not copied into the buffer of :meth:`record`), and join the sorted array of known keys.

        :param lookups: also answer :meth:`holds` for them in this run. ``False`` (a batch's parts, recorded
            as each job is recorded) skips merging every part into the sorted known keys; later runs read
            them from the segment either way.
        """
        # once loaded, an empty ledger holds none of them: no lookup per key
        fresh = sorted_digests(digests, keep=self._unknown if not self._loaded or self._holds_any() else None)
        self.flush()
        if not fresh:
            return
        self._write_segment(fresh)
        self._mine_batches.append(fresh)
        self.recorded += len(fresh)
        if lookups:
            known = self._known
            self._known = sorted_digests(known, fresh) if len(known) else fresh

    def flush(self) -> None:
        """Write the buffered keys as one new segment in today's bucket."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        self._write_segment(self._pending)
        self._pending = array("Q")

    def _write_segment(self, digests: array[int]) -> None:
        """Write ``digests`` as a new segment of today's bucket, remembered as one this run has seen."""
        bucket = day_bucket()
        path, _size = self.store.write(bucket, digests)
        self._seen.add(f"{bucket}/{path.name}")

    # ------------------------------------------------------------------ housekeeping
    def expire(self) -> int:
        """Drop the day buckets older than the retention window; returns the segments removed."""
        return self.store.expire_buckets(oldest_kept_bucket(self.retention_days))

    def compact(self) -> int:
        """Merge each day bucket holding more than ``compact_threshold`` segments into one; returns merges."""
        oldest = oldest_kept_bucket(self.retention_days)
        return self.store.compact_buckets(oldest, self.options.compact_threshold, self.log)

    def close(self) -> None:
        """Flush, release the lease, then compact and expire (housekeeping failures are only logged)."""
        try:
            self.flush()
        finally:
            if self.lease is not None:
                self.lease.release()
        try:
            merged, expired = self.compact(), self.expire()
            if merged or expired:
                self.log.info(
                    "delivery ledger %s: %d day buckets compacted, %d expired segments removed",
                    self.location,
                    merged,
                    expired,
                )
        except Exception as exc:
            self.log.warning("delivery ledger housekeeping failed (the ledger is intact): %s", exc)

    def finish(self, report: Any, log: Any, fresh_attempt: bool) -> None:
        """End of a run: flush, put :attr:`resent` into the report, log what a user should know.

        :param report: the run's :class:`~.report.DeliveryReport`.
        :param log: the task log.
        :param fresh_attempt: the checkpoint was empty when the run started, so every key skipped as a
            duplicate repeated a key of an earlier row of this very run.
        """
        self.flush()
        report.resent_delivered = self.resent
        if self._loaded and self.recorded:
            self._refresh()  # did a run at the same time send the same events?
        if self.concurrent_overlap:
            log.warning(
                "%d events this run delivered to %s were delivered at the same time by another run too "
                "(both looked before either recorded them): the vendor holds them twice. Serialize syncs "
                "to one destination (an Airflow pool with one slot, or max_active_runs=1).",
                self.concurrent_overlap,
                self.destination,
            )
        if report.delivered_earlier:
            log.info(
                "%d events were skipped: an earlier run delivered them to %s (delivery ledger %s); "
                "set resend_delivered=True to send them again",
                report.delivered_earlier,
                self.destination,
                self.location,
            )
        repeats = report.duplicates_skipped
        if fresh_attempt and repeats >= _REPEAT_MIN and repeats > _REPEAT_RATIO * max(report.rows_read, 1):
            log.warning(
                "%d of %d rows shared an idempotency key with an earlier row of this run and were not sent. "
                "A key must identify ONE event: a key that names a user or a day, not an event, suppresses "
                "later events for %g days (the delivery ledger's retention). Check key_columns.",
                repeats,
                report.rows_read,
                self.retention_days,
            )


def warn_unstable_keys(log: Any, key_columns: Sequence[str] | None, run_type: Any) -> None:
    """Warn when a scheduled (or backfill) sync keys events by their rendered content (no ``key_columns``).

    That default key changes whenever the mapping changes, so after a DAG change the ledger no longer
    recognizes events an earlier run delivered.
    """
    kind = str(getattr(run_type, "value", run_type) or "").lower()
    if key_columns or kind not in ("scheduled", "backfill", "asset_triggered"):
        return
    log.warning(
        "this %s sync has no key_columns: each event is keyed by a hash of its rendered fields, which "
        "changes when the mapping changes, so a run after a DAG change may send events again. Set "
        "key_columns to the columns that identify ONE event (e.g. an order or event id).",
        kind,
    )


def open_ledger(
    destination: str,
    options: LedgerOptions | None = None,
    checkpoint_path: str | None = None,
    carried_over: Iterable[int] = (),
    log: Any = None,
    slot: str | None = None,
    holder: str | None = None,
) -> DestinationLedger | None:
    """The ledger of ``destination`` (``None`` when disabled); keys in ``carried_over`` are recorded first.

    :param destination: the adapter's :meth:`~.adapter.EventAdapter.destination_id`.
    :param options: see :class:`LedgerOptions` (default: enabled, 30 days).
    :param checkpoint_path: the sync's checkpoint root (an object storage URI there implies the ledger's).
    :param carried_over: keys an earlier attempt of the same task acknowledged (its checkpoint): a hard kill
        may have kept them from the ledger.
    :param log: the task log.
    :param slot: the task slot (DAG, task, map index) whose runs wait for each other; ``None``: no lease.
    :param holder: the task instance, shown to a waiting run and used to take over its own stale lease.
    """
    options = options or LedgerOptions()
    if not options.enabled:
        return None
    root = ledger_root(options.path, checkpoint_path)
    store = SegmentStore(root / destination_dir_name(destination))
    lease = None
    if slot and options.serialize_runs:
        lease = DestinationLease(store.base / "leases" / f"{safe_part(slot)}.json", holder or slot, log=log)
    ledger = DestinationLedger(store, destination, options, log, lease)
    carried = list(carried_over)
    if carried:
        ledger.record_many(carried)
    return ledger


__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "DestinationLedger",
    "LedgerOptions",
    "as_bool",
    "ledger_root",
    "open_ledger",
    "warn_unstable_keys",
]
