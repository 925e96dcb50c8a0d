"""CRM CareCloud hook: events with property records on the enterprise interface."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_events.exceptions import (
    ConfigurationError,
    VendorApiError,
    VendorBadRequestError,
)
from airflow_provider_events.hooks.base import REFRESH_MARGIN_EXTRAS
from airflow_provider_events.hooks.carecloud_catalog import CareCloudCatalog, checked_sort_direction
from airflow_provider_events.hooks.carecloud_events import (
    IDENTIFIER_TYPES,
    MAX_PROPERTY_RECORDS,
    RELATION_ALREADY_EXISTS,
    CreateEventResult,
    CreateEventStatus,
    EventFields,
    InvalidParam,
    build_event_body,
    check_property_records,
    invalid_params,
    is_already_delivered,
)
from airflow_provider_events.hooks.security import mask
from airflow_provider_events.hooks.token_auth import TokenAuthHook
from airflow_provider_events.hooks.token_keeper import TokenKeeper
from airflow_provider_events.hooks.token_store import (
    CachedToken,
    FileTokenStore,
    VariableTokenStore,
    account_key,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

DEFAULT_PATH = "/webservice/rest-api/enterprise-interface/v1.0"
#: the API's datetime format, in the project's local time zone, without offset.
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
#: fallback token lifetime when a login answer has no parsable ``valid_to`` (the vendor default is 7 h).
FALLBACK_TOKEN_SECONDS = 3600.0
#: the documented default token validity; with no ``timezone`` extra a token is never trusted longer.
DOCUMENTED_TOKEN_SECONDS = 7 * 3600.0
#: connections already warned about a missing ``timezone`` extra (one warning per process and connection).
_WARNED_NO_TIMEZONE: set[str] = set()
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


class CareCloudHook(TokenAuthHook, CareCloudCatalog):
    """Talks to a CareCloud project's enterprise interface with a bearer token from the login action.

    Connection: ``host`` = the project domain (the default path is appended) or a full base URL,
    ``login`` / ``password`` = the webservice user, extras ``external_application_id``, ``timezone``
    (IANA name of the project's zone; when absent UTC is assumed, a warning is logged once and a token is
    trusted at most :data:`DOCUMENTED_TOKEN_SECONDS` after login), ``accept_language``, ``auth_scheme``
    (``bearer`` default, or the deprecated ``basic``), ``refresh_margin`` (older name
    ``token_refresh_margin``; seconds before ``valid_to`` a cached token is renewed, default 60),
    ``token_store`` (``auto`` default, ``variable`` or ``local``, as for Act-On).

    :param conn_id: the ``carecloud`` connection id.
    :param token_store: where bearer tokens are shared (default: from the ``token_store`` extra).
    :param kwargs: passed to :class:`~airflow_provider_events.hooks.base.BaseEventsHook`.
    """

    default_conn_name: ClassVar[str] = "carecloud_default"
    conn_type: ClassVar[str] = "carecloud"
    hook_name: ClassVar[str] = "CRM CareCloud"
    default_path: ClassVar[str] = DEFAULT_PATH

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        token_store: FileTokenStore | VariableTokenStore | None = None,
        **kwargs: Any,
    ):
        super().__init__(conn_id, token_store=token_store, **kwargs)

    # ------------------------------------------------------------------ settings
    @cached_property
    def timezone_known(self) -> bool:
        """Whether the connection names the project's zone (extra ``timezone``)."""
        return bool(self.extra("timezone"))

    @cached_property
    def project_timezone(self) -> ZoneInfo:
        """The project's local zone (extra ``timezone``); the API speaks local time without offset.

        Without the extra, UTC is assumed and a warning is logged once per connection: event times and
        filters shift by the project's offset, and token expiry is bounded by the login time instead.
        """
        if not self.timezone_known:
            if self.conn_id not in _WARNED_NO_TIMEZONE:
                _WARNED_NO_TIMEZONE.add(self.conn_id)
                self.log.warning(
                    "CareCloud connection %s has no timezone extra: assuming UTC. Set it to the project's "
                    "zone (e.g. Europe/Prague), or times shift by the project's UTC offset.",
                    self.conn_id,
                )
            return ZoneInfo("UTC")
        name = str(self.extra("timezone"))
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

    def new_token_keeper(self) -> TokenKeeper:
        """The "peek, lock, renew" flow of this hook's account (CareCloud has no refresh grant)."""
        return TokenKeeper(
            self.token_store, self.token_key, margin=self._refresh_margin, login=self._login, logger=self.log
        )

    @property
    def login_count(self) -> int:
        """Logins this hook instance performed (the rest came from the shared store)."""
        return self.token_keeper.stats["password_grants"]

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
        return f"Bearer {self.bearer_token()}"

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
        return self.token_keeper.access_token()

    def on_unauthorized(self) -> bool:
        """401: never send the refused token again (a fresh one from another task is kept) and retry."""
        if self.auth_scheme == "basic":
            return True  # the hash may have crossed an hour boundary: recompute once
        self.token_keeper.reject()  # what THIS thread's request carried, not the hook's latest
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
        expires_at = self.token_expiry(data.get("valid_to"), logged_in_at=time.time())
        self.log.info(
            "Logged in to CareCloud as the webservice user; token valid for %.0f s", expires_at - time.time()
        )
        return CachedToken(
            access_token=token, expires_at=expires_at, extra={"valid_to": data.get("valid_to")}
        )

    def token_expiry(self, valid_to: Any, *, logged_in_at: float) -> float:
        """Epoch seconds until which a token issued at ``logged_in_at`` with ``valid_to`` is trusted.

        ``valid_to`` is project-local time. With the ``timezone`` extra it is exact. Without it, the zone
        is unknown, so the token is trusted until the earlier of ``valid_to`` read as UTC and the login
        time plus the documented 7 hours (a UTC+1 project would otherwise keep a dead token for an hour);
        a ``valid_to`` that reads as already past (a project west of UTC) is ignored for the bound.
        """
        try:
            expires_at = self.from_local(str(valid_to)) if valid_to is not None else None
        except ValueError:
            expires_at = None
        if self.timezone_known and expires_at is not None:
            return expires_at
        bound = logged_in_at + (DOCUMENTED_TOKEN_SECONDS if valid_to is not None else FALLBACK_TOKEN_SECONDS)
        if expires_at is not None and expires_at > logged_in_at + 2 * self._refresh_margin:
            return min(expires_at, bound)
        return bound

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

    # ------------------------------------------------------------------ property records, event bodies
    def validate_property_records(
        self, event_type_id: str, records: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Check property records against the event type's properties and shape them for the API.

        See :func:`~airflow_provider_events.hooks.carecloud_events.check_property_records`.

        :raises InvalidRecordError: naming ``property_records.<property_id>``.
        """
        return check_property_records(
            event_type_id, records, properties_of=self.event_type_properties, to_local=self.to_local
        )

    def build_event_body(self, event_type_id: str, **fields: Unpack[EventFields]) -> dict[str, Any]:
        """The validated ``POST /events`` body (see :meth:`create_event` for the parameters).

        See :func:`~airflow_provider_events.hooks.carecloud_events.build_event_body`.

        :raises InvalidRecordError: naming the field at fault.
        """
        return build_event_body(
            event_type_id, properties_of=self.event_type_properties, to_local=self.to_local, **fields
        )

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
        self, event_type_id: str, *, lookup_existing: bool = False, **fields: Unpack[EventFields]
    ) -> CreateEventResult:
        """Create one event (``POST /events``), exactly-once across retries thanks to the duplicate rule.

        :param event_type_id: the event type's id.
        :param lookup_existing: when the event was already delivered, find its id with ``GET /events``.
        :param fields: the event: ``external_id`` (required), ``customer_id`` or ``customer_identifier_type``
            and ``customer_identifier_value``, ``secondary_external_id``, ``data``, ``created_at``,
            ``property_records`` and ``validate``, as documented at
            :func:`~airflow_provider_events.hooks.carecloud_events.build_event_body`.
        :returns: :class:`CreateEventResult` (created with the new id, or already delivered).
        :raises InvalidRecordError: the event breaks a rule checked locally.
        :raises VendorBadRequestError: the API refused it; :func:`invalid_params` lists why.
        """
        body = self.build_event_body(event_type_id, **fields)
        result = self.post_event(body)
        if result.created or not lookup_existing:
            return result
        filters: dict[str, Any] = {"event_type_id": event_type_id, "external_id": str(fields["external_id"])}
        if fields.get("customer_id"):
            filters["customer_id"] = fields.get("customer_id")
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

        The filters, all keyword arguments and all optional:

        - ``event_type_id``: one event type.
        - ``event_type_ids``: several event types (OR).
        - ``customer_id``: one customer.
        - ``external_id``: the events' external id (not necessarily unique).
        - ``time_from``: lower bound of the time window (datetime, or string; aware values are converted
          to the project's zone).
        - ``time_to``: upper bound of the time window.
        - ``include_property_records``: fill each event's ``property_records``.
        - ``sort_field``: a first-level field of the event (e.g. ``created_at``); give one for a stable walk
          while events are being added.
        - ``sort_direction``: ``ASC`` or ``DESC``.
        - ``page_size``: ``count`` per request (default 100; the API publishes no maximum).
        - ``offset``: events to skip first.

        :param filters: the filters above; an unknown name raises ``TypeError``.
        :return: an iterator of the events, as the API returns them.
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
            params["sort_direction"] = checked_sort_direction(filters["sort_direction"])
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


__all__ = [
    "IDENTIFIER_TYPES",
    "MAX_PROPERTY_RECORDS",
    "RELATION_ALREADY_EXISTS",
    "CareCloudHook",
    "CreateEventResult",
    "CreateEventStatus",
    "InvalidParam",
    "invalid_params",
    "is_already_delivered",
]
