"""Delivery adapter of Gainsight PX: one ``POST /v1/events/custom`` per event, paced below ~200 rps."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError
from airflow_provider_events.hooks.gainsight_px import (
    GainsightPXHook,
    UserType,
    build_custom_event,
    event_id_for_key,
)
from airflow_provider_events.sync.adapter import LookupResult, PerEventAdapter, PreparedEvent, SendOutcome


class DeliveryLedger:
    """What a run delivered, kept so that it can be read back: event ids, names and the date window.

    Thread-safe (the engine sends from worker threads). Holds one 64-bit hash per accepted event (about 70
    bytes each in memory), no payloads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.event_ids: set[int] = set()
        self.event_names: set[str] = set()
        self.min_date: int | None = None
        self.max_date: int | None = None
        self.accepted = 0

    def record(self, payload: Mapping[str, Any]) -> None:
        """Note one accepted event (events without ``date`` are dated by the vendor on receipt)."""
        date = payload.get("date")
        if date is None:
            date = int(time.time() * 1000)
        event_id = payload.get("eventId")
        with self._lock:
            self.accepted += 1
            if event_id is not None:
                self.event_ids.add(hash(event_id))
            self.event_names.add(str(payload.get("eventName")))
            self.min_date = date if self.min_date is None else min(self.min_date, date)
            self.max_date = date if self.max_date is None else max(self.max_date, date)
            if payload.get("date") is None:  # the vendor's clock may differ a little from ours
                self.max_date = max(self.max_date, date + 60_000)
                self.min_date = min(self.min_date, date - 60_000)

    def holds(self, event_id: Any) -> bool:
        return event_id is not None and hash(event_id) in self.event_ids


