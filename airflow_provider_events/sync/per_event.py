"""Per-event delivery: concurrent, paced ``send()`` calls, each group written ahead, each outcome settled.

Mixed into the engine's run (:class:`~.engine._SyncRun`), after :class:`~.settle.DoubtSettling`; the engine's
module docstring lists what each outcome of one ``send()`` means.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_events.exceptions import VendorApiError
from airflow_provider_events.sync.adapter import ErrorScope, PerEventAdapter, SendOutcome
from airflow_provider_events.sync.checkpoint import ALREADY
from airflow_provider_events.sync.digests import DigestSet
from airflow_provider_events.sync.ledger import DestinationLedger
from airflow_provider_events.sync.outcome import _TRANSIENT, _aborted
from airflow_provider_events.sync.progress import ProgressLogger
from airflow_provider_events.sync.settle import DoubtSettling, _Item


@dataclass
class _Abort:
    error: Exception
    message: str


@dataclass
class _State:
    consecutive_failures: int = 0
    abort: _Abort | None = None
    last_failure: str = ""
    seen: DigestSet = field(default_factory=DigestSet)


class PerEventDelivery(DoubtSettling):
    """The per-event half of the engine's run: :meth:`_deliver_per_event` and the settling of each send."""

    ledger: DestinationLedger | None
    progress: ProgressLogger
    state: _State
    #: the per-event adapter's ``send`` (set when delivery starts).
    _send: Callable[[Any], SendOutcome]

    def prepared(self, keep_rows: bool, track_keys: bool = True) -> Iterator[_Item]:
        raise NotImplementedError  # the engine's run reads, maps and validates the rows

    def _deliver_per_event(self, adapter: PerEventAdapter) -> None:
        concurrency = self.options.max_concurrency or adapter.default_max_concurrency
        self._send = adapter.send
        # the hook was built with its pool and pace (sync/pacing.py); its limiter paces every attempt
        rate = adapter.hook.rate_limiter.rate
        self.log.info(
            "delivering with %d concurrent requests, %s",
            concurrency,
            f"paced at {rate:g} requests/s" if rate else "unpaced",
        )
        inflight: dict[Future[SendOutcome], _Item] = {}
        limit = 2 * concurrency
        refill_at = max(1, concurrency)  # refill in groups: one durable write-ahead per group
        executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="events-sync")
        items = self.prepared(keep_rows=True)
        try:
            exhausted = False
            while not exhausted and self.state.abort is None:
                while len(inflight) > refill_at and self.state.abort is None:
                    self._settle_some(executor, inflight)
                if self.state.abort is not None:
                    break
                group: list[_Item] = []
                for item in items:
                    if item.doubt and not self._settle_doubt(item):
                        continue
                    group.append(item)
                    if len(inflight) + len(group) >= limit:
                        break
                else:
                    exhausted = True
                self._submit(executor, inflight, group)
            while (inflight or self.deferred) and self.state.abort is None:
                if inflight:
                    self._settle_some(executor, inflight)
                else:  # only read-backs left: wait for the earliest to become visible
                    self._resubmit(executor, inflight, self._look_up_due(force=True))
        finally:
            # Stopping (an abort, an error, a task kill): drop queued sends, settle the running ones so
            # every event the vendor did take is acknowledged.
            for future in list(inflight):
                if future.cancel():
                    item = inflight.pop(future)
                    self.report.sent -= 1
                    self.report.failed += 1
                    self.checkpoint.fail(item.digest)
            while inflight:
                self._settle_some(executor, inflight, stopping=True)
            self._abandon_deferred()
            executor.shutdown(wait=True, cancel_futures=True)
        if self.state.abort is not None:
            raise _aborted(self.state.abort, self.report, self.log)

    def _submit(
        self, executor: ThreadPoolExecutor, inflight: dict[Future[SendOutcome], _Item], group: list[_Item]
    ) -> None:
        """Write the group ahead (durably, before any request), then hand it to the worker threads."""
        if not group:
            return
        self.checkpoint.begin(item.digest for item in group if not item.resent)
        for item in group:
            item.sent_at = time.time()
            inflight[executor.submit(self._send, item.event.payload)] = item
            self.report.sent += 1

    def _settle_some(
        self, executor: ThreadPoolExecutor, inflight: dict[Future[SendOutcome], _Item], stopping: bool = False
    ) -> None:
        done, _ = wait(list(inflight), timeout=self.options.progress_interval, return_when=FIRST_COMPLETED)
        self.progress.tick()
        resend = [item for future in done if self._settle(future, item := inflight.pop(future), stopping)]
        if not stopping and self.state.abort is None:
            resend += self._look_up_due()
        self._resubmit(executor, inflight, resend)

    def _resubmit(
        self, executor: ThreadPoolExecutor, inflight: dict[Future[SendOutcome], _Item], items: list[_Item]
    ) -> None:
        """Send again events whose earlier send is settled as not delivered (their keys are written ahead)."""
        for item in items:
            item.sent_at = time.time()
            inflight[executor.submit(self._send, item.event.payload)] = item
            self.report.sent += 1

    def _settle(self, future: Future[SendOutcome], item: _Item, stopping: bool) -> bool:
        """Account one finished send; True to resend it."""
        report, state, options = self.report, self.state, self.options
        try:
            outcome = future.result()
        except _TRANSIENT as exc:
            ambiguous = bool(getattr(exc, "ambiguous", False)) and not self.adapter.vendor_deduplicates
            state.last_failure = f"{type(exc).__name__}: {exc}"
            state.consecutive_failures += 1
            resend = False
            if ambiguous:
                resend = self._settle_ambiguous(item, stopping)
            else:
                report.failed += 1
                self.checkpoint.fail(item.digest)
            if state.consecutive_failures >= options.max_consecutive_failures and state.abort is None:
                state.abort = _Abort(
                    exc,
                    f"{state.consecutive_failures} consecutive events could not be delivered to "
                    f"{self.adapter.conn_type} (last: {state.last_failure}); the vendor looks unavailable, "
                    "stopping. A task retry resumes after the last acknowledged event.",
                )
            return resend
        except VendorApiError as exc:
            self.checkpoint.fail(item.digest)  # refused: not delivered
            scope = self.adapter.error_scope(exc)
            if scope is ErrorScope.ROW:
                state.consecutive_failures = 0
                report.rejected += 1
                report.rejected_by_vendor += 1
                self.rejects.write(
                    item.event.row_number,
                    None,
                    f"{exc.status_code}: {exc.message}",
                    item.row,
                    stage="vendor",
                    key=item.event.key,
                )
            else:
                report.failed += 1
                if state.abort is None:
                    state.abort = _Abort(
                        exc,
                        f"{self.adapter.conn_type} refused an event in a way every event would be refused "
                        f"({exc}); stopping the run.",
                    )
            return False
        except Exception as exc:
            report.failed += 1  # outcome unknown: left in the air, the next attempt settles it
            if state.abort is None:
                state.abort = _Abort(
                    exc, f"the {self.adapter.conn_type} adapter failed: {type(exc).__name__}: {exc}"
                )
            return False
        state.consecutive_failures = 0
        if outcome is SendOutcome.ALREADY_DELIVERED:
            report.already_delivered += 1
            self.checkpoint.ack(item.digest, ALREADY)
        else:
            report.accepted += 1
            self.checkpoint.ack(item.digest)
            if self.ledger is not None:
                self.ledger.record(item.digest)  # delivery ledger: later DAG runs skip it
        return False
