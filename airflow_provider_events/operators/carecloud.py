"""CRM CareCloud operators: create events through the delivery engine, and export events to a file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.carecloud import CareCloudHook
from airflow_provider_events.operators._listing import (
    ListingLineage,
    export_records,
    listing_result,
    resolve_format,
)
from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.utils.coerce import as_bool, as_int
from airflow_provider_events.utils.deprecation import AttributeAlias, renamed_argument

DEFAULT_CONN_ID = CareCloudHook.default_conn_name

#: columns of a CSV export, in order (``data`` and ``property_records`` JSON-encoded when not strings).
CSV_COLUMNS = (
    "event_id",
    "event_type_id",
    "customer_id",
    "external_id",
    "secondary_external_id",
    "data",
    "created_at",
    "state",
    "property_records",
)


class CareCloudListEventsOperator(ListingLineage, BaseOperator):
    """Stream every CareCloud event matching the filters to a JSON Lines or CSV file.

    Events are fetched page by page (``count``/``offset`` until ``total_items``) and written as they come,
    so memory stays at one page. Returns ``{"count": N, "path": output_path}``, never the events.

    :param output_path: a local path or any ``ObjectStoragePath`` URI (``s3://...``, ``file://...``).
    :param file_format: ``jsonl`` or ``csv``; default from the path's suffix (``.csv`` -> csv, else jsonl).
    :param carecloud_conn_id: the ``carecloud`` connection (default ``carecloud_default``; formerly
        ``conn_id``, still accepted with a deprecation warning) (templated).
    :param event_type_id: one event type.
    :param event_type: one event type by ``text_id`` or name (case-insensitive), resolved once when the
        task starts; an unknown or ambiguous name fails the task before anything is written.
    :param event_type_ids: several event types (OR).
    :param customer_id: one customer.
    :param external_id: the events' external id.
    :param time_from: lower bound (e.g. ``"{{ data_interval_start }}"``; converted to the project's zone).
    :param time_to: upper bound (e.g. ``"{{ data_interval_end }}"``).
    :param include_property_records: include each event's property records (templated).
    :param sort_field: a first-level event field, e.g. ``created_at`` (default: the API's order).
    :param sort_direction: ``ASC`` or ``DESC``.
    :param page_size: events per request (templated).
    """

    template_fields: Sequence[str] = (
        "output_path",
        "file_format",
        "event_type_id",
        "event_type",
        "event_type_ids",
        "customer_id",
        "external_id",
        "time_from",
        "time_to",
        "sort_field",
        "sort_direction",
        "include_property_records",
        "page_size",
        "carecloud_conn_id",
    )
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        output_path: str,
        file_format: str | None = None,
        carecloud_conn_id: str = DEFAULT_CONN_ID,
        event_type_id: str | None = None,
        event_type: str | None = None,
        event_type_ids: list[str] | None = None,
        customer_id: str | None = None,
        external_id: str | None = None,
        time_from: Any = None,
        time_to: Any = None,
        include_property_records: bool | str = False,
        sort_field: str | None = None,
        sort_direction: str | None = None,
        page_size: int | str = 100,
        **kwargs: Any,
    ) -> None:
        vendor_conn_id = renamed_argument(
            type(self).__name__,
            kwargs,
            old="conn_id",
            new="carecloud_conn_id",
            value=carecloud_conn_id,
            default=DEFAULT_CONN_ID,
        )
        super().__init__(**kwargs)
        self.carecloud_conn_id = vendor_conn_id
        self.output_path = output_path
        self.file_format = file_format
        if event_type_id and event_type:
            raise ConfigurationError("give event_type_id or event_type (a name), not both")
        self.event_type_id = event_type_id
        self.event_type = event_type
        self.event_type_ids = event_type_ids
        self.customer_id = customer_id
        self.external_id = external_id
        self.time_from = time_from
        self.time_to = time_to
        self.include_property_records = include_property_records
        self.sort_field = sort_field
        self.sort_direction = sort_direction
        self.page_size = page_size

    def execute(self, context: Context) -> dict[str, Any]:
        path = str(self.output_path)
        fmt = resolve_format(path, self.file_format)
        hook = CareCloudHook(self.carecloud_conn_id)
        try:
            event_type_id = self.event_type_id
            if self.event_type:
                event_type_id = str(hook.find_event_type(str(self.event_type))["event_type_id"])
                self.log.info("CareCloud event type %r is %s", self.event_type, event_type_id)
            events = hook.iter_events(
                event_type_id=event_type_id,
                event_type_ids=self.event_type_ids,
                customer_id=self.customer_id,
                external_id=self.external_id,
                time_from=self.time_from,
                time_to=self.time_to,
                include_property_records=as_bool("include_property_records", self.include_property_records),
                sort_field=self.sort_field,
                sort_direction=self.sort_direction,
                page_size=int(as_int("page_size", self.page_size, minimum=1) or 100),
            )
            count = export_records(events, path, fmt, CSV_COLUMNS)
        finally:
            hook.close()
        self.log.info("Wrote %d CareCloud events as %s (%d requests)", count, fmt, hook.stats["requests"])
        return listing_result(self, count, path)

    def _lineage_source(self) -> tuple[str, dict[str, Any]]:
        """OpenLineage (see :class:`ListingLineage`): the events of the event type."""
        return self.carecloud_conn_id, {"event_type_id": self.event_type_id, "event_type": self.event_type}


#: ``SqlToEventsOperator`` arguments that mean nothing for CareCloud (not templated here).
_NOT_FOR_CARECLOUD = ("destination_conn_id", "wait_for_completion")


class CareCloudCreateEventsOperator(SqlToEventsOperator):
    """Create one CareCloud event per row (SQL rows or ``records``) through the delivery engine.

    Each mapped record uses the API's field names: ``customer_id`` or ``customer_identifier_value`` (with
    ``customer_identifier_type``), ``external_id`` (default: the row's idempotency key),
    ``secondary_external_id``, ``data``, ``created_at``, and a nested ``property_records`` mapping
    ``{property_id: value}``. A row delivered before (``relation_already_exists``) counts as already
    delivered, so task retries and reruns are exactly-once. Every argument of
    :class:`~airflow_provider_events.operators.sync.SqlToEventsOperator` applies.

    :param event_type_id: the event type's id; or
    :param event_type: its ``text_id`` or name, resolved once when the task starts.
    :param customer_identifier_type: ``email`` / ``phone`` / ``external_id`` for rows that give
        ``customer_identifier_value`` without a type.
    :param carecloud_conn_id: the ``carecloud`` connection (default ``carecloud_default``; formerly
        ``destination_conn_id``, still accepted with a deprecation warning) (templated).
    :param kwargs: the arguments of ``SqlToEventsOperator`` (``conn_id``, ``sql``, ``records``, ``mapping``,
        ``key_columns``, ``max_concurrency``, ``max_requests_per_second``, ``max_rejected_ratio``, ...).
        CareCloud creates every event synchronously, so there is no ``wait_for_completion`` here.
    """

    template_fields: Sequence[str] = (
        *(f for f in SqlToEventsOperator.template_fields if f not in _NOT_FOR_CARECLOUD),
        "carecloud_conn_id",
        "event_type_id",
        "event_type",
        "customer_identifier_type",
    )

    def __init__(
        self,
        *,
        event_type_id: str | None = None,
        event_type: str | None = None,
        customer_identifier_type: str | None = None,
        carecloud_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        if "wait_for_completion" in kwargs:
            raise ConfigurationError(
                "CareCloudCreateEventsOperator has no wait_for_completion: CareCloud creates each event "
                "synchronously, so every delivered event is already complete"
            )
        conn_id = renamed_argument(
            type(self).__name__,
            kwargs,
            old="destination_conn_id",
            new="carecloud_conn_id",
            value=carecloud_conn_id,
            default=DEFAULT_CONN_ID,
        )
        super().__init__(destination_conn_id=conn_id, **kwargs)
        given = dict(self.destination_options or {})
        if not (event_type_id or event_type or given.get("event_type_id") or given.get("event_type")):
            raise ConfigurationError("CareCloudCreateEventsOperator needs event_type_id or event_type")
        self.event_type_id = event_type_id
        self.event_type = event_type
        self.customer_identifier_type = customer_identifier_type

    #: the vendor connection id, stored where the delivery engine reads it
    carecloud_conn_id = AttributeAlias("destination_conn_id")

    def _destination_options(self, context: Context) -> dict[str, Any]:
        options = super()._destination_options(context)
        for name in ("event_type_id", "event_type", "customer_identifier_type"):
            value = getattr(self, name)
            if value:
                options[name] = value
        return options
