"""ExpertSender CDP operators: scenario custom events per customer (via the sync engine) and per segment."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.expertsender_cdp import (
    ExpertSenderCdpHook,
    build_data_fields,
    check_custom_event_id,
)
from airflow_provider_events.operators._common import no_retry_when_ambiguous
from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.utils.coerce import as_bool
from airflow_provider_events.utils.deprecation import AttributeAlias, renamed_argument
from airflow_provider_events.utils.templating import is_template

DEFAULT_CONN_ID = "expertsender_cdp_default"


def _explain_ambiguous_trigger(exc: Exception) -> str:
    return (
        f"the segment trigger's outcome is unknown ({exc}); not retrying, since a retry could start the "
        "scenario twice for every customer of the segments. Check the scenario in ExpertSender CDP, or set "
        "retry_ambiguous=True to allow retries."
    )


class ExpertSenderCdpScenarioEventsOperator(SqlToEventsOperator):
    """Fire an ExpertSender CDP scenario custom event for every row of a query (or of a list), one request
    per customer, through the delivery engine (concurrency, pacing, validation, rejects file, checkpoint,
    delivery report).

    Each mapped record holds the customer's identifier and the event's data fields, nested under
    ``dataFields`` or flat (every field other than the identifier is a data field), e.g.::

        ExpertSenderCdpScenarioEventsOperator(
            task_id="cart_reminders",
            conn_id="warehouse",
            expertsender_cdp_conn_id="expertsender_cdp_default",
            sql="SELECT email, cart_total, cart_url FROM carts WHERE day = %(day)s",
            parameters={"day": "{{ ds }}"},
            custom_event_id=42,
            identifier="email_sha256",
            hash_emails=True,
            mapping={"email_sha256": "email", "dataFields": {"total": "cart_total", "link": "cart_url"}},
            data_field_types={"total": "Money", "link": "URL"},
            key_columns=["email"],
        )

    Every argument of :class:`~airflow_provider_events.operators.sync.SqlToEventsOperator` applies
    (``sql``/``records``, ``mapping``, ``key_columns``, ``max_concurrency``, ``max_requests_per_second``,
    ``rejects_path``, ``max_rejected``/``max_rejected_ratio``, ``dry_run``, ``checkpoint_path``,
    ``retry_ambiguous`` ...).

    :param custom_event_id: the custom event to fire (Automation > Scenarios > Custom events), an int32
        (templated).
    :param identifier: how every customer is identified: ``id``, ``email``, ``email_md5``, ``email_sha256``,
        ``phone`` or ``crm_id`` (templated).
    :param hash_emails: the identifier column holds raw e-mail addresses, hashed locally (trimmed,
        lower-cased, hex) with ``email_md5`` / ``email_sha256``, so raw addresses never leave the warehouse
        (templated).
    :param data_field_types: ``name -> type`` (String, Text, Number, Money, Date, DateTime, Boolean, URL) for
        data fields whose type is not inferred well from the value, e.g. dates read as text (templated).
    :param identifier_field: the record field holding the identifier when it is not named after the kind
        (templated).
    :param expertsender_cdp_conn_id: the ``expertsender_cdp`` connection (default
        ``expertsender_cdp_default``; formerly ``destination_conn_id``, still accepted with a deprecation
        warning) (templated).
    :param kwargs: the arguments of ``SqlToEventsOperator`` above. Its ``retry_ambiguous`` matters here:
        default False (at-most-once), because the API has no idempotency key, so a resend would start the
        scenario twice for that customer; the report counts such events in ``in_doubt``. True resends once
        an event whose outcome is unknown (at-least-once), counted in ``possible_duplicates``.
    :return: the delivery report as a dict.
    """

    template_fields: Sequence[str] = (
        *(f for f in SqlToEventsOperator.template_fields if f != "destination_conn_id"),
        "expertsender_cdp_conn_id",
        "custom_event_id",
        "identifier",
        "hash_emails",
        "data_field_types",
        "identifier_field",
    )
    template_fields_renderers = {**SqlToEventsOperator.template_fields_renderers, "data_field_types": "json"}
    ui_color = "#fde9e4"

    _OPTION_NAMES = ("custom_event_id", "identifier", "hash_emails", "data_field_types", "identifier_field")

    def __init__(
        self,
        *,
        custom_event_id: int | str,
        identifier: str,
        hash_emails: bool | str = False,
        data_field_types: Mapping[str, str] | None = None,
        identifier_field: str | None = None,
        expertsender_cdp_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        conn_id = renamed_argument(
            type(self).__name__,
            kwargs,
            old="destination_conn_id",
            new="expertsender_cdp_conn_id",
            value=expertsender_cdp_conn_id,
            default=DEFAULT_CONN_ID,
        )
        super().__init__(destination_conn_id=conn_id, **kwargs)
        self.custom_event_id = custom_event_id
        self.identifier = identifier
        self.hash_emails = hash_emails
        self.data_field_types = data_field_types
        self.identifier_field = identifier_field
        clash = set(self.destination_options or {}) & set(self._OPTION_NAMES)
        if clash:
            raise ConfigurationError(
                f"give {sorted(clash)} as operator arguments, not in destination_options"
            )
        if not is_template(custom_event_id):
            check_custom_event_id(custom_event_id)

    #: the vendor connection id, stored where the delivery engine reads it
    expertsender_cdp_conn_id = AttributeAlias("destination_conn_id")

    def _destination_options(self, context: Context) -> dict[str, Any]:
        options = super()._destination_options(context)
        options.update(
            custom_event_id=self.custom_event_id,
            identifier=self.identifier,
            hash_emails=self.hash_emails,
        )
        if self.data_field_types:
            options["data_field_types"] = self.data_field_types
        if self.identifier_field:
            options["identifier_field"] = self.identifier_field
        return options


def parse_segment_ids(segments: Any) -> list[int]:
    """Segment ids from a list of ints / digit strings, a comma-separated string or a JSON list.

    :raises ConfigurationError: a value that is not an int32, or no segment at all.
    """
    if isinstance(segments, str):
        text = segments.strip()
        if text.startswith("["):
            try:
                segments = json.loads(text)
            except ValueError:
                raise ConfigurationError("segments is not a valid JSON list") from None
        else:
            segments = [part for part in text.split(",") if part.strip()]
    elif isinstance(segments, int):
        segments = [segments]
    if not isinstance(segments, (list, tuple)):
        raise ConfigurationError(f"segments must be a list of segment ids, got {type(segments).__name__}")
    ids = [check_custom_event_id(s, "segment id") for s in segments]
    if not ids:
        raise ConfigurationError("at least one segment id is required")
    return ids


class ExpertSenderCdpSegmentScenarioOperator(BaseOperator):
    """Fire an ExpertSender CDP scenario custom event for every customer of the given segments
    (``POST /scenariocustomevents/withsegments``).

    The request cannot be made idempotent: a retried task fires the scenario again for every customer of
    the segments. When the outcome is unknown (timeout after sending, dropped connection, 500), the task
    therefore fails *without* Airflow retries unless ``retry_ambiguous`` is set.

    :param custom_event_id: the custom event to fire, an int32 (templated).
    :param segments: segment ids (Customers > Segmentation, "ID" column): a list of ints or digit strings,
        a comma-separated string or a JSON list, e.g. from an XCom (templated). Each must be an int32.
    :param data_fields: ``name -> value`` or ``name -> {"value": ..., "type": ...}`` sent with the event
        (templated).
    :param data_field_types: ``name -> type`` for values given without one (templated).
    :param expertsender_cdp_conn_id: the ``expertsender_cdp`` connection (formerly ``conn_id``, still
        accepted with a deprecation warning) (templated).
    :param retry_ambiguous: let Airflow retry the task after an ambiguous failure (at-least-once; the
        segment's customers may get the scenario twice). Default False (at-most-once) (templated).
    :return: ``{"custom_event_id": int, "segments": [int, ...], "data_fields": int}`` (the number of data
        fields sent).
    """

    template_fields: Sequence[str] = (
        "custom_event_id",
        "segments",
        "data_fields",
        "data_field_types",
        "expertsender_cdp_conn_id",
        "retry_ambiguous",
    )
    template_fields_renderers = {"data_fields": "json", "data_field_types": "json"}
    ui_color = "#fde9e4"

    def __init__(
        self,
        *,
        custom_event_id: int | str,
        segments: Sequence[int | str] | str | int,
        data_fields: Mapping[str, Any] | None = None,
        data_field_types: Mapping[str, str] | None = None,
        expertsender_cdp_conn_id: str = DEFAULT_CONN_ID,
        retry_ambiguous: bool | str = False,
        **kwargs: Any,
    ) -> None:
        vendor_conn_id = renamed_argument(
            type(self).__name__,
            kwargs,
            old="conn_id",
            new="expertsender_cdp_conn_id",
            value=expertsender_cdp_conn_id,
            default=DEFAULT_CONN_ID,
        )
        super().__init__(**kwargs)
        self.expertsender_cdp_conn_id = vendor_conn_id
        self.custom_event_id = custom_event_id
        self.segments = segments
        self.data_fields = data_fields
        self.data_field_types = data_field_types
        self.retry_ambiguous = retry_ambiguous
        if not is_template(custom_event_id):
            check_custom_event_id(custom_event_id)
        if not is_template(segments) and not (
            isinstance(segments, (list, tuple)) and any(is_template(s) for s in segments)
        ):
            parse_segment_ids(segments)

    def execute(self, context: Context) -> dict[str, Any]:
        event_id = check_custom_event_id(self.custom_event_id)
        segment_ids = parse_segment_ids(self.segments)
        data_fields = self.data_fields
        if isinstance(data_fields, str):  # a rendered JSON object, e.g. from an XCom
            try:
                data_fields = json.loads(data_fields) if data_fields.strip() else None
            except ValueError:
                raise ConfigurationError("data_fields is not a JSON object") from None
        if data_fields is not None and not isinstance(data_fields, Mapping):
            raise ConfigurationError("data_fields must be a mapping of name -> value")
        retry_ambiguous = as_bool("retry_ambiguous", self.retry_ambiguous)
        hook = ExpertSenderCdpHook(self.expertsender_cdp_conn_id)
        try:
            with no_retry_when_ambiguous(retry_ambiguous, _explain_ambiguous_trigger):
                hook.add_segments_to_scenario(
                    event_id, segment_ids, data_fields=data_fields, data_field_types=self.data_field_types
                )
        finally:
            hook.close()
        return {
            "custom_event_id": event_id,
            "segments": segment_ids,
            "data_fields": len(build_data_fields(data_fields, self.data_field_types)),
        }

    # ------------------------------------------------------------------ OpenLineage
    def get_openlineage_facets_on_start(self) -> Any:
        """OpenLineage: the ExpertSender CDP custom event whose scenario the segments start, as output."""
        from airflow_provider_events.lineage import delivery_lineage

        # the connection argument is being renamed expertsender_cdp_conn_id: read whichever this version has
        conn_id = getattr(self, "expertsender_cdp_conn_id", None) or getattr(self, "conn_id", None)
        return delivery_lineage(
            destination_conn_id=str(conn_id or DEFAULT_CONN_ID),
            destination_options={"custom_event_id": self.custom_event_id},
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """As on start (the segments' member count is not known to the task)."""
        return self.get_openlineage_facets_on_start()
