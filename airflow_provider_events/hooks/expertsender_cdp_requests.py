"""ExpertSender CDP request bodies: one customer's scenario custom event, or a whole segment's."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.expertsender_cdp_customers import CustomerRef
from airflow_provider_events.hooks.expertsender_cdp_data_fields import (
    DataField,
    DataFieldType,
    build_data_fields,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def check_custom_event_id(value: Any, name: str = "custom_event_id") -> int:
    """An int32 id from an int or a string of digits.

    :raises ConfigurationError: anything else.
    """
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be an integer, got a boolean")
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int) or not INT32_MIN <= value <= INT32_MAX:
        raise ConfigurationError(f"{name} must be a 32-bit integer, got {value!r}")
    return value


def build_customer_event(
    custom_event_id: int,
    customer: CustomerRef,
    data_fields: Mapping[str, Any] | Iterable[DataField] | None = None,
    data_field_types: Mapping[str, DataFieldType | str] | None = None,
) -> dict[str, Any]:
    """The body of ``POST /scenariocustomevents`` (validated; raises like :func:`build_data_fields`)."""
    body: dict[str, Any] = {"customEventId": check_custom_event_id(custom_event_id), **customer.to_wire()}
    fields = build_data_fields(data_fields, data_field_types)
    if fields:
        body["dataFields"] = fields
    return body


def build_segments_event(
    custom_event_id: int | str,
    segments: Iterable[int | str] | int | str,
    data_fields: Mapping[str, Any] | Iterable[DataField] | None = None,
    data_field_types: Mapping[str, DataFieldType | str] | None = None,
) -> dict[str, Any]:
    """The body of ``POST /scenariocustomevents/withsegments``: one segment id or several, int32 each.

    :raises ConfigurationError: a segment id that is not an integer, or no segment.
    """
    event_id = check_custom_event_id(custom_event_id)
    given: Iterable[Any] = [segments] if isinstance(segments, (str, bytes, int)) else segments
    ids = [check_custom_event_id(s, "segment id") for s in given]
    if not ids:
        raise ConfigurationError("at least one segment id is required")
    body: dict[str, Any] = {"customEventId": event_id, "segments": ids}
    fields = build_data_fields(data_fields, data_field_types)
    if fields:
        body["dataFields"] = fields
    return body
