"""CRM CareCloud delivery adapter: one ``POST /events`` per row, deduplicated by the vendor on external ids.

``destination_options``:

- ``event_type_id`` *or* ``event_type`` (a ``text_id`` or name, resolved once in ``open()``).
- ``customer_identifier_type``: ``email`` / ``phone`` / ``external_id``, used for rows that carry
  ``customer_identifier_value`` without ``customer_identifier_type``.
- ``external_id_from_key``: ``None`` (default) = the row's ``external_id``, else the idempotency key;
  ``True`` = always the key; ``False`` = the row must carry ``external_id``.
- ``validate_properties`` (default ``True``): check property records against the event type before sending.
- ``ignore_unknown_fields`` (default ``False``): drop record fields that are not event fields (e.g. rows sent
  without a mapping) instead of rejecting the row.

Row fields (the API's own names): ``customer_id`` or ``customer_identifier_value`` (+ optional
``customer_identifier_type``), ``external_id``, ``secondary_external_id``, ``data``, ``created_at``, and a
nested ``property_records`` mapping ``{property_id: value}``.

Pacing: CareCloud publishes no rate limit (it is per project); the defaults (8 concurrent requests, 50 per
second: ``CareCloudAdapter.default_max_concurrency`` / ``default_max_requests_per_second``) are deliberately
modest. Raise them with the operator's ``max_concurrency`` /
``max_requests_per_second`` once the project's limit is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_events.exceptions import (
    ConfigurationError,
    InvalidRecordError,
    VendorApiError,
    VendorNotFoundError,
)
from airflow_provider_events.hooks.carecloud import CareCloudHook, CreateEventStatus, invalid_params
from airflow_provider_events.hooks.carecloud_events import IDENTIFIER_TYPES
from airflow_provider_events.sync.adapter import ErrorScope, PerEventAdapter, SendOutcome

RECORD_FIELDS = frozenset(
    {
        "customer_id",
        "customer_identifier_type",
        "customer_identifier_value",
        "external_id",
        "secondary_external_id",
        "data",
        "created_at",
        "property_records",
    }
)


class CareCloudAdapter(PerEventAdapter[CareCloudHook, dict[str, Any]]):
    """Creates CareCloud events, one request per row; a resend of a delivered row is ``ALREADY_DELIVERED``.

    :param hook: a :class:`~airflow_provider_events.hooks.carecloud.CareCloudHook`.
    :param options: see the module documentation.
    """

    conn_type = "carecloud"
    vendor_deduplicates = True
    # CareCloud sets limits per project and publishes none: a cautious pace that still beats a sequential
    # loop; 429s are retried honouring Retry-After, and both are options.
    default_max_requests_per_second = 50.0
    default_max_concurrency = 8
    option_names = frozenset(
        {
            "event_type_id",
            "event_type",
            "customer_identifier_type",
            "external_id_from_key",
            "validate_properties",
            "ignore_unknown_fields",
        }
    )

    def __init__(self, hook: CareCloudHook, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(hook, options)
        if not isinstance(hook, CareCloudHook):  # the registry may hand any hook to an untyped caller
            raise ConfigurationError("the CareCloud adapter needs a carecloud connection")
        has_id, has_name = bool(self.options.get("event_type_id")), bool(self.options.get("event_type"))
        if has_id == has_name:
            raise ConfigurationError("CareCloud: give exactly one of event_type_id or event_type")
        id_type = self.options.get("customer_identifier_type")
        if id_type is not None and id_type not in IDENTIFIER_TYPES:
            raise ConfigurationError(f"CareCloud: customer_identifier_type must be one of {IDENTIFIER_TYPES}")
        from_key = self.options.get("external_id_from_key")
        if from_key is not None and not isinstance(from_key, bool):
            raise ConfigurationError("CareCloud: external_id_from_key must be true, false or null")
        self.event_type_id: str | None = self.options.get("event_type_id")
        self.validate = bool(self.options.get("validate_properties", True))

    def destination_object(self) -> str:
        """The event type, by id or by name as configured (the delivery ledger's destination)."""
        if self.options.get("event_type"):
            return f"event_type_name={self.options['event_type']}"
        return f"event_type={self.event_type_id}"

    def open(self) -> None:
        """Resolve the event type once and load its properties (one lookup per run)."""
        if self.options.get("event_type"):
            self.event_type_id = str(
                self.hook.find_event_type(str(self.options["event_type"]))["event_type_id"]
            )
        else:
            try:
                self.hook.get_event_type(str(self.event_type_id))
            except VendorNotFoundError:
                raise ConfigurationError(f"CareCloud: no event type with id {self.event_type_id!r}") from None
        if self.validate:
            self.hook.event_type_properties(str(self.event_type_id))

    def prepare(self, record: dict[str, Any], key: str) -> dict[str, Any]:
        unknown = sorted(set(record) - RECORD_FIELDS)
        if unknown and not self.options.get("ignore_unknown_fields"):
            raise InvalidRecordError(
                unknown[0], f"not a CareCloud event field; accepted: {sorted(RECORD_FIELDS)}"
            )
        if self.event_type_id is None:
            raise ConfigurationError("CareCloud adapter used before open()")
        from_key = self.options.get("external_id_from_key")
        external_id = record.get("external_id")
        if from_key is True or (from_key is None and external_id in (None, "")):
            external_id = key
        elif external_id in (None, ""):
            raise InvalidRecordError("external_id", "required (external_id_from_key is false)")
        id_type = record.get("customer_identifier_type")
        if id_type in (None, "") and record.get("customer_identifier_value") not in (None, ""):
            id_type = self.options.get("customer_identifier_type")
        records = record.get("property_records")
        if records is not None and not isinstance(records, Mapping):
            raise InvalidRecordError("property_records", "a mapping of property_id to value is required")
        return self.hook.build_event_body(
            self.event_type_id,
            external_id=str(external_id),
            customer_id=record.get("customer_id"),
            customer_identifier_type=id_type or None,
            customer_identifier_value=record.get("customer_identifier_value"),
            secondary_external_id=record.get("secondary_external_id"),
            data=record.get("data"),
            created_at=record.get("created_at"),
            property_records=records or None,
            validate=self.validate,
        )

    def send(self, payload: dict[str, Any]) -> SendOutcome:
        result = self.hook.post_event(payload)
        if result.status is CreateEventStatus.ALREADY_DELIVERED:
            return SendOutcome.ALREADY_DELIVERED
        return SendOutcome.ACCEPTED

    def error_scope(self, error: VendorApiError) -> ErrorScope:
        """An unknown or deleted event type stops the run; anything else about one event rejects that row."""
        for param in invalid_params(error):
            if param.name == "event_type_id":
                return ErrorScope.RUN
        body = error.body if isinstance(error.body, Mapping) else {}
        data = (body.get("error") or {}).get("error_data") if isinstance(body.get("error"), Mapping) else None
        if (
            error.status_code == 404
            and isinstance(data, Mapping)
            and data.get("resource_name") == "customers"
        ):
            return ErrorScope.ROW
        return super().error_scope(error)
