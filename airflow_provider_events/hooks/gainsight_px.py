"""Gainsight PX hook: custom events through the Aptrinsic REST API.

The typed vocabulary of the vendor lives here too: :class:`UserType`, :class:`CustomEvent`, the documented
limits, and :func:`build_custom_event`, the validation shared by the hook and the delivery adapter.
"""

from __future__ import annotations

import calendar
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar
from urllib.parse import quote

from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError
from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.utils.values import json_safe

#: Documented data-centre hosts.
REGION_BASE_URLS = {
    "us": "https://api.aptrinsic.com/v1",
    "eu": "https://api-eu.aptrinsic.com/v1",
    "us2": "https://api-us2.aptrinsic.com/v1",
}

API_KEY_HEADER = "X-APTRINSIC-API-KEY"
#: documented custom-event limits (support article, newer text).
MAX_EVENT_NAME_LENGTH = 2000
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_NAME_LENGTH = 1024
#: the older text also limits a property value to 1024 characters; enforced only when asked.
LEGACY_MAX_ATTRIBUTE_VALUE_LENGTH = 1024
#: documented maximum page size and historical window of ``GET /events/custom``.
MAX_PAGE_SIZE = 1000
DAY_MS = 86_400_000
MAX_WINDOW_MS = 190 * DAY_MS
#: an epoch-millisecond ``date`` below this (1973-03-03) is almost surely seconds.
MIN_EPOCH_MS = 10**11
_INT64_MAX = 2**63 - 1
#: namespace of the deterministic ``eventId`` derived from an idempotency key.
EVENT_ID_NAMESPACE = uuid.UUID("5b0c7a5e-6b0e-4c8e-9f8e-3a1f0d6c2b47")

_OPTIONAL_STRINGS = ("eventId", "eventType", "sessionId", "accountId", "url", "referrer", "remoteHost")
_KNOWN_FIELDS = frozenset(
    {
        "identifyId",
        "propertyKey",
        "eventName",
        "userType",
        "date",
        "attributes",
        "globalContext",
        *_OPTIONAL_STRINGS,
    }
)


class UserType(str, Enum):
    """The ``userType`` of a custom event (and ``type`` of a user)."""

    LEAD = "LEAD"
    USER = "USER"
    VISITOR = "VISITOR"
    EMPTY_USER_TYPE = "EMPTY_USER_TYPE"


@dataclass
class CustomEvent:
    """One Gainsight PX custom event, in Python terms; :meth:`to_record` gives the API's field names.

    :param identify_id: the user's id from the identify call (``identifyId``).
    :param event_name: the custom event name (``eventName``, at most 2000 characters).
    :param user_type: ``userType``.
    :param date: when it happened: an aware or naive (taken as UTC) datetime, a date (midnight UTC), or
        epoch milliseconds; ``None`` lets the vendor use the receive time.
    :param attributes: event properties (at most 50; names at most 1024 characters).
    :param property_key: the product tag key (``AP-XXXXXXXXXX-2``); defaults to the connection's.
    :param account_id: ``accountId``.
    :param event_id: ``eventId``; by default derived from the idempotency key, when one is given.
    """

    identify_id: str
    event_name: str
    user_type: UserType | str = UserType.USER
    date: datetime | date | int | None = None
    attributes: Mapping[str, Any] | None = None
    property_key: str | None = None
    account_id: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    session_id: str | None = None
    global_context: Mapping[str, Any] | None = None
    url: str | None = None
    referrer: str | None = None
    remote_host: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """The event with the API's field names (unset fields left out)."""
        record: dict[str, Any] = {
            "identifyId": self.identify_id,
            "eventName": self.event_name,
            "userType": self.user_type,
            "date": self.date,
            "attributes": self.attributes,
            "propertyKey": self.property_key,
            "accountId": self.account_id,
            "eventId": self.event_id,
            "eventType": self.event_type,
            "sessionId": self.session_id,
            "globalContext": self.global_context,
            "url": self.url,
            "referrer": self.referrer,
            "remoteHost": self.remote_host,
            **self.extra,
        }
        return {k: v for k, v in record.items() if v is not None}


