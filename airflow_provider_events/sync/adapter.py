"""The one interface a vendor implements to plug into the delivery engine.

A vendor adds exactly one adapter module, ``airflow_provider_events.adapters.<conn_type>``, holding one
subclass of :class:`PerEventAdapter` (one request per event, delivered concurrently and paced by the engine)
or of :class:`BatchAdapter` (the vendor takes files that become jobs). The engine finds it from the
destination connection's type through the vendor registry (:mod:`airflow_provider_events.vendors`); the
engine itself names no vendor.

The engine owns: reading the source, rendering the mapping, idempotency keys, the rejects file, the
checkpoint of acknowledged keys, concurrency, pacing, progress logs and the report. The adapter owns: the
vendor's validation rules and payload shape (:meth:`EventAdapter.prepare`), and the call that delivers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Generic

from airflow_provider_events.exceptions import (
    ConfigurationError,
    VendorApiError,
    VendorAuthError,
    VendorNotFoundError,
)
from airflow_provider_events.vendors import AdapterPaths, import_class

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    from airflow_provider_events.hooks.base import BaseEventsHook

    #: the vendor's hook type (``adapter.hook``); bare ``PerEventAdapter`` means any hook.
    HookT_co = TypeVar("HookT_co", bound=BaseEventsHook, default=BaseEventsHook, covariant=True)
    #: what :meth:`EventAdapter.prepare` returns and the adapter delivers; bare means ``Any``.
    PayloadT = TypeVar("PayloadT", default=Any)
else:  # defaults only matter to type checkers, and typing.TypeVar takes none before Python 3.13
    from typing import TypeVar

    HookT_co = TypeVar("HookT_co", covariant=True)
    PayloadT = TypeVar("PayloadT")


class SendOutcome(str, Enum):
    """What the vendor said about one event that it did not refuse."""

    ACCEPTED = "accepted"
    #: the vendor already holds this event (e.g. CareCloud ``relation_already_exists``): delivered before.
    ALREADY_DELIVERED = "already_delivered"


class LookupResult(str, Enum):
    """What the vendor says, when asked, about an event whose delivery is in doubt.

    ``FOUND``: the vendor holds it, delivered (acknowledged, never resent). ``ABSENT``: the vendor certainly
    does not hold it (looked for after the visibility wait), safe to resend. ``UNKNOWN``: cannot tell (no way
    to ask, the read-back failed, or not visible yet), still in doubt.
    """

    FOUND = "found"
    ABSENT = "absent"
    UNKNOWN = "unknown"


class ErrorScope(str, Enum):
    """Whether a vendor error concerns one event or every event of the run.

    ``ROW``: this event is bad (written to the rejects file, the run goes on). ``RUN``: every event would fail
    the same way (bad key, unknown custom event id), so the run stops at once.
    """

    ROW = "row"
    RUN = "run"


@dataclass(frozen=True)
class PreparedEvent(Generic[PayloadT]):
    """One validated, vendor-shaped event.

    :param row_number: 1-based number of the source row.
    :param key: the idempotency key (stable across task retries).
    :param payload: what the adapter sends; opaque to the engine, never logged.
    """

    row_number: int
    key: str
    payload: PayloadT

    def __init__(self, row_number: int, key: str, payload: PayloadT) -> None:
        # One is made per row. The frozen dataclass's own __init__ sets each field through
        # object.__setattr__ (0.5 us); filling the instance dict directly costs half. Still frozen after.
        fields = self.__dict__
        fields["row_number"] = row_number
        fields["key"] = key
        fields["payload"] = payload


@dataclass(frozen=True)
class PreparedBlock(Generic[PayloadT]):
    """The validated events of a run of consecutive source rows, in row order (what a batch delivery takes).

    Rows rejected or skipped in that run are left out, so ``row_numbers`` ascend with gaps. The three
    sequences are parallel: the ``i``-th event is ``(row_numbers[i], keys[i], payloads[i])``.
    """

    row_numbers: Sequence[int]
    keys: Sequence[str]
    payloads: Sequence[PayloadT]

    @classmethod
    def of(cls, events: Sequence[PreparedEvent[PayloadT]]) -> PreparedBlock[PayloadT]:
        """The block of these events (in row order)."""
        return cls(
            [event.row_number for event in events],
            [event.key for event in events],
            [event.payload for event in events],
        )

    def __len__(self) -> int:
        return len(self.payloads)

    @property
    def last_row(self) -> int:
        """The source row number of the block's last event (the block is never empty)."""
        return self.row_numbers[-1]

    def after(self, row_number: int) -> PreparedBlock[PayloadT]:
        """The block without its events of rows numbered up to ``row_number`` (may be empty)."""
        start = bisect_right(self.row_numbers, row_number)
        return self.sliced(start) if start else self

    def sliced(self, start: int, stop: int | None = None) -> PreparedBlock[PayloadT]:
        """The events from position ``start`` up to (not including) ``stop``, as a block."""
        return PreparedBlock(self.row_numbers[start:stop], self.keys[start:stop], self.payloads[start:stop])