class GainsightPXAdapter(PerEventAdapter[GainsightPXHook, dict[str, Any]]):
    """Sends each mapped record as one Gainsight PX custom event.

    Records use the API's field names (``identifyId``, ``eventName``, ``userType``, ``date``,
    ``accountId``, ``sessionId``, ``eventType``, ``url``, ``referrer``, ``remoteHost``, ``globalContext``, and
    a nested ``attributes`` dict). Each event's ``eventId`` is derived from its idempotency key unless the
    record sets one, so a resent event carries the same id.

    ``destination_options``:

    - ``property_key``: product tag key when a record has no ``propertyKey`` (default: the connection's
      ``property_key`` extra);
    - ``user_type``: ``userType`` when a record has none (default ``USER``);
    - ``event_name``: ``eventName`` when a record has none;
    - ``max_attribute_value_length``: refuse longer string attribute values (the older documented limit is
      1024; default: not checked);
    - ``delivery_ledger``: a :class:`DeliveryLedger` noting every accepted event (used by the operator's
      ``verify_delivery``; not templatable);
    - ``readback_visibility_seconds``: how long after a send an event may take to become readable through
      ``GET /v1/events/custom`` (default 30; the vendor documents no figure). An event in doubt is read back
      only once this has passed since it was sent (since this run started, for an event an earlier attempt
      had in the air); not found then: absent, resent; a read-back that fails: still in doubt.
    - ``readback_lookback_seconds``: how far back to look for an in-doubt event that had no ``date`` (the
      vendor dated it on receipt; default 7 days).

    Doubt is resolved by read-back (:meth:`lookup`): an event whose delivery is unknown (an ambiguous failure,
    or in the air when an earlier attempt died) is looked up by ``identifyId``, ``eventName`` and date window,
    matched on its deterministic ``eventId``.
    """

    conn_type = "gainsight_px"
    #: the vendor documents no deduplication on ``eventId``.
    vendor_deduplicates = False
    default_max_requests_per_second = 150.0
    #: 150 rps at ~50 ms per request needs 7.5 requests in flight; 16 leaves room for slower answers.
    default_max_concurrency = 16
    option_names = frozenset(
        {
            "property_key",
            "user_type",
            "event_name",
            "max_attribute_value_length",
            "delivery_ledger",
            "readback_visibility_seconds",
            "readback_lookback_seconds",
        }
    )
    supports_lookup = True

    def __init__(self, hook: GainsightPXHook, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(hook, options)
        user_type = self.options.get("user_type", UserType.USER.value)
        if isinstance(user_type, UserType):
            user_type = user_type.value
        if str(user_type).strip().upper() not in UserType.__members__:
            raise ConfigurationError(
                f"destination_options user_type {user_type!r} must be one of "
                f"{', '.join(UserType.__members__)}"
            )
        self.user_type = str(user_type).strip().upper()
        self.event_name: str | None = self.options.get("event_name")
        limit = self.options.get("max_attribute_value_length")
        self.max_attribute_value_length = int(limit) if limit is not None else None
        self._property_key: str | None = self.options.get("property_key")
        ledger = self.options.get("delivery_ledger")
        if ledger is not None and not isinstance(ledger, DeliveryLedger):
            raise ConfigurationError("destination_options delivery_ledger must be a DeliveryLedger")
        self.ledger: DeliveryLedger | None = ledger
        self.visibility_seconds = float(self.options.get("readback_visibility_seconds", 30.0))
        self.lookup_delay = self.visibility_seconds
        self.lookback_seconds = float(self.options.get("readback_lookback_seconds", 7 * 86400))
        if self.visibility_seconds < 0 or self.lookback_seconds <= 0:
            raise ConfigurationError(
                "readback_visibility_seconds must be >= 0 and readback_lookback_seconds > 0"
            )
        self._opened_at = time.time()

    def destination_object(self) -> str:
        """The product tag key and event name (the delivery ledger's destination).

        The event name is the ``event_name`` option, or ``*`` when each record maps its own (its key then
        identifies the event across names).
        """
        key = self._property_key if self._property_key not in (None, "") else self.hook.property_key
        return f"property={key or '*'}/event={self.event_name or '*'}"

    def open(self) -> None:
        """Resolve the default product tag key (no API call: Gainsight PX has no cheap write check)."""
        self._opened_at = time.time()
        if self._property_key in (None, ""):
            self._property_key = self.hook.property_key

    def prepare(self, record: dict[str, Any], key: str) -> dict[str, Any]:
        if self._property_key in (None, "") and record.get("propertyKey") in (None, ""):
            raise InvalidRecordError(
                "propertyKey",
                "is required: map it, or set destination_options property_key or the connection extra",
            )
        return build_custom_event(
            record,
            property_key=self._property_key,
            user_type=self.user_type,
            event_name=self.event_name,
            event_id=event_id_for_key(key),
            max_attribute_value_length=self.max_attribute_value_length,
        )

    def send(self, payload: dict[str, Any]) -> SendOutcome:
        self.hook.post_custom_event(payload)
        if self.ledger is not None:
            self.ledger.record(payload)
        return SendOutcome.ACCEPTED

    def lookup(self, event: PreparedEvent[dict[str, Any]], sent_at: float | None) -> LookupResult:
        """Read the event back (``GET /v1/events/custom``), match its ``eventId``; see the class docstring."""
        payload = event.payload
        event_id = payload.get("eventId")
        if not event_id:
            return LookupResult.UNKNOWN
        visible_after = (sent_at if sent_at is not None else self._opened_at) + self.visibility_seconds
        delay = visible_after - time.time()
        if delay > 0:
            time.sleep(delay)
        now_ms = int(time.time() * 1000)
        date = payload.get("date")
        if date is not None:
            start, end = int(date) - 60_000, int(date) + 60_000
        else:
            start, end = now_ms - int(self.lookback_seconds * 1000), now_ms + 60_000
        try:
            for stored in self.hook.iter_custom_events(
                start=start,
                end=end,
                identify_id=str(payload["identifyId"]),
                event_name=str(payload["eventName"]),
            ):
                if stored.get("eventId") == event_id:
                    if self.ledger is not None:
                        self.ledger.record(payload)
                    return LookupResult.FOUND
        except Exception:  # a failed read-back proves nothing: still in doubt
            return LookupResult.UNKNOWN
        return LookupResult.ABSENT
