"""The CRM CareCloud event model: the ``POST /events`` body and its property records, built and checked,
and what the API answered (:class:`CreateEventResult`, :func:`invalid_params`, :func:`is_already_delivered`).

Kept apart from the hook (as Gainsight PX's ``CustomEvent`` model is) so the rules can be read, tested and
reused without HTTP: the hook passes in what needs the API or the project's settings (the event type's
properties, the project-local time format).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_events.exceptions import InvalidRecordError, VendorApiError, VendorBadRequestError
from airflow_provider_events.utils.values import json_safe, parse_bool_word

if TYPE_CHECKING:
    from typing_extensions import NotRequired

#: most property records one event may carry.
MAX_PROPERTY_RECORDS = 1000
#: the ways a customer may be named instead of by ``customer_id``.
IDENTIFIER_TYPES = ("email", "phone", "external_id")
_NOT_JSON = "a {type} value cannot be sent as JSON"
#: the ``reason`` of a 400 that says the (event type, customer, external ids) combination already exists.
RELATION_ALREADY_EXISTS = "relation_already_exists"


class CreateEventStatus(str, Enum):
    """What ``POST /events`` did with one event."""

    CREATED = "created"
    #: the API answered ``relation_already_exists``: the same event was delivered before.
    ALREADY_DELIVERED = "already_delivered"


@dataclass(frozen=True)
class CreateEventResult:
    """Result of :meth:`~airflow_provider_events.hooks.carecloud.CareCloudHook.create_event`.

    :param status: created now, or already delivered earlier.
    :param event_id: the new event's id; for an already delivered event, the existing id when it was
        looked up (``lookup_existing=True``), else ``None``.
    """

    status: CreateEventStatus
    event_id: str | None = None

    @property
    def created(self) -> bool:
        return self.status is CreateEventStatus.CREATED


@dataclass(frozen=True)
class InvalidParam:
    """One entry of a 400 body's ``error.error_data.invalid_params[]`` (the echoed ``value`` is dropped).

    :param name: the parameter the API complains about (e.g. ``external_id``).
    :param reason: the reason code (``required``, ``not_found``, ``invalid_value_format``, ...).
    :param message: the API's explanation.
    """

    name: str
    reason: str
    message: str


def invalid_params(error: VendorApiError | Any) -> list[InvalidParam]:
    """The ``invalid_params`` a CareCloud error (or its parsed body) carries; empty when none."""
    body = error.body if isinstance(error, VendorApiError) else error
    try:
        items = body["error"]["error_data"]["invalid_params"]
    except (KeyError, TypeError):
        return []
    if not isinstance(items, list):
        return []
    return [
        InvalidParam(str(item.get("name", "")), str(item.get("reason", "")), str(item.get("message", "")))
        for item in items
        if isinstance(item, Mapping)
    ]


def is_already_delivered(error: VendorApiError) -> bool:
    """True for the 400 whose every invalid parameter has reason ``relation_already_exists``."""
    params = invalid_params(error)
    return (
        isinstance(error, VendorBadRequestError)
        and bool(params)
        and all(p.reason == RELATION_ALREADY_EXISTS for p in params)
    )


class EventFields(TypedDict):
    """The keyword arguments of :func:`build_event_body` after ``event_type_id`` (for typed forwarding)."""

    external_id: str
    customer_id: NotRequired[str | None]
    customer_identifier_type: NotRequired[str | None]
    customer_identifier_value: NotRequired[str | Mapping[str, str] | None]
    secondary_external_id: NotRequired[str | None]
    data: NotRequired[str | Sequence[str] | Mapping[str, Any] | None]
    created_at: NotRequired[datetime | str | None]
    property_records: NotRequired[Mapping[str, Any] | Sequence[Mapping[str, Any]] | None]
    validate: NotRequired[bool]


def check_property_records(
    event_type_id: str,
    records: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    properties_of: Callable[[str], Mapping[str, Mapping[str, Any]]],
    to_local: Callable[[datetime | date | str], str],
) -> list[dict[str, Any]]:
    """Check property records against the event type's properties and shape them for the API.

    :param event_type_id: the event type.
    :param records: ``{property_id: value}`` or ``[{"property_id", "property_value"}]``.
    :param properties_of: ``event_type_id -> {property_id: Property}`` (asked once, after the shape checks).
    :param to_local: writes a timestamp in the project's local time.
    :returns: ``[{"property_id", "property_value"}]`` with values normalised to the data type
        (booleans, integers, floats, ``YYYY-MM-DD`` dates, project-local timestamps, enum/multiselect
        item arrays built from item ids or names).
    :raises InvalidRecordError: naming ``property_records.<property_id>``.
    """
    if isinstance(records, Mapping):
        pairs = list(records.items())
    else:
        pairs = []
        for item in records:
            if not isinstance(item, Mapping) or not item.get("property_id"):
                raise InvalidRecordError("property_records", "each record needs a property_id")
            pairs.append((str(item["property_id"]), item.get("property_value")))
    if len(pairs) > MAX_PROPERTY_RECORDS:
        raise InvalidRecordError("property_records", f"at most {MAX_PROPERTY_RECORDS} property records")
    catalogue = properties_of(event_type_id)
    out = []
    seen = set()
    for property_id, value in pairs:
        field = f"property_records.{property_id}"
        prop = catalogue.get(str(property_id))
        if prop is None:
            raise InvalidRecordError(field, "not a property of the event type")
        seen.add(str(property_id))
        out.append(
            {
                "property_id": str(property_id),
                "property_value": coerce_property_value(field, value, prop, to_local=to_local),
            }
        )
    for property_id, prop in catalogue.items():
        if prop.get("is_required") and property_id not in seen:
            raise InvalidRecordError(f"property_records.{property_id}", "required by the event type")
    return out


def coerce_property_value(
    field: str, value: Any, prop: Mapping[str, Any], *, to_local: Callable[[datetime | date | str], str]
) -> Any:
    """``value`` normalised to the property's ``data_type``.

    :raises InvalidRecordError: naming ``field``, when the value does not fit the data type.
    """
    if value is None:
        if prop.get("is_required"):
            raise InvalidRecordError(field, "a value is required")
        return None
    data_type = str(prop.get("data_type", "string"))
    if data_type == "string":
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise InvalidRecordError(field, "expected a string")
        return str(value)
    if data_type == "boolean":
        if isinstance(value, bool):
            return value
        word = parse_bool_word(str(value)) if isinstance(value, (int, str)) else None
        if word is not None:
            return word
        raise InvalidRecordError(field, "expected a boolean")
    if data_type == "integer":
        if isinstance(value, bool):
            raise InvalidRecordError(field, "expected an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, (float, Decimal)) and value == int(value):
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise InvalidRecordError(field, "expected an integer")
    if data_type == "float":
        if isinstance(value, bool):
            raise InvalidRecordError(field, "expected a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidRecordError(field, "expected a number") from None
        if not math.isfinite(number):
            raise InvalidRecordError(field, "expected a finite number")
        return number
    if data_type == "date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        raise InvalidRecordError(field, "expected a date YYYY-MM-DD")
    if data_type == "timestamp":
        if isinstance(value, (datetime, str)):
            try:
                return to_local(value)
            except ValueError:
                pass
        raise InvalidRecordError(field, "expected a timestamp YYYY-MM-DD HH:MM:SS")
    if data_type in ("enum", "multiselect"):
        return property_items(field, value, prop, single=data_type == "enum")
    return value  # a customised data type: passed as given


def property_items(field: str, value: Any, prop: Mapping[str, Any], *, single: bool) -> list[dict[str, Any]]:
    """The enum (``single``) or multiselect items picked by id or (case-insensitive) name."""
    choices = [i for i in prop.get("items") or [] if isinstance(i, Mapping)]
    wanted = value if isinstance(value, (list, tuple)) else [value]
    if not wanted:
        raise InvalidRecordError(field, "expected at least one item")
    if single and len(wanted) != 1:
        raise InvalidRecordError(field, "an enum takes exactly one item")
    picked = []
    for one in wanted:
        key = one.get("id") if isinstance(one, Mapping) else one
        match = next((c for c in choices if c.get("id") == key), None)
        if match is None and isinstance(key, str):
            match = next((c for c in choices if str(c.get("name", "")).casefold() == key.casefold()), None)
        if match is None:
            raise InvalidRecordError(field, "not one of the property's items")
        picked.append({k: match.get(k) for k in ("id", "name", "resource_record_id", "state")})
    return picked


def build_event_body(
    event_type_id: str,
    *,
    external_id: str,
    customer_id: str | None = None,
    customer_identifier_type: str | None = None,
    customer_identifier_value: str | Mapping[str, str] | None = None,
    secondary_external_id: str | None = None,
    data: str | Sequence[str] | Mapping[str, Any] | None = None,
    created_at: datetime | str | None = None,
    property_records: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    validate: bool = True,
    properties_of: Callable[[str], Mapping[str, Mapping[str, Any]]],
    to_local: Callable[[datetime | date | str], str],
) -> dict[str, Any]:
    """The validated ``POST /events`` body.

    :param event_type_id: the event type's id.
    :param external_id: the event's id in the source system (part of the duplicate rule).
    :param customer_id: the CareCloud customer id; or instead:
    :param customer_identifier_type: ``email``, ``phone`` or ``external_id``;
    :param customer_identifier_value: the e-mail or phone, or ``{customer_source_id, external_id}``.
    :param secondary_external_id: extra discriminator when ``external_id`` alone is not unique.
    :param data: free-form data: a string (e.g. serialised JSON), an array of strings or an object.
    :param created_at: event time; an aware datetime is converted to the project's zone.
    :param property_records: ``{property_id: value}`` or ``[{"property_id", "property_value"}]``.
    :param validate: check property records against the event type before sending (cached lookup).
    :param properties_of: ``event_type_id -> {property_id: Property}`` (used when ``validate``).
    :param to_local: writes a timestamp in the project's local time.

    :raises InvalidRecordError: naming the field at fault.
    """
    if not event_type_id:
        raise InvalidRecordError("event_type_id", "required")
    if external_id is None or str(external_id) == "":
        raise InvalidRecordError("external_id", "required")
    event: dict[str, Any] = {"event_type_id": str(event_type_id), "external_id": str(external_id)}
    has_identifier = customer_identifier_type is not None or customer_identifier_value not in (None, "")
    if customer_id not in (None, ""):
        if has_identifier:
            raise InvalidRecordError("customer_id", "give customer_id or a customer identifier, not both")
        event["customer_id"] = str(customer_id)
    else:
        if customer_identifier_type not in IDENTIFIER_TYPES:
            field = "customer_identifier_type" if customer_identifier_type else "customer_id"
            raise InvalidRecordError(
                field, "customer_id, or customer_identifier_type email / phone / external_id, is required"
            )
        if customer_identifier_value in (None, ""):
            raise InvalidRecordError("customer_identifier_value", "required")
        if customer_identifier_type == "external_id":
            if not isinstance(customer_identifier_value, Mapping) or not all(
                customer_identifier_value.get(k) for k in ("customer_source_id", "external_id")
            ):
                raise InvalidRecordError(
                    "customer_identifier_value",
                    "an object with customer_source_id and external_id is required",
                )
            identifier: Any = {
                "customer_source_id": str(customer_identifier_value["customer_source_id"]),
                "external_id": str(customer_identifier_value["external_id"]),
            }
        else:
            if not isinstance(customer_identifier_value, (str, int)):
                raise InvalidRecordError(
                    "customer_identifier_value", f"a string is required for {customer_identifier_type}"
                )
            identifier = str(customer_identifier_value)
        event["customer_identifier_type"] = customer_identifier_type
        event["customer_identifier_value"] = identifier
    if secondary_external_id not in (None, ""):
        event["secondary_external_id"] = str(secondary_external_id)
    if data is not None:
        if isinstance(data, (list, tuple)):
            if not all(isinstance(x, str) for x in data):
                raise InvalidRecordError("data", "an array of strings is required")
            event["data"] = list(data)
        elif isinstance(data, (str, Mapping)):
            event["data"] = (
                data
                if isinstance(data, str)
                else json_safe(data, "data", datetime_text=to_local, unsupported=_NOT_JSON)
            )
        else:
            raise InvalidRecordError("data", "a string, an array of strings or an object is required")
    if created_at is not None and created_at != "":
        try:
            event["created_at"] = to_local(created_at)
        except (ValueError, TypeError):
            raise InvalidRecordError("created_at", "expected a datetime") from None
    body: dict[str, Any] = {"event": event}
    if validate:
        checked = check_property_records(
            str(event_type_id), property_records or {}, properties_of=properties_of, to_local=to_local
        )
        if checked:
            body["property_records"] = checked
    elif property_records:
        if isinstance(property_records, Mapping):
            raw = [{"property_id": k, "property_value": v} for k, v in property_records.items()]
        else:
            raw = [dict(r) for r in property_records]
        if len(raw) > MAX_PROPERTY_RECORDS:
            raise InvalidRecordError("property_records", f"at most {MAX_PROPERTY_RECORDS} property records")
        body["property_records"] = raw
    return body