#: validates a block of records at once (see :meth:`BatchAdapter.block_preparer`): called with one sequence
#: of values per field (in the order the preparer was made for) and the rows' keys; returns the payloads, or
#: ``None`` when some row needs the row-by-row rules.
BlockPreparer = Callable[[Sequence[Sequence[Any]], Sequence[str]], Sequence[PayloadT] | None]


class CheckpointState(ABC):
    """A durable key/value store scoped to one task attempt series (dag, task, run, map index).

    Batch adapters use it to record submitted jobs before waiting, so a retried task re-attaches to them.
    """

    @abstractmethod
    def get(self, name: str) -> Any:
        """The JSON value stored under ``name``, or ``None``."""

    @abstractmethod
    def put(self, name: str, value: Any) -> None:
        """Durably store a JSON-serialisable value under ``name``."""

    @property
    @abstractmethod
    def spool_dir(self) -> str:
        """A local directory that survives task retries on the same worker, for spooled files."""


@dataclass
class BatchOutcome:
    """Result of a batch delivery.

    :param sent: rows uploaded.
    :param accepted: rows the vendor's jobs appended.
    :param rejected_by_vendor: rows the vendor's jobs rejected (not attributable to a row number).
    :param job_ids: the vendor's job ids, in submission order.
    :param pending: True when the jobs were submitted but not waited for.
    :param in_doubt: rows of an upload an earlier attempt ended in (the vendor may hold them or not) that
        were not uploaded again (``retry_ambiguous=False``): possible losses.
    :param possible_duplicates: rows of such an upload that were uploaded again (``retry_ambiguous=True``).
    """

    sent: int = 0
    accepted: int = 0
    rejected_by_vendor: int = 0
    job_ids: list[str] = field(default_factory=list)
    pending: bool = False
    in_doubt: int = 0
    possible_duplicates: int = 0


class EventAdapter(ABC, Generic[HookT_co, PayloadT]):
    """Common part of both adapter kinds, generic over the vendor's hook and payload types.

    A vendor's adapter names both, e.g. ``PerEventAdapter[CareCloudHook, dict[str, Any]]``: then
    ``self.hook`` is the vendor's hook, and :meth:`prepare` and the delivery call are typed with the payload.

    :param hook: the destination hook (its type matches :attr:`conn_type`).
    :param options: the operator's ``destination_options``; each vendor documents its keys and must reject
        unknown ones with a :class:`~airflow_provider_events.exceptions.ConfigurationError`.
    """

    conn_type: ClassVar[str]
    #: the vendor deduplicates on what :meth:`prepare` derives from the key, so an ambiguous failure may be
    #: resent safely (CareCloud external ids).
    vendor_deduplicates: ClassVar[bool] = False
    #: requests per second the engine paces at when the user sets nothing (None: no pacing).
    default_max_requests_per_second: ClassVar[float | None] = None
    #: concurrent requests the engine uses when the user sets nothing.
    default_max_concurrency: ClassVar[int] = 8
    #: option keys accepted in ``destination_options``.
    option_names: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, hook: HookT_co, options: Mapping[str, Any] | None = None) -> None:
        self.hook: HookT_co = hook
        self.options = dict(options or {})
        unknown = set(self.options) - set(self.option_names)
        if unknown:
            raise ConfigurationError(
                f"unknown destination_options for {self.conn_type}: {sorted(unknown)}; "
                f"accepted: {sorted(self.option_names)}"
            )

    def destination_object(self) -> str:
        """The vendor object this adapter's events go to (a listing, a custom event, an event type ...).

        Part of :meth:`destination_id`; ``""`` when the connection alone names the destination. No I/O.
        """
        return ""

    def destination_id(self) -> str:
        """Which delivery ledger (:mod:`~.ledger`) the events belong to: type, connection id, vendor object.

        Two syncs with the same destination id share one ledger: an event one delivered is skipped by the
        other. No I/O beyond reading the connection.
        """
        parts = [self.conn_type, str(getattr(self.hook, "conn_id", "") or "")]
        target = self.destination_object()
        if target:
            parts.append(target)
        return ":".join(parts)

    def open(self) -> None:
        """Pre-flight once per run, before any row is read: resolve ids, check options (may call the API)."""

    @abstractmethod
    def prepare(self, record: dict[str, Any], key: str) -> PayloadT:
        """Validate one mapped record and return the vendor payload.

        :param record: the rendered mapping (vendor field names; nested mappings are dicts).
        :param key: the event's idempotency key, to pass where the vendor takes one.
        :raises InvalidRecordError: naming the field and the reason.
        """

    def error_scope(self, error: VendorApiError) -> ErrorScope:
        """Whether a vendor's refusal (4xx other than 429) is about this event or the whole run.

        Default: 401/403 and 404 stop the run (bad key, unknown configured id); other 4xx reject the event.
        Vendors whose 404 can be about one event (e.g. an unknown customer) override this. 429 and 5xx that
        survive the hook's retries are not refusals: the engine counts them as failed.
        """
        if isinstance(error, (VendorAuthError, VendorNotFoundError)):
            return ErrorScope.RUN
        return ErrorScope.ROW

    def close(self) -> None:
        """Release what :meth:`open` took."""