def event_id_for_key(key: str) -> str:
    """The deterministic ``eventId`` of an idempotency key (a UUID 5), identical on every retry."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, key))


def to_epoch_ms(value: Any, field_name: str = "date") -> int:
    """Epoch milliseconds from a datetime, a date, an ISO-8601 string or an int already in milliseconds.

    Naive datetimes (and ISO strings without an offset) are taken as UTC. A date is its midnight UTC.
    Integers (and digit strings) must already be milliseconds: values below ``10**11`` look like seconds
    and are refused.

    :raises InvalidRecordError: for anything else.
    """
    if isinstance(value, bool):
        raise InvalidRecordError(field_name, "must be a datetime or epoch milliseconds, not a boolean")
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            value = int(text)
        else:
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise InvalidRecordError(
                    field_name, "is not an ISO-8601 datetime or epoch milliseconds"
                ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=timezone.utc)
        # timegm, not datetime arithmetic: Airflow's context dates are pendulum datetimes, whose
        # differences are pendulum durations that cannot be floor-divided by a timedelta
        moment: datetime = value
        return calendar.timegm(moment.utctimetuple()) * 1000 + moment.microsecond // 1000
    if isinstance(value, date):
        return to_epoch_ms(datetime.combine(value, time(0), tzinfo=timezone.utc), field_name)
    if isinstance(value, (float, Decimal)):
        if not math.isfinite(value) or value != int(value):
            raise InvalidRecordError(field_name, "epoch milliseconds must be a whole number")
        value = int(value)
    if isinstance(value, int):
        if abs(value) < MIN_EPOCH_MS:
            raise InvalidRecordError(
                field_name,
                f"{value} looks like epoch seconds; Gainsight PX takes epoch milliseconds (multiply by 1000)",
            )
        if abs(value) > _INT64_MAX:
            raise InvalidRecordError(field_name, "is out of the int64 range")
        return value
    raise InvalidRecordError(
        field_name, f"must be a datetime or epoch milliseconds, not {type(value).__name__}"
    )


def _required_string(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRecordError(name, "is required")
    return value


def build_custom_event(
    event: CustomEvent | Mapping[str, Any],
    *,
    property_key: str | None = None,
    user_type: UserType | str | None = None,
    event_name: str | None = None,
    event_id: str | None = None,
    max_attribute_value_length: int | None = None,
) -> dict[str, Any]:
    """Validate an event and return the ``CustomEvent`` JSON body.

    :param event: a :class:`CustomEvent`, or a mapping with the API's field names.
    :param property_key: ``propertyKey`` when the event has none.
    :param user_type: ``userType`` when the event has none.
    :param event_name: ``eventName`` when the event has none.
    :param event_id: ``eventId`` when the event has none (the id derived from the idempotency key).
    :param max_attribute_value_length: refuse string attribute values longer than this (the older
        documented limit is 1024); ``None``: not checked.
    :raises InvalidRecordError: naming the first field that breaks a rule.
    """
    record = dict(event.to_record() if isinstance(event, CustomEvent) else event)
    for name, default in (
        ("propertyKey", property_key),
        ("userType", user_type),
        ("eventName", event_name),
        ("eventId", event_id),
    ):
        if record.get(name) in (None, "") and default not in (None, ""):
            record[name] = default
    unknown = set(record) - _KNOWN_FIELDS
    if unknown:
        raise InvalidRecordError(
            sorted(unknown)[0], "is not a CustomEvent field (put event properties under 'attributes')"
        )
    payload: dict[str, Any] = {
        "identifyId": _required_string(record, "identifyId"),
        "propertyKey": _required_string(record, "propertyKey"),
        "eventName": _required_string(record, "eventName"),
    }
    if len(payload["eventName"]) > MAX_EVENT_NAME_LENGTH:
        raise InvalidRecordError("eventName", f"is longer than {MAX_EVENT_NAME_LENGTH} characters")
    raw_type = record.get("userType")
    raw_type = raw_type.value if isinstance(raw_type, Enum) else raw_type
    if not isinstance(raw_type, str) or raw_type.strip().upper() not in UserType.__members__:
        raise InvalidRecordError("userType", f"must be one of {', '.join(UserType.__members__)}")
    payload["userType"] = raw_type.strip().upper()
    if record.get("date") not in (None, ""):
        payload["date"] = to_epoch_ms(record["date"], "date")
    for name in _OPTIONAL_STRINGS:
        value = record.get(name)
        if value in (None, ""):
            continue
        if isinstance(value, (int, Decimal, uuid.UUID)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise InvalidRecordError(name, "must be a string")
        payload[name] = value
    context = record.get("globalContext")
    if context not in (None, ""):
        if not isinstance(context, Mapping):
            raise InvalidRecordError("globalContext", "must be an object")
        payload["globalContext"] = json_safe(context, "globalContext")
    attributes = record.get("attributes")
    if attributes not in (None, ""):
        if not isinstance(attributes, Mapping):
            raise InvalidRecordError("attributes", "must be an object of event properties")
        if len(attributes) > MAX_ATTRIBUTES:
            raise InvalidRecordError(
                "attributes", f"has {len(attributes)} properties; at most {MAX_ATTRIBUTES}"
            )
        clean: dict[str, Any] = {}
        for key, value in attributes.items():
            name = str(key)
            if not name:
                raise InvalidRecordError("attributes", "has an empty property name")
            if len(name) > MAX_ATTRIBUTE_NAME_LENGTH:
                raise InvalidRecordError(
                    "attributes", f"a property name is longer than {MAX_ATTRIBUTE_NAME_LENGTH} characters"
                )
            safe = json_safe(value, f"attributes.{name}")
            if (
                max_attribute_value_length is not None
                and isinstance(safe, str)
                and len(safe) > max_attribute_value_length
            ):
                raise InvalidRecordError(
                    f"attributes.{name}", f"is longer than {max_attribute_value_length} characters"
                )
            clean[name] = safe
        payload["attributes"] = clean
    return payload


def _filter_value(name: str, value: str) -> str:
    if ";" in value:
        raise ConfigurationError(f"{name} filter values cannot contain ';' (the filter term separator)")
    return value


class GainsightPXHook(BaseEventsHook):
    """Talks to the Gainsight PX REST API with an ``X-APTRINSIC-API-KEY`` header.

    Connection: ``password`` = REST API key (not the product tag key), extra ``region`` (us / eu / us2, any
    case) or ``host`` as a base URL, extra ``property_key`` = default product tag key of events, optional
    extra ``max_requests_per_second`` (default 150, below the documented ~200).

    :param conn_id: the ``gainsight_px`` connection id.
    """

    default_conn_name: ClassVar[str] = "gainsight_px_default"
    conn_type: ClassVar[str] = "gainsight_px"
    hook_name: ClassVar[str] = "Gainsight PX"
    default_base_url: ClassVar[str] = REGION_BASE_URLS["us"]
    region_base_urls: ClassVar[Mapping[str, str]] = REGION_BASE_URLS
    default_path: ClassVar[str] = "/v1"
    #: the documented limit is "around 200 requests per second"; pace safely below it.
    default_requests_per_second: ClassVar[float | None] = 150.0
    #: the longest ``dateRangeStart``..``dateRangeEnd`` span one read asks for (under the 190-day maximum).
    max_window_ms: ClassVar[int] = MAX_WINDOW_MS - 1

    def auth_headers(self) -> dict[str, str]:
        # the key is masked once, when the connection is first read (BaseEventsHook.connection)
        key = self.connection.password
        if not key:
            raise ConfigurationError(
                f"connection {self.conn_id!r}: the REST API key (password field) is empty"
            )
        return {API_KEY_HEADER: key}

    @property
    def property_key(self) -> str | None:
        """The connection's default product tag key (extra ``property_key``)."""
        value = self.extra("property_key")
        return str(value) if value is not None else None

    # ------------------------------------------------------------------ custom events
    def post_custom_event(self, payload: Mapping[str, Any], *, retry_ambiguous: bool = False) -> Any:
        """POST one already-validated ``CustomEvent`` body (see :func:`build_custom_event`).

        :param payload: the JSON body.
        :param retry_ambiguous: also retry failures after which the event may have been stored (500, 502,
            read timeouts, resets); safe to combine with an ``eventId`` only if duplicates are tolerable.
        :returns: the decoded 201 body (the spec's ``ResponseEntity``; ``None`` when the server sends none).
        """
        return self.request_json("POST", "events/custom", json_body=payload, idempotent=retry_ambiguous)

    def send_custom_event(
        self,
        event: CustomEvent | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        retry_ambiguous: bool = False,
        max_attribute_value_length: int | None = None,
    ) -> dict[str, Any]:
        """Validate and send one custom event.

        :param event: a :class:`CustomEvent` or a mapping with the API's field names.
        :param idempotency_key: when given and the event has no ``eventId``, its deterministic id
            (:func:`event_id_for_key`) is sent, so every retry of this event carries the same ``eventId``.
        :param retry_ambiguous: see :meth:`post_custom_event`.
        :param max_attribute_value_length: see :func:`build_custom_event`.
        :returns: ``{"eventId": ...}`` (``None`` when no id was set) and the vendor's ``statusCode``.
        :raises InvalidRecordError: before anything is sent, when the event breaks a rule.
        """
        payload = build_custom_event(
            event,
            property_key=self.property_key,
            event_id=event_id_for_key(idempotency_key) if idempotency_key else None,
            max_attribute_value_length=max_attribute_value_length,
        )
        body = self.post_custom_event(payload, retry_ambiguous=retry_ambiguous)
        status = body.get("statusCode") if isinstance(body, Mapping) else None
        return {"eventId": payload.get("eventId"), "statusCode": status}

    def iter_custom_events(
        self,
        *,
        start: datetime | date | int,
        end: datetime | date | int | None = None,
        identify_id: str | None = None,
        event_name: str | None = None,
        filters: Sequence[str] | None = None,
        sort: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Yield the custom events between ``start`` and ``end`` (inclusive), one page in memory at a time.

        Ranges longer than the documented 190-day maximum are split into consecutive windows. Each window
        is paged with ``scrollId`` until a page comes back shorter than ``page_size`` (the vendor's
        ``scrollId`` does not reliably become null).

        :param start: range start (datetime, naive = UTC, or epoch ms).
        :param end: range end; default now.
        :param identify_id: only this user's events (``identifyId==``; filters are case-insensitive).
        :param event_name: only events of this name (``eventName==``).
        :param filters: further filter parameters (each ``;``-ANDed terms; separate ones are ORed), combined
            with the two above.
        :param sort: e.g. ``-date`` or ``date;accountId``.
        :param page_size: 1..1000.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigurationError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        start_ms = to_epoch_ms(start, "start")
        end_ms = to_epoch_ms(end if end is not None else datetime.now(timezone.utc), "end")
        if end_ms < start_ms:
            raise ConfigurationError("end is before start")
        base_terms = []
        if identify_id is not None:
            base_terms.append(f"identifyId=={_filter_value('identifyId', identify_id)}")
        if event_name is not None:
            base_terms.append(f"eventName=={_filter_value('eventName', event_name)}")
        prefix = ";".join(base_terms)
        if filters:
            filter_params = [";".join(t for t in (prefix, f) if t) for f in filters]
        else:
            filter_params = [prefix] if prefix else []
        for window_start, window_end in split_windows(start_ms, end_ms, self.max_window_ms):
            params: list[tuple[str, Any]] = [("filter", f) for f in filter_params]
            params += [
                ("dateRangeStart", str(window_start)),
                ("dateRangeEnd", str(window_end)),
                ("pageSize", page_size),
            ]
            if sort:
                params.append(("sort", sort))
            yield from self._scroll(params, page_size)

    def _scroll(self, params: list[tuple[str, Any]], page_size: int) -> Iterator[dict[str, Any]]:
        scroll_id: str | None = None
        while True:
            page_params = params + ([("scrollId", scroll_id)] if scroll_id else [])
            body = self.request_json("GET", "events/custom", params=page_params) or {}
            events = body.get("customEvents") or []
            yield from events
            scroll_id = body.get("scrollId")
            if len(events) < page_size or not scroll_id:
                return

    def count_custom_events(self, **kwargs: Any) -> int:
        """How many events :meth:`iter_custom_events` yields for the same arguments."""
        return sum(1 for _ in self.iter_custom_events(**kwargs))

    # ------------------------------------------------------------------ users
    def get_user(self, identify_id: str) -> dict[str, Any] | None:
        """The user with this id (case-sensitive), or ``None`` when Gainsight PX answers 404."""
        if not identify_id:
            raise ConfigurationError("identify_id is required")
        response = self.request("GET", f"users/{quote(identify_id, safe='')}", ok_statuses=(404,))
        if response.status_code == 404:
            return None
        user: dict[str, Any] = response.json()
        return user

    def check_connection(self) -> str:
        """One cheap authenticated read: the first user of ``GET /users?pageSize=1``."""
        body = self.request_json("GET", "users", params={"pageSize": 1}) or {}
        return f"Connected to Gainsight PX at {self.base_url} ({body.get('totalHits', 'unknown')} users)"


def split_windows(start_ms: int, end_ms: int, max_span_ms: int) -> Iterable[tuple[int, int]]:
    """Consecutive inclusive ``(start, end)`` windows covering ``start_ms..end_ms``, each spanning at most
    ``max_span_ms`` (no millisecond in two windows)."""
    if max_span_ms < 1:
        raise ValueError("max_span_ms must be positive")
    current = start_ms
    while current <= end_ms:
        window_end = min(end_ms, current + max_span_ms)
        yield current, window_end
        current = window_end + 1
