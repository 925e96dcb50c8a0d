"""Settling doubt: what the engine does with an event that may or may not have reached the vendor.

Mixed into the engine's run (:class:`~.engine._SyncRun`). An event is *in doubt* after an ambiguous failure
(a read timeout after sending, a dropped connection, a 5xx to a POST) or when an earlier attempt died with it
in the air (its key written ahead in the checkpoint and never settled). In order:

1. the vendor deduplicates on the key (CareCloud): resend, the vendor absorbs a second copy;
2. the adapter can look the event up (:meth:`~.adapter.PerEventAdapter.lookup`, Gainsight PX): found ->
   acknowledged; absent -> sent (again); cannot tell -> 3.;
3. the policy: ``retry_ambiguous=True`` resends it once, written ahead as a possible duplicate
   (``possible_duplicates``); ``False`` gives it up (``in_doubt``, listed in the rejects file, never resent).

It also folds the per-attempt counters into the task instance's cumulative report.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_events.sync.adapter import LookupResult, PerEventAdapter, PreparedEvent
from airflow_provider_events.sync.checkpoint import ALREADY, ATTEMPTED

if TYPE_CHECKING:
    from airflow_provider_events.sync.checkpoint import Checkpoint
    from airflow_provider_events.sync.engine import SyncOptions
    from airflow_provider_events.sync.rejects import RejectsWriter
    from airflow_provider_events.sync.report import DeliveryReport

#: read-backs of one event within a run before "absent each time" counts as certainly not delivered.
MAX_LOOKUPS = 3


@dataclass
class _Item:
    """One prepared event on its way through the engine."""

    event: PreparedEvent
    digest: int
    row: Mapping[str, Any] | None
    resent: bool = False
    #: an earlier attempt had it in the air when it ended: settle it before sending.
    doubt: bool = False
    sent_at: float | None = None
    lookups: int = 0


#: per-attempt counters summed over the attempts of a task instance (kept in the checkpoint).
_ATTEMPT_COUNTERS = ("sent", "retries", "throttled")
_TOTALS = "attempt_totals"


class DoubtSettling:
    """The doubt-settling part of the engine's run (see the module docstring)."""

    #: the run's adapter (an :class:`~.adapter.EventAdapter`); doubt is settled through
    #: :attr:`per_event_adapter`.
    adapter: Any
    checkpoint: Checkpoint
    options: SyncOptions
    rejects: RejectsWriter
    report: DeliveryReport
    log: Any
    state: Any
    #: ambiguous failures waiting for their read-back (see :meth:`_settle_ambiguous`).
    deferred: list[_Item]

    @property
    def per_event_adapter(self) -> PerEventAdapter:
        """The run's adapter as a per-event adapter: only per-event delivery leaves events in doubt."""
        adapter = self.adapter
        if not isinstance(adapter, PerEventAdapter):
            raise TypeError(f"{type(adapter).__name__} is not a per-event adapter: no event can be in doubt")
        return adapter

    def _count_earlier(
        self, outcome: bytes, row_number: int, row: Mapping[str, Any] | None, key: str
    ) -> None:
        """Attribute a row an earlier attempt settled to its bucket: the report is per task instance."""
        if outcome == ATTEMPTED:
            self._count_in_doubt(row_number, row, key)
        elif outcome == ALREADY:
            self.report.already_delivered += 1
        else:
            self.report.accepted += 1

    def _count_in_doubt(self, row_number: int, row: Mapping[str, Any] | None, key: str) -> None:
        """One event in doubt: counted, and listed in the rejects file (stage ``in_doubt``) for the user."""
        self.report.in_doubt += 1
        self.rejects.write(
            row_number,
            None,
            "in doubt: may or may not have reached the vendor; not resent",
            row,
            stage="in_doubt",
            key=key,
        )

    def _fold_attempts(self, earlier: Mapping[str, Any]) -> None:
        """Make the per-attempt counters cumulative over the task instance's attempts that ended."""
        report = self.report
        this = {name: getattr(report, name) for name in _ATTEMPT_COUNTERS}
        this["seconds"] = report.seconds
        totals = {name: this[name] + earlier.get(name, 0) for name in this}
        totals["attempts"] = int(earlier.get("attempts", 0)) + 1
        for name in _ATTEMPT_COUNTERS:
            setattr(report, name, int(totals[name]))
        report.seconds = float(totals["seconds"])
        report.attempts = int(totals["attempts"])
        report.possible_duplicates = self.checkpoint.resent_count
        report.ambiguous = report.in_doubt  # deprecated aliases
        report.ambiguous_resent = report.possible_duplicates
        if not self.options.dry_run:
            try:
                self.checkpoint.put(_TOTALS, totals)
            except Exception as exc:  # the counts are informative; never fail a delivery for them
                self.log.warning("could not store the attempt counters: %s", exc)

    def _settle_doubt(self, item: _Item) -> bool:
        """Settle an event an earlier attempt had in the air; True to send it (again)."""
        adapter = self.per_event_adapter
        if adapter.vendor_deduplicates:
            return True  # the vendor absorbs a second copy (e.g. CareCloud relation_already_exists)
        result = adapter.lookup(item.event, None) if adapter.supports_lookup else LookupResult.UNKNOWN
        item.lookups += 1
        if self._count_resolved(item, result):
            return result is LookupResult.ABSENT
        return self._apply_policy(item)

    def _count_resolved(self, item: _Item, result: LookupResult) -> bool:
        """Account a read-back that resolved the doubt (found: acknowledged; or absent); False if not."""
        if result is LookupResult.UNKNOWN:
            return False
        self.report.resolved_by_lookup += 1
        if result is LookupResult.FOUND:
            self.report.accepted += 1
            self.checkpoint.ack(item.digest)
        return True

    def _apply_policy(self, item: _Item) -> bool:
        """An event still in doubt: resend it once (``retry_ambiguous``: a possible duplicate, counted) or
        give it up (in doubt, counted, never resent). True to resend."""
        if self.options.retry_ambiguous and not item.resent:
            item.resent = True
            self.checkpoint.resend(item.digest)  # durably, before the resend
            return True
        if self.options.retry_ambiguous:
            return False  # cannot happen: callers check item.resent first
        self.checkpoint.ack(item.digest, ATTEMPTED)
        self._count_in_doubt(item.event.row_number, item.row, item.event.key)
        return False

    def _settle_ambiguous(self, item: _Item, stopping: bool) -> bool:
        """An event the vendor may or may not have processed; True to resend it now.

        Where the vendor can be asked, the read-back is deferred until the event may be visible
        (:attr:`~.adapter.PerEventAdapter.lookup_delay` after its send), so the run goes on meanwhile; the
        key stays written ahead, so a kill before the read-back leaves it for the next attempt.
        """
        adapter = self.per_event_adapter
        if stopping or self.state.abort is not None:
            self.report.failed += 1  # left in the air (written ahead): the next attempt settles it first
            return False
        if adapter.supports_lookup and item.lookups < MAX_LOOKUPS:
            self.deferred.append(item)
            return False
        return self._after_lookup(item, LookupResult.UNKNOWN)

    def _look_up_due(self, force: bool = False) -> list[_Item]:
        """Read back the deferred events whose visibility delay has passed (all when ``force``, waiting for
        the last one); the events to resend."""
        adapter = self.per_event_adapter
        now = time.time()
        due: list[_Item] = []
        waiting: list[_Item] = []
        for item in self.deferred:
            ready = force or (item.sent_at or 0) + adapter.lookup_delay <= now
            (due if ready else waiting).append(item)
        if not due:
            return []
        self.deferred = waiting
        resend = []
        for item in due:
            item.lookups += 1
            if self._after_lookup(item, adapter.lookup(item.event, item.sent_at)):
                resend.append(item)
        return resend

    def _abandon_deferred(self) -> None:
        """Stopping: the deferred events stay written ahead; the next attempt settles them first."""
        self.report.failed += len(self.deferred)
        self.deferred = []

    def _after_lookup(self, item: _Item, result: LookupResult) -> bool:
        """Account a read-back's answer for an ambiguous failure; True to resend."""
        if item.lookups and self._count_resolved(item, result):
            if result is LookupResult.FOUND or item.lookups < MAX_LOOKUPS:
                return result is LookupResult.ABSENT
            self.report.failed += 1  # absent each time: certainly not delivered, a retry sends it
            self.checkpoint.fail(item.digest)
            return False
        if self.options.retry_ambiguous and item.resent:
            self.report.failed += 1  # a resend failed too: left in the air, the next attempt settles it
            return False
        return self._apply_policy(item)