class PerEventAdapter(EventAdapter[HookT_co, PayloadT]):
    """A vendor that takes one event per request; the engine sends concurrently and paces."""

    @abstractmethod
    def send(self, payload: PayloadT) -> SendOutcome:
        """Deliver one prepared payload (thread-safe: called from the engine's worker threads).

        :raises VendorApiError: (typed) when the vendor refused it after the hook's retries.
        :raises VendorUnavailableError: when it could not be delivered; ``ambiguous`` tells whether it may
            have arrived.
        """

    #: :meth:`lookup` can answer ``FOUND`` / ``ABSENT`` (the vendor lets a sender read its events back).
    supports_lookup: ClassVar[bool] = False
    #: seconds after a send before :meth:`lookup` may find the event: the engine defers the read-back of an
    #: ambiguous failure by this much and goes on sending meanwhile.
    lookup_delay: float = 0.0

    def lookup(self, event: PreparedEvent[PayloadT], sent_at: float | None) -> LookupResult:
        """Whether the vendor holds an event whose delivery is in doubt (called from the engine's thread).

        The engine calls it before resending or giving up an event that may have reached the vendor (an
        ambiguous failure, or in the air when an earlier attempt died). Never answer ``ABSENT`` for an event
        that may merely not be visible yet: wait for the vendor's visibility delay (from ``sent_at``, a
        ``time.time()``; ``None``: unknown, an earlier attempt) or answer ``UNKNOWN``.

        Default: ``UNKNOWN`` (the vendor has no way to ask; the ``retry_ambiguous`` policy applies).
        """
        return LookupResult.UNKNOWN


class BatchAdapter(EventAdapter[HookT_co, PayloadT]):
    """A vendor that takes files of events that run as jobs (Act-On)."""

    def block_preparer(self, fields: Sequence[str]) -> BlockPreparer[PayloadT] | None:
        """A function validating many records at once, for records of exactly these fields; ``None``: none.

        The engine uses it when the mapping is flat (each field a source column or a constant), so a block
        of rows goes through validation without a record dict or a Python call per row. The function gets
        one sequence of values per field, in ``fields`` order, and the rows' keys. It must return exactly
        what :meth:`prepare` returns for each record (equal payloads, in order) when every record of the
        block is valid, and ``None`` when any record may not be: the engine then prepares that block row by
        row, so rejects still name the row and the field. It never raises ``InvalidRecordError``.

        Default: ``None`` (every record goes through :meth:`prepare`).
        """
        return None

    @abstractmethod
    def deliver(
        self,
        blocks: Iterable[PreparedBlock[PayloadT]],
        state: CheckpointState,
        *,
        wait: bool,
        retry_ambiguous: bool = False,
        on_held: Callable[[int], None] | None = None,
    ) -> BatchOutcome:
        """Spool, upload and (when ``wait``) wait for the jobs.

        ``blocks`` is lazy: the source is read only as it is iterated, so an adapter that finds its jobs
        already submitted in ``state`` (a retried task) re-attaches without reading the source again. Each
        block holds the events of consecutive source rows (:class:`PreparedBlock`).
        ``retry_ambiguous``: upload again the rows of an upload an earlier attempt ended in (counted in
        ``possible_duplicates``) instead of leaving them out (counted in ``in_doubt``). ``on_held``, when
        given, is called (in the caller's thread) with a source row number once a recorded job holds every
        row up to it: the engine records those keys in the delivery ledger then, not only after the wait.
        """


#: connection type -> adapter class path: a live view of :mod:`airflow_provider_events.vendors`, the one
#: vendor registry (add a vendor with :func:`~airflow_provider_events.vendors.register_vendor`).
ADAPTERS: Mapping[str, str] = AdapterPaths()


def adapter_class_for(conn_type: str) -> type[EventAdapter]:
    """The adapter class registered for a connection type (imported now, so unused vendors cost nothing).

    :raises ConfigurationError: for a connection type no adapter serves.
    """
    try:
        path = ADAPTERS[conn_type]
    except KeyError:
        raise ConfigurationError(
            f"no delivery adapter for connection type {conn_type!r}; supported: {sorted(ADAPTERS)}"
        ) from None
    cls: type[EventAdapter] = import_class(path)
    return cls
