"""Vendor-neutral value rules shared by the hooks and adapters: boolean words and JSON-safe conversion."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

from airflow_provider_events.exceptions import InvalidRecordError

#: words read as true (compared stripped and lower-cased).
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t", "on"})
#: words read as false (compared stripped and lower-cased).
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f", "off"})


def parse_bool_word(text: str) -> bool | None:
    """``True`` / ``False`` for a word of :data:`TRUE_WORDS` / :data:`FALSE_WORDS`, else ``None``."""
    lowered = text.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    return None


def iso_utc_millis(value: datetime) -> str:
    """A datetime as ISO 8601 in UTC with milliseconds and ``Z`` (naive datetimes are taken as UTC)."""
    aware = (
        value
        if value.tzinfo is not None and value.utcoffset() is not None
        else value.replace(tzinfo=timezone.utc)
    )
    return aware.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_safe(
    value: object,
    field_name: str,
    *,
    datetime_text: Callable[[datetime], Any] = iso_utc_millis,
    unsupported: str = "{type} values are not JSON-safe",
) -> Any:
    """A JSON-safe copy of a record value, nested mappings and sequences included.

    Decimals become ints when integral, else floats; datetimes go through ``datetime_text`` (default: ISO
    8601 UTC); dates become ISO dates; enums their value; UUIDs their text; mapping keys text.

    :param value: the value.
    :param field_name: the vendor field, extended with ``.key`` / ``[i]`` for nested parts in errors.
    :param datetime_text: how a datetime is written (a vendor may want its project's local time).
    :param unsupported: the error reason for a value of another type (``{type}``: its type name).
    :raises InvalidRecordError: naming the (nested) field, for NaN/infinity or a type JSON cannot carry.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRecordError(field_name, "NaN and infinity are not JSON numbers")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidRecordError(field_name, "NaN and infinity are not JSON numbers")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return datetime_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return json_safe(value.value, field_name, datetime_text=datetime_text, unsupported=unsupported)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {
            str(k): json_safe(v, f"{field_name}.{k}", datetime_text=datetime_text, unsupported=unsupported)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [
            json_safe(v, f"{field_name}[{i}]", datetime_text=datetime_text, unsupported=unsupported)
            for i, v in enumerate(value)
        ]
    raise InvalidRecordError(field_name, unsupported.format(type=type(value).__name__))
