"""Gainsight PX operators: rows or records -> custom events (delivery engine); custom events -> a file."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_events.adapters.gainsight_px import DeliveryLedger
from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.gainsight_px import GainsightPXHook, to_epoch_ms
from airflow_provider_events.links import GainsightPXEventLink, push_link_target
from airflow_provider_events.operators._listing import ListingLineage, check_page_size
from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.utils.coerce import as_bool, as_float
from airflow_provider_events.utils.deprecation import AttributeAlias, renamed_argument

if TYPE_CHECKING:
    from airflow.sdk import Context

#: more event names than this are not put in the read-back filter (the date window and ids suffice).
_MAX_NAME_FILTERS = 25


class GainsightPXSendCustomEventsOperator(SqlToEventsOperator):
    """Send rows of a SQL query (or a templated list of records) to Gainsight PX as custom events.

    One ``POST /v1/events/custom`` per event, concurrent and paced below the documented ~200 requests per
    second (default 150/s; ``max_requests_per_second`` or the connection's extra changes it). Each event's
    ``eventId`` is derived from its idempotency key (``key_columns``), so a resent event carries the same id.
    Mapped fields use the API's names: ``identifyId``, ``eventName``, ``userType``, ``date`` (datetime,
    naive = UTC, or epoch milliseconds), ``accountId``, ``attributes`` (nested mapping) ... Every argument of
    :class:`~airflow_provider_events.operators.sync.SqlToEventsOperator` applies.

    :param gainsight_px_conn_id: the ``gainsight_px`` connection (default ``gainsight_px_default``; formerly
        ``destination_conn_id``, still accepted with a deprecation warning) (templated).
    :param property_key: product tag key for events without ``propertyKey`` (default: the connection's
        ``property_key`` extra) (templated).
    :param user_type: ``userType`` for events without one (``LEAD``, ``USER``, ``VISITOR``,
        ``EMPTY_USER_TYPE``; default ``USER``) (templated).
    :param event_name: ``eventName`` for events without one (templated).
    :param verify_delivery: after sending, read the events back (``GET /v1/events/custom`` over the
        delivered events' date window, filtered on their event names) and add to the report how many of the
        accepted events the API returns (``verification``) (templated).
    :param verify_timeout: seconds to keep re-reading while some accepted events are not yet returned (the
        vendor may index events with a delay); 0 reads once (templated).
    :param verify_interval: seconds between read-backs (templated).
    :return: the delivery report dict; with ``verify_delivery``, plus ``verification``: ``accepted``,
        ``found``, ``missing``, ``read``, ``window_start``/``window_end`` (epoch ms), ``complete``.
    """

    template_fields: Sequence[str] = (
        *(f for f in SqlToEventsOperator.template_fields if f != "destination_conn_id"),
        "gainsight_px_conn_id",
        "property_key",
        "user_type",
        "event_name",
        "verify_delivery",
        "verify_timeout",
        "verify_interval",
    )
    operator_extra_links = (GainsightPXEventLink(),)

    #: the vendor connection id, stored where the delivery engine reads it
    gainsight_px_conn_id = AttributeAlias("destination_conn_id")

    def __init__(
        self,
        *,
        gainsight_px_conn_id: str = GainsightPXHook.default_conn_name,
        property_key: str | None = None,
        user_type: str | None = None,
        event_name: str | None = None,
        verify_delivery: bool | str = False,
        verify_timeout: float | str = 0.0,
        verify_interval: float | str = 5.0,
        **kwargs: Any,
    ) -> None:
        conn_id = renamed_argument(
            type(self).__name__,
            kwargs,
            old="destination_conn_id",
            new="gainsight_px_conn_id",
            value=gainsight_px_conn_id,
            default=GainsightPXHook.default_conn_name,
        )
        super().__init__(destination_conn_id=conn_id, **kwargs)
        numbers = not isinstance(verify_timeout, str) and not isinstance(verify_interval, str)
        if numbers and (float(verify_timeout) < 0 or float(verify_interval) <= 0):
            raise ConfigurationError("verify_timeout must be >= 0 and verify_interval > 0")
        self.property_key = property_key
        self.user_type = user_type
        self.event_name = event_name
        self.verify_delivery = verify_delivery
        self.verify_timeout: Any = verify_timeout  # templated: converted when the task runs
        self.verify_interval: Any = verify_interval
        self._ledger: DeliveryLedger | None = None

    def _destination_options(self, context: Context) -> dict[str, Any]:
        options = super()._destination_options(context)
        for name in ("property_key", "user_type", "event_name"):
            value = getattr(self, name)
            if value not in (None, ""):
                options.setdefault(name, value)
        self.verify_delivery = as_bool("verify_delivery", self.verify_delivery)
        self.verify_timeout = as_float("verify_timeout", self.verify_timeout, minimum=0) or 0.0
        interval = as_float("verify_interval", self.verify_interval)
        if interval is None or interval <= 0:
            raise ConfigurationError(f"verify_interval must be more than 0, got {self.verify_interval!r}")
        self.verify_interval = interval
        if self.verify_delivery and not as_bool("dry_run", self.dry_run_only):
            self._ledger = DeliveryLedger()
            options["delivery_ledger"] = self._ledger
        return options

    def execute(self, context: Context) -> dict[str, Any]:
        region = GainsightPXHook(self.destination_conn_id).extra("region")
        push_link_target(context, "gainsight_px", region, self.event_name)
        result = super().execute(context)
        if self._ledger is not None:
            result["verification"] = self.verify(self._ledger)
            self._emit_asset_extras(context, result)
        return result

    def verify(self, ledger: DeliveryLedger) -> dict[str, Any]:
        """Read the delivered events back and count those the API returns.

        :param ledger: what this run delivered.
        :returns: ``accepted`` (by this attempt), ``found`` (of those, returned by the API, matched by
            ``eventId``), ``missing``, ``read`` (events read back), the window and ``complete``.
        """
        summary: dict[str, Any] = {
            "accepted": ledger.accepted,
            "found": 0,
            "missing": ledger.accepted,
            "read": 0,
            "window_start": ledger.min_date,
            "window_end": ledger.max_date,
            "complete": ledger.accepted == 0,
        }
        if ledger.accepted == 0 or ledger.min_date is None or ledger.max_date is None:
            return summary
        names = sorted(ledger.event_names)
        filters = (
            [f"eventName=={n}" for n in names if ";" not in n] if len(names) <= _MAX_NAME_FILTERS else []
        )
        if len(filters) < len(names):
            filters = []  # a name that cannot be filtered on: read the whole window, match by id
        hook = GainsightPXHook(self.destination_conn_id)
        deadline = time.monotonic() + self.verify_timeout
        try:
            while True:
                seen: set[int] = set()
                read = 0
                for event in hook.iter_custom_events(
                    start=ledger.min_date, end=ledger.max_date, filters=filters or None
                ):
                    read += 1
                    event_id = event.get("eventId")
                    if ledger.holds(event_id):
                        seen.add(hash(event_id))  # an event stored twice (resent) counts once
                found = len(seen)
                if found >= ledger.accepted or time.monotonic() + self.verify_interval > deadline:
                    break
                self.log.info(
                    "read-back found %d of %d accepted events; reading again in %.0fs",
                    found,
                    ledger.accepted,
                    self.verify_interval,
                )
                time.sleep(self.verify_interval)
        finally:
            hook.close()
        summary.update(
            found=found, missing=ledger.accepted - found, read=read, complete=found == ledger.accepted
        )
        if found < ledger.accepted:
            self.log.warning(
                "read-back: Gainsight PX returns %d of the %d events accepted by this run",
                found,
                ledger.accepted,
            )
        else:
            self.log.info("read-back: Gainsight PX returns all %d accepted events", ledger.accepted)
        return summary


#: columns of a CSV export of custom events, in order (``attributes`` and ``globalContext`` as JSON).
CUSTOM_EVENT_CSV_COLUMNS = (
    "eventId",
    "identifyId",
    "eventName",
    "date",
    "userType",
    "accountId",
    "propertyKey",
    "eventType",
    "sessionId",
    "url",
    "referrer",
    "remoteHost",
    "attributes",
    "globalContext",
)


class GainsightPXListCustomEventsOperator(ListingLineage, BaseOperator):
    """Stream the Gainsight PX custom events of a date window to a JSON Lines or CSV file.

    Reads ``GET /v1/events/custom`` with scroll paging; a window longer than the API's 190-day maximum is
    read as consecutive windows, each millisecond in exactly one. Events are written as they come, so
    memory stays at one page. Returns ``{"count": N, "path": output_path}``, never the events.

    :param output_path: a local path or any ``ObjectStoragePath`` URI (``s3://...``, ``file://...``)
        (templated).
    :param file_format: ``jsonl`` or ``csv``; default from the path's suffix (``.csv`` -> csv, else jsonl)
        (templated).
    :param start: window start: datetime (naive = UTC), ISO-8601 text or epoch milliseconds; default the
        DAG run's ``data_interval_start`` (a run without a data interval, such as a manual run of an
        unscheduled DAG, must give it) (templated).
    :param end: window end (inclusive); default: with ``start`` unset, the run's ``data_interval_end``
        excluded (so consecutive runs never list an event twice); with ``start`` set, now (templated).
    :param identify_id: only this user's events (templated).
    :param event_name: only events of this name (templated).
    :param filters: further ``filter`` parameters of the API, e.g. ``["accountId==acme"]``: terms in one
        string are ANDed with ``;``, separate strings are ORed (templated).
    :param sort: e.g. ``date``, ``-date`` (newest first) or ``accountId;-date`` (templated).
    :param page_size: events per request, 1..1000.
    :param gainsight_px_conn_id: the ``gainsight_px`` connection (the API key needs the Read permission).
    """

    template_fields: Sequence[str] = (
        "output_path",
        "file_format",
        "start",
        "end",
        "identify_id",
        "event_name",
        "filters",
        "sort",
    )
    ui_color = "#fdebd0"

    def __init__(
        self,
        *,
        output_path: str,
        file_format: str | None = None,
        start: Any = None,
        end: Any = None,
        identify_id: str | None = None,
        event_name: str | None = None,
        filters: Sequence[str] | None = None,
        sort: str | None = None,
        page_size: int = 1000,
        gainsight_px_conn_id: str = GainsightPXHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.output_path = output_path
        self.file_format = file_format
        self.start = start
        self.end = end
        self.identify_id = identify_id
        self.event_name = event_name
        self.filters = filters
        self.sort = sort
        self.page_size = check_page_size(page_size)
        self.gainsight_px_conn_id = gainsight_px_conn_id

    def _window(self, context: Context) -> tuple[int, int | None]:
        """``(start_ms, end_ms)``, inclusive; the data interval by default, as the half-open range it is."""
        interval_start = context.get("data_interval_start")
        interval_end = context.get("data_interval_end")
        if self.start in (None, "") and (interval_start is None or interval_start == interval_end):
            # a manual run of an unscheduled DAG has an empty data interval: silently listing nothing
            # would look like "no events", so ask for an explicit window instead
            raise ConfigurationError("give start: this DAG run has no data interval to default to")
        start_ms = to_epoch_ms(self.start if self.start not in (None, "") else interval_start, "start")
        if self.end not in (None, ""):
            return start_ms, to_epoch_ms(self.end, "end")
        if self.start in (None, "") and interval_end is not None:
            # the data interval excludes its end: an event at midnight belongs to the next day's run
            return start_ms, to_epoch_ms(interval_end, "end") - 1
        return start_ms, None

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_events.operators._listing import (
            export_records,
            listing_result,
            resolve_format,
        )

        path = str(self.output_path)
        fmt = resolve_format(path, self.file_format)
        start_ms, end_ms = self._window(context)
        filters = [self.filters] if isinstance(self.filters, str) else self.filters
        hook = GainsightPXHook(self.gainsight_px_conn_id)
        try:
            events = hook.iter_custom_events(
                start=start_ms,
                end=end_ms,
                identify_id=self.identify_id or None,
                event_name=self.event_name or None,
                filters=[str(f) for f in filters] if filters else None,
                sort=self.sort or None,
                page_size=self.page_size,
            )
            count = export_records(events, path, fmt, CUSTOM_EVENT_CSV_COLUMNS)
        finally:
            hook.close()
        self.log.info(
            "Wrote %d Gainsight PX custom events as %s (%d requests)", count, fmt, hook.stats["requests"]
        )
        return listing_result(self, count, path)

    def _lineage_source(self) -> tuple[str, dict[str, Any]]:
        """OpenLineage (see :class:`ListingLineage`): the custom events of the event name."""
        return self.gainsight_px_conn_id, {"event_name": self.event_name}
