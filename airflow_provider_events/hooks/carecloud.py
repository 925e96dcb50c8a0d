"""CRM CareCloud hook: events with property records on the enterprise interface."""

from __future__ import annotations

import base64
import hashlib
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from functools import cached_property
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_events.exceptions import (
    ConfigurationError,
    InvalidRecordError,
    VendorApiError,
    VendorBadRequestError,
)
from airflow_provider_events.hooks.base import REFRESH_MARGIN_EXTRAS, BaseEventsHook
from airflow_provider_events.hooks.pagination import paginate_offset
from airflow_provider_events.hooks.security import mask
from airflow_provider_events.hooks.token_store import CachedToken, FileTokenStore, account_key

DEFAULT_PATH = "/webservice/rest-api/enterprise-interface/v1.0"
#: the API's datetime format, in the project's local time zone, without offset.
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_PROPERTY_RECORDS = 1000
IDENTIFIER_TYPES = ("email", "phone", "external_id")
#: the ``reason`` of a 400 that says the (event type, customer, external ids) combination already exists.
RELATION_ALREADY_EXISTS = "relation_already_exists"
#: fallback token lifetime when a login answer has no parsable ``valid_to`` (the vendor default is 7 h).
FALLBACK_TOKEN_SECONDS = 3600.0
LIST_FILTERS = frozenset(
    {
        "event_type_id",
        "event_type_ids",
        "customer_id",
        "external_id",
        "time_from",
        "time_to",
        "include_property_records",
        "sort_field",
        "sort_direction",
        "page_size",
        "offset",
    }
)
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


class CreateEventStatus(str, Enum):
    """What ``POST /events`` did with one event."""

    CREATED = "created"
    #: the API answered ``relation_already_exists``: the same event was delivered before.
    ALREADY_DELIVERED = "already_delivered"


@dataclass(frozen=True)
class CreateEventResult:
    """Result of :meth:`CareCloudHook.create_event`.

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


def _redact_values(body: Any) -> Any:
    """Drop the echoed ``value`` of each invalid parameter: it can be a customer's e-mail or phone."""
    try:
        items = body["error"]["error_data"]["invalid_params"]
    except (KeyError, TypeError):
        return body
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and "value" in item:
                item["value"] = "***" if item["value"] not in (None, "") else item["value"]
    return body


