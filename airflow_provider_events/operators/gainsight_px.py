"""Gainsight PX operators: rows or records -> custom events, through the delivery engine."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_events.adapters.gainsight_px import DeliveryLedger
from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.gainsight_px import GainsightPXHook
from airflow_provider_events.links import GainsightPXEventLink, push_link_target
from airflow_provider_events.operators.sync import SqlToEventsOperator

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

    :param destination_conn_id: the ``gainsight_px`` connection (default ``gainsight_px_default``).
    :param property_key: product tag key for events without ``propertyKey`` (default: the connection's
        ``property_key`` extra) (templated).
    :param user_type: ``userType`` for events without one (``LEAD``, ``USER``, ``VISITOR``,
        ``EMPTY_USER_TYPE``; default ``USER``) (templated).
    :param event_name: ``eventName`` for events without one (templated).
    :param verify_delivery: after sending, read the events back (``GET /v1/events/custom`` over the
        delivered events' date window, filtered on their event names) and add to the report how many of the
        accepted events the API returns (``verification``).
    :param verify_timeout: seconds to keep re-reading while some accepted events are not yet returned (the
        vendor may index events with a delay); 0 reads once.
    :param verify_interval: seconds between read-backs.
    :return: the delivery report dict; with ``verify_delivery``, plus ``verification``: ``accepted``,
        ``found``, ``missing``, ``read``, ``window_start``/``window_end`` (epoch ms), ``complete``.
    """

    template_fields: Sequence[str] = (
        *SqlToEventsOperator.template_fields,
        "property_key",
        "user_type",
        "event_name",
    )
    operator_extra_links = (GainsightPXEventLink(),)

    def __init__(
        self,
        *,
        destination_conn_id: str = GainsightPXHook.default_conn_name,
        property_key: str | None = None,
        user_type: str | None = None,
        event_name: str | None = None,
        verify_delivery: bool = False,
        verify_timeout: float = 0.0,
        verify_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(destination_conn_id=destination_conn_id, **kwargs)
        if verify_timeout < 0 or verify_interval <= 0:
            raise ConfigurationError("verify_timeout must be >= 0 and verify_interval > 0")
        self.property_key = property_key
        self.user_type = user_type
        self.event_name = event_name
        self.verify_delivery = verify_delivery
        self.verify_timeout = verify_timeout
        self.verify_interval = verify_interval
        self._ledger: DeliveryLedger | None = None

    def _destination_options(self, context: Context) -> dict[str, Any]:
        options = super()._destination_options(context)
        for name in ("property_key", "user_type", "event_name"):
            value = getattr(self, name)
            if value not in (None, ""):
                options.setdefault(name, value)
        if self.verify_delivery and not getattr(self, "dry_run_only", False):
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