class CareCloudHook(BaseEventsHook):
    """Talks to a CareCloud project's enterprise interface with a bearer token from the login action.

    Connection: ``host`` = the project domain (the default path is appended) or a full base URL,
    ``login`` / ``password`` = the webservice user, extras ``external_application_id``, ``timezone``
    (IANA name of the project's zone, default ``UTC``), ``accept_language``, ``auth_scheme``
    (``bearer`` default, or the deprecated ``basic``), ``refresh_margin`` (older name
    ``token_refresh_margin``; seconds before ``valid_to`` a cached token is renewed, default 60).

    :param conn_id: the ``carecloud`` connection id.
    :param token_store: where bearer tokens are shared between tasks (default: a :class:`FileTokenStore`).
    :param kwargs: passed to :class:`~airflow_provider_events.hooks.base.BaseEventsHook`.
    """

    default_conn_name: ClassVar[str] = "carecloud_default"
    conn_type: ClassVar[str] = "carecloud"
    hook_name: ClassVar[str] = "CRM CareCloud"
    default_path: ClassVar[str] = DEFAULT_PATH

    def __init__(
        self, conn_id: str | None = None, *, token_store: FileTokenStore | None = None, **kwargs: Any
    ):
        super().__init__(conn_id, **kwargs)
        self._token_store = token_store
        self._token: CachedToken | None = None
        self._token_lock = threading.Lock()
        #: the token each thread last sent, so a late 401 for an old token cannot discard a fresh one
        self._sent = threading.local()
        self._catalog_lock = threading.Lock()
        self._properties_cache: dict[str, dict[str, dict[str, Any]]] = {}
        #: logins this hook instance performed (the rest came from the shared store).
        self.login_count = 0

    # ------------------------------------------------------------------ settings
    @cached_property
    def project_timezone(self) -> ZoneInfo:
        """The project's local zone (extra ``timezone``); the API speaks local time without offset."""
        name = str(self.extra("timezone", "UTC"))
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"connection {self.conn_id!r}: unknown timezone {name!r}") from None

    @cached_property
    def auth_scheme(self) -> str:
        scheme = str(self.extra("auth_scheme", "bearer")).lower()
        if scheme not in ("bearer", "basic"):
            raise ConfigurationError(f"connection {self.conn_id!r}: auth_scheme must be bearer or basic")
        return scheme

    @cached_property
    def credentials(self) -> tuple[str, str, str]:
        """``(login, password, external_application_id)``; the secrets are registered with the masker."""
        conn = self.connection
        login, password = conn.login or "", conn.password or ""
        app_id = str(self.extra("external_application_id", ""))
        if not login or not password:
            raise ConfigurationError(
                f"connection {self.conn_id!r} needs login and password (the webservice user)"
            )
        if self.auth_scheme == "bearer" and not app_id:
            raise ConfigurationError(f"connection {self.conn_id!r} needs the external_application_id extra")
        mask(password)
        mask(app_id)
        return login, password, app_id

    @cached_property
    def token_store(self) -> FileTokenStore:
        return self._token_store or FileTokenStore()

    @cached_property
    def token_key(self) -> str:
        return account_key("carecloud", self.base_url, self.credentials[0])

    # ------------------------------------------------------------------ time
    def to_local(self, value: datetime | date | str) -> str:
        """A datetime in the API's form: project-local ``YYYY-MM-DD HH:MM:SS``.

        An aware datetime (or an ISO string with an offset, e.g. a rendered ``data_interval_start``) is
        converted to the project's zone; a naive one is taken as already project-local; a date becomes
        midnight.
        """
        if isinstance(value, str):
            text = value.strip()
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"not a datetime: {text[:40]!r}") from None
            value = parsed
        if not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        if value.tzinfo is not None:
            value = value.astimezone(self.project_timezone).replace(tzinfo=None)
        return value.strftime(LOCAL_FORMAT)

    def from_local(self, text: str) -> float:
        """Epoch seconds of a project-local ``YYYY-MM-DD HH:MM:SS``."""
        parsed = datetime.fromisoformat(text.strip().replace(" ", "T"))
        return parsed.replace(tzinfo=self.project_timezone).timestamp()

    # ------------------------------------------------------------------ authentication
    def auth_headers(self) -> dict[str, str]:
        headers = {"Authorization": self._authorization()}
        language = self.extra("accept_language")
        if language:
            headers["Accept-Language"] = str(language)
        return headers

    def _authorization(self) -> str:
        if self.auth_scheme == "basic":
            return self.basic_authorization()
        token = self.bearer_token()
        self._sent.token = token
        return f"Bearer {token}"

    def basic_authorization(self, *, now: datetime | None = None) -> str:
        """The deprecated Basic header: ``base64(login:sha256(md5(password) + UTC hour YYYYMMDDHH))``."""
        login, password, _ = self.credentials
        hour = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%d%H")
        md5 = hashlib.md5(password.encode()).hexdigest()  # noqa: S324 - the vendor's legacy scheme
        digest = hashlib.sha256((md5 + hour).encode()).hexdigest()
        value = base64.b64encode(f"{login}:{digest}".encode()).decode()
        mask(value)
        return f"Basic {value}"

    @cached_property
    def _refresh_margin(self) -> float:
        return self.number_extra(REFRESH_MARGIN_EXTRAS, 60.0)

    def bearer_token(self) -> str:
        """A valid bearer token: this hook's, else the shared store's, else a new login (one per account)."""
        with self._token_lock:
            margin = self._refresh_margin
            if self._token is not None and self._token.usable(margin):
                return self._token.access_token
            shared = self.token_store.peek(self.token_key)
            if shared is None or not shared.usable(margin):
                with self.token_store.transaction(self.token_key) as slot:
                    shared = slot.token
                    if shared is None or not shared.usable(margin):
                        shared = self._login()
                        slot.save(shared)
            mask(shared.access_token)
            self._token = shared
            return shared.access_token

    def on_unauthorized(self) -> bool:
        """401: forget the rejected token (unless another task already replaced it) and retry once."""
        if self.auth_scheme == "basic":
            return True  # the hash may have crossed an hour boundary: recompute once
        rejected = getattr(self._sent, "token", None)  # what THIS request carried, not the hook's latest
        with self._token_lock:
            if self._token is not None and self._token.access_token == rejected:
                self._token = None
            with self.token_store.transaction(self.token_key) as slot:
                if slot.token is not None and slot.token.access_token == rejected:
                    slot.clear()
        self.log.info("CareCloud rejected the bearer token; logging in again")
        return True

    def _login(self) -> CachedToken:
        login, password, app_id = self.credentials
        body = self.request_json(
            "POST",
            "users/actions/login",
            json_body={"user_external_application_id": app_id, "login": login, "password": password},
            authenticated=False,
            idempotent=True,
            headers=self._language_header(),
        )
        data = (body or {}).get("data") or {}
        token = data.get("bearer_token")
        if not isinstance(token, str) or not token:
            raise VendorApiError(self.conn_type, 200, "login answer has no bearer_token", method="POST")
        mask(token)
        expires_at: float
        try:
            expires_at = self.from_local(str(data["valid_to"]))
        except (KeyError, ValueError):
            expires_at = time.time() + FALLBACK_TOKEN_SECONDS
        self.login_count += 1
        self.log.info(
            "Logged in to CareCloud as the webservice user; token valid for %.0f s", expires_at - time.time()
        )
        return CachedToken(
            access_token=token, expires_at=expires_at, extra={"valid_to": data.get("valid_to")}
        )

    def _language_header(self) -> dict[str, str]:
        language = self.extra("accept_language")
        return {"Accept-Language": str(language)} if language else {}

    # ------------------------------------------------------------------ errors
    def error_body(self, response: Any) -> Any:
        return _redact_values(super().error_body(response))

    def parse_error_body(self, body: Any) -> str:
        """``title: detail`` of a ``BasicError`` plus each invalid parameter's name, reason and message."""
        error = body.get("error") if isinstance(body, Mapping) else None
        if not isinstance(error, Mapping):
            return super().parse_error_body(body)
        head = ": ".join(str(error[k]) for k in ("title", "detail") if error.get(k)) or str(
            error.get("exception") or "error"
        )
        params = invalid_params(body)
        if params:
            listed = "; ".join(f"{p.name} ({p.reason}): {p.message}" for p in params[:10])
            more = f"; and {len(params) - 10} more" if len(params) > 10 else ""
            return f"{head} [{listed}{more}]"
        data = error.get("error_data")
        if isinstance(data, Mapping) and data.get("resource_name"):
            return f"{head} [{data.get('resource_name')} {data.get('resource_id', '')}]".rstrip()
        return head

    # ------------------------------------------------------------------ catalogue
    def _paged(
        self, path: str, key: str, params: Mapping[str, Any], page_size: int, offset: int = 0
    ) -> Iterator[Any]:
        def fetch(start: int, count: int) -> tuple[list[Any], int | None]:
            query: list[tuple[str, Any]] = [("count", count), ("offset", start)]
            for name, value in params.items():
                if value is None:
                    continue
                if isinstance(value, (list, tuple, set, frozenset)):
                    query.extend((f"{name}[]", v) for v in value)
                else:
                    query.append((name, value))
            data = (self.request_json("GET", path, params=query) or {}).get("data") or {}
            total = data.get("total_items")
            return list(data.get(key) or []), int(total) if total is not None else None

        return paginate_offset(fetch, page_size=page_size, offset=offset)

    def list_event_types(
        self,
        *,
        name: str | None = None,
        text_id: str | None = None,
        event_group_text_ids: Sequence[str] | None = None,
        sort_field: str | None = None,
        sort_direction: str | None = None,
        page_size: int = 100,
    ) -> list[dict[str, Any]]:
        """Every event type matching the filters.

        :param name: substring of the name.
        :param text_id: exact text id.
        :param event_group_text_ids: text ids of event groups (OR).
        :param sort_field: a first-level field of the event type.
        :param sort_direction: ``ASC`` or ``DESC``.
        :param page_size: ``count`` per request.
        """
        params = {
            "name": name,
            "text_id": text_id,
            "event_group_text_id": list(event_group_text_ids) if event_group_text_ids else None,
            "sort_field": sort_field,
            "sort_direction": _direction(sort_direction),
        }
        return list(self._paged("event-types", "event_types", params, page_size))

    def get_event_type(self, event_type_id: str) -> dict[str, Any]:
        """One event type by id.

        :raises VendorNotFoundError: when it does not exist.
        """
        data: dict[str, Any] = self.request_json("GET", f"event-types/{event_type_id}")["data"]
        return data

    def find_event_type(self, name_or_text_id: str) -> dict[str, Any]:
        """The event type whose ``text_id``, else whose ``name`` (case-insensitive) equals the argument.

        :raises ConfigurationError: when none or several match.
        """
        by_text = self.list_event_types(text_id=name_or_text_id)
        matches = [t for t in by_text if t.get("text_id") == name_or_text_id]
        if not matches:
            wanted = name_or_text_id.casefold()
            matches = [
                t
                for t in self.list_event_types(name=name_or_text_id)
                if str(t.get("name")).casefold() == wanted
            ]
        if len(matches) != 1:
            problem = "no event type" if not matches else f"{len(matches)} event types"
            raise ConfigurationError(f"CareCloud: {problem} with text_id or name {name_or_text_id!r}")
        return matches[0]

    def list_event_properties(
        self,
        event_type_id: str | None = None,
        *,
        name: str | None = None,
        sort_field: str | None = None,
        sort_direction: str | None = None,
        page_size: int = 100,
    ) -> list[dict[str, Any]]:
        """The properties of one event type, or (without ``event_type_id``) the whole property catalogue.

        :param event_type_id: the event type whose properties to list.
        :param name: substring of the name (catalogue only).
        :param sort_field: a first-level field of the property.
        :param sort_direction: ``ASC`` or ``DESC``.
        :param page_size: ``count`` per request.
        """
        params: dict[str, Any] = {"sort_field": sort_field, "sort_direction": _direction(sort_direction)}
        if event_type_id:
            return list(
                self._paged(
                    f"event-types/{event_type_id}/event-properties", "event_properties", params, page_size
                )
            )
        params["name"] = name
        return list(self._paged("event-properties", "event_properties", params, page_size))

    def get_event_property(self, property_id: str) -> dict[str, Any]:
        """One event property by id."""
        data: dict[str, Any] = self.request_json("GET", f"event-properties/{property_id}")["data"]
        return data

    def event_type_properties(self, event_type_id: str) -> dict[str, dict[str, Any]]:
        """``property_id -> Property`` of an event type, fetched once per hook instance."""
        with self._catalog_lock:
            cached = self._properties_cache.get(event_type_id)
            if cached is None:
                cached = {
                    str(p["property_id"]): p
                    for p in self.list_event_properties(event_type_id, page_size=1000)
                }
                self._properties_cache[event_type_id] = cached
            return cached

    # ------------------------------------------------------------------ property records
    def validate_property_records(
        self, event_type_id: str, records: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Check property records against the event type's properties and shape them for the API.

        :param event_type_id: the event type.
        :param records: ``{property_id: value}`` or ``[{"property_id", "property_value"}]``.
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
        catalogue = self.event_type_properties(event_type_id)
        out = []
        seen = set()
        for property_id, value in pairs:
            field = f"property_records.{property_id}"
            prop = catalogue.get(str(property_id))
            if prop is None:
                raise InvalidRecordError(field, "not a property of the event type")
            seen.add(str(property_id))
            out.append({"property_id": str(property_id), "property_value": self._coerce(field, value, prop)})
        for property_id, prop in catalogue.items():
            if prop.get("is_required") and property_id not in seen:
                raise InvalidRecordError(f"property_records.{property_id}", "required by the event type")
        return out

    def _coerce(self, field: str, value: Any, prop: Mapping[str, Any]) -> Any:
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
            if isinstance(value, (int, str)) and str(value).strip().lower() in _TRUE + _FALSE:
                return str(value).strip().lower() in _TRUE
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
                    return self.to_local(value)
                except ValueError:
                    pass
            raise InvalidRecordError(field, "expected a timestamp YYYY-MM-DD HH:MM:SS")
        if data_type in ("enum", "multiselect"):
            return self._items(field, value, prop, single=data_type == "enum")
        return value  # a customised data type: passed as given

    @staticmethod
    def _items(field: str, value: Any, prop: Mapping[str, Any], *, single: bool) -> list[dict[str, Any]]:
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
                match = next(
                    (c for c in choices if str(c.get("name", "")).casefold() == key.casefold()), None
                )
            if match is None:
                raise InvalidRecordError(field, "not one of the property's items")
            picked.append({k: match.get(k) for k in ("id", "name", "resource_record_id", "state")})
        return picked

    # ------------------------------------------------------------------ events
    def _json_safe(self, value: Any, field: str) -> Any:
        """``value`` made JSON-safe: decimals to numbers, datetimes to project-local time, dates to ISO.

        :raises InvalidRecordError: naming the nested field, for a value JSON cannot carry (e.g. bytes).
        """
        if value is None or isinstance(value, (str, bool, int, float)):
            return value
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, datetime):
            return self.to_local(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Mapping):
            return {str(k): self._json_safe(v, f"{field}.{k}") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._json_safe(v, f"{field}[{i}]") for i, v in enumerate(value)]
        raise InvalidRecordError(field, f"a {type(value).__name__} value cannot be sent as JSON")

    def build_event_body(
        self,
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
    ) -> dict[str, Any]:
        """The validated ``POST /events`` body (see :meth:`create_event` for the parameters).

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
                event["data"] = data if isinstance(data, str) else self._json_safe(data, "data")
            else:
                raise InvalidRecordError("data", "a string, an array of strings or an object is required")
        if created_at not in (None, ""):
            try:
                event["created_at"] = self.to_local(created_at)  # type: ignore[arg-type]
            except (ValueError, TypeError):
                raise InvalidRecordError("created_at", "expected a datetime") from None
        body: dict[str, Any] = {"event": event}
        if validate:
            checked = self.validate_property_records(str(event_type_id), property_records or {})
            if checked:
                body["property_records"] = checked
        elif property_records:
            if isinstance(property_records, Mapping):
                raw = [{"property_id": k, "property_value": v} for k, v in property_records.items()]
            else:
                raw = [dict(r) for r in property_records]
            if len(raw) > MAX_PROPERTY_RECORDS:
                raise InvalidRecordError(
                    "property_records", f"at most {MAX_PROPERTY_RECORDS} property records"
                )
            body["property_records"] = raw
        return body

    def post_event(self, body: Mapping[str, Any]) -> CreateEventResult:
        """Send a body built by :meth:`build_event_body`.

        The request may be repeated after an ambiguous failure: a repeat of an event that did arrive is
        answered ``relation_already_exists``, reported as :attr:`CreateEventStatus.ALREADY_DELIVERED`.
        """
        try:
            answer = self.request_json("POST", "events", json_body=body, idempotent=True)
        except VendorBadRequestError as error:
            if is_already_delivered(error):
                return CreateEventResult(CreateEventStatus.ALREADY_DELIVERED)
            raise
        event_id = ((answer or {}).get("data") or {}).get("event_id")
        return CreateEventResult(CreateEventStatus.CREATED, str(event_id) if event_id else None)

    def create_event(
        self,
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
        lookup_existing: bool = False,
    ) -> CreateEventResult:
        """Create one event (``POST /events``), exactly-once across retries thanks to the duplicate rule.

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
        :param lookup_existing: when the event was already delivered, find its id with ``GET /events``.
        :returns: :class:`CreateEventResult` (created with the new id, or already delivered).
        :raises InvalidRecordError: the event breaks a rule checked locally.
        :raises VendorBadRequestError: the API refused it; :func:`invalid_params` lists why.
        """
        body = self.build_event_body(
            event_type_id,
            external_id=external_id,
            customer_id=customer_id,
            customer_identifier_type=customer_identifier_type,
            customer_identifier_value=customer_identifier_value,
            secondary_external_id=secondary_external_id,
            data=data,
            created_at=created_at,
            property_records=property_records,
            validate=validate,
        )
        result = self.post_event(body)
        if result.created or not lookup_existing:
            return result
        filters: dict[str, Any] = {"event_type_id": event_type_id, "external_id": str(external_id)}
        if customer_id:
            filters["customer_id"] = customer_id
        wanted_secondary = body["event"].get("secondary_external_id")
        matches = [
            e
            for e in self.iter_events(**filters)
            if (e.get("secondary_external_id") or None) == wanted_secondary
        ]
        if len(matches) == 1:  # without a customer id, several customers may share the external id
            return CreateEventResult(CreateEventStatus.ALREADY_DELIVERED, str(matches[0]["event_id"]))
        return result

    def iter_events(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every event matching the filters, page by page (``count``/``offset`` until ``total_items``).

        :param event_type_id: one event type.
        :param event_type_ids: several event types (OR).
        :param customer_id: one customer.
        :param external_id: the events' external id (not necessarily unique).
        :param time_from: lower bound of the time window (datetime, or string; aware values are converted
            to the project's zone).
        :param time_to: upper bound of the time window.
        :param include_property_records: fill each event's ``property_records``.
        :param sort_field: a first-level field of the event (e.g. ``created_at``); give one for a stable walk
            while events are being added.
        :param sort_direction: ``ASC`` or ``DESC``.
        :param page_size: ``count`` per request (default 100; the API publishes no maximum).
        :param offset: events to skip first.
        """
        unknown = set(filters) - LIST_FILTERS
        if unknown:
            raise TypeError(f"unknown event filters: {sorted(unknown)}; accepted: {sorted(LIST_FILTERS)}")
        page_size = int(filters.pop("page_size", None) or 100)
        offset = int(filters.pop("offset", None) or 0)
        params: dict[str, Any] = {}
        for name in ("event_type_id", "customer_id", "external_id", "sort_field"):
            if filters.get(name) not in (None, ""):
                params[name] = str(filters[name])
        if filters.get("event_type_ids"):
            ids = filters["event_type_ids"]
            params["event_type_ids"] = [ids] if isinstance(ids, str) else [str(i) for i in ids]
        for name in ("time_from", "time_to"):
            if filters.get(name) not in (None, ""):
                params[name] = self.to_local(filters[name])
        if filters.get("sort_direction"):
            params["sort_direction"] = _direction(filters["sort_direction"])
        if filters.get("include_property_records"):
            params["include_property_records"] = "true"
        yield from self._paged("events", "events", params, page_size, offset)

    def get_event(self, event_id: str) -> dict[str, Any]:
        """One event by id.

        :raises VendorNotFoundError: when it does not exist (``resource_name`` ``events``).
        """
        data: dict[str, Any] = self.request_json("GET", f"events/{event_id}")["data"]
        return data

    def get_event_property_records(self, event_id: str) -> list[dict[str, Any]]:
        """The property records of one event."""
        data = self.request_json("GET", f"events/{event_id}/property-records")["data"]
        return list(data.get("property_records") or [])

    def check_connection(self) -> str:
        """Log in (or reuse the shared token) and read one event type."""
        data = self.request_json("GET", "event-types", params={"count": 1})["data"]
        return f"Connected to CareCloud at {self.base_url}: {data.get('total_items', 0)} event types visible"


def _direction(value: Any) -> str | None:
    if value in (None, ""):
        return None
    direction = str(value).upper()
    if direction not in ("ASC", "DESC"):
        raise ValueError("sort_direction must be ASC or DESC")
    return direction


__all__ = [
    "CareCloudHook",
    "CreateEventResult",
    "CreateEventStatus",
    "InvalidParam",
    "invalid_params",
    "is_already_delivered",
]
