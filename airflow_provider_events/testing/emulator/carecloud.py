"""Emulator of the CRM CareCloud enterprise interface (events, event types, event properties, login).

Served below ``/carecloud/webservice/rest-api/enterprise-interface/v1.0``. Faithful to the vendor's OpenAPI
document (``crmcarecloud/api-spec``): every payload wrapped in ``{"data": ...}``, lists with
``total_items``, ``count``/``offset`` paging, ``sort_field``/``sort_direction``, project-local datetimes
without offset, and ``BasicError`` bodies (``invalid_params[]`` on 400, ``resource_name``/``resource_id`` on
404).

Authentication: ``POST /users/actions/login`` issues a bearer token valid for ``token_lifetime_seconds``
(default 7 h); every other route needs ``Authorization: Bearer <token>`` or, when ``basic_auth`` is on
(default), the deprecated ``Basic base64(user:sha256(md5(password) + UTC hour YYYYMMDDHH))`` (the current or
the previous hour is accepted).

Inferred behaviour (not stated by the vendor, kept simple and documented here): an unknown event type or
customer on ``POST /events`` is a 400 ``not_found`` on that parameter; property values are checked against
the property's ``data_type`` (strings ``"true"``/``"false"`` and numeric strings are accepted, as in the
vendor's own example); ``time_from``/``time_to`` filter on ``created_at``, both bounds inclusive; the
default list order is creation order.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from airflow_provider_events.testing.emulator.base import VendorEmulator

MAX_PROPERTY_RECORDS = 1000
IDENTIFIER_TYPES = ("email", "phone", "external_id")
DUPLICATE_PARAM = "event_id_event_type_id_customer_id_external_id_secondary_external_id"
DUPLICATE_MESSAGE = (
    "Relation for this combination of event type, customer ID and external IDs already exists."
)
EVENT_FIELDS = (
    "event_id",
    "event_type_id",
    "customer_id",
    "external_id",
    "secondary_external_id",
    "data",
    "created_at",
    "state",
)
_DATETIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT_RE = re.compile(r"^[+-]?\d+$")

DEFAULT_LOGIN = "webservice"
DEFAULT_PASSWORD = "emulator-password"  # noqa: S105 - a fixture credential of the local emulator
DEFAULT_APP_ID = "89d1a6111b3fb6e74665d948"
PURCHASE_TYPE_ID = "8bed991c68a470e7aaeffbf048"
NEWSLETTER_TYPE_ID = "8bda8a4854394325e2748a5005"
CUSTOMER_IDS = ("85bc5819e09dab95437552ce79", "8ea2591121e636086a4a9c0992", "8ea6abece4cd0a4ded0a29f093")


def new_id() -> str:
    """A CareCloud-shaped id: 26 hex digits."""
    return secrets.token_hex(13)


def basic_hash(password: str, hour: datetime) -> str:
    """The legacy Basic scheme's hash: ``sha256(md5(password) + YYYYMMDDHH)`` in hex (UTC hour)."""
    md5 = hashlib.md5(password.encode()).hexdigest()  # noqa: S324 - the vendor's scheme, not our choice
    return hashlib.sha256((md5 + hour.astimezone(timezone.utc).strftime("%Y%m%d%H")).encode()).hexdigest()


def error_body(
    status: int, exception: str, title: str, detail: str, error_data: Mapping[str, Any] | None = None
) -> JSONResponse:
    """A ``BasicError`` response."""
    return JSONResponse(
        {
            "error": {
                "type": "about:blank",
                "exception": exception,
                "title": title,
                "detail": detail,
                "error_data": dict(error_data or {}),
            }
        },
        status_code=status,
    )


def invalid_param(name: str, reason: str, message: str, value: Any = "") -> dict[str, Any]:
    shown = value if isinstance(value, str) else ("" if value is None else str(value))
    return {"name": name, "reason": reason, "value": shown[:200], "message": message}


def bad_request(params: list[dict[str, Any]], detail: str = "Invalid input parameters") -> JSONResponse:
    return error_body(400, "bad_request_exception", "Bad request", detail, {"invalid_params": params})


def not_found(resource_name: str, resource_id: str) -> JSONResponse:
    return error_body(
        404,
        "not_found_exception",
        "Resource not found",
        f"Resource {resource_name} with ID {resource_id} was not found",
        {"resource_name": resource_name, "resource_id": resource_id},
    )


def normalize_datetime(value: Any) -> str | None:
    """``YYYY-MM-DD HH:MM:SS`` from that form or ISO ``YYYY-MM-DDTHH:MM:SS`` (fraction dropped); else None."""
    if not isinstance(value, str):
        return None
    match = _DATETIME_RE.match(value.strip())
    if not match:
        return None
    text = f"{match.group(1)} {match.group(2)}"
    try:
        datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return text


def _valid_date(value: Any) -> bool:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _check_items(value: Any, prop: Mapping[str, Any], *, single: bool) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a non-empty array of property items"
    if single and len(value) != 1:
        return "an enum value is an array of exactly one property item"
    if len(value) > MAX_PROPERTY_RECORDS:
        return f"at most {MAX_PROPERTY_RECORDS} items"
    allowed = {item.get("id") for item in prop.get("items") or []}
    for item in value:
        item_id = item.get("id") if isinstance(item, Mapping) else None
        if item_id not in allowed:
            return "item id is not one of the property's items"
    return None


def check_property_value(value: Any, prop: Mapping[str, Any]) -> str | None:
    """Why ``value`` does not fit the property's ``data_type`` (None when it fits)."""
    if value is None:
        return "a value is required" if prop.get("is_required") else None
    data_type = str(prop.get("data_type", "string"))
    ok = True
    if data_type == "string":
        ok = isinstance(value, str)
    elif data_type == "boolean":
        ok = isinstance(value, bool) or (
            isinstance(value, str) and value.lower() in ("true", "false", "1", "0")
        )
    elif data_type == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and bool(_INT_RE.match(value))
        )
    elif data_type == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            ok = True
        elif isinstance(value, str):
            try:
                float(value)
            except ValueError:
                ok = False
        else:
            ok = False
    elif data_type == "date":
        ok = _valid_date(value)
    elif data_type == "timestamp":
        ok = normalize_datetime(value) is not None
    elif data_type == "enum":
        return _check_items(value, prop, single=True)
    elif data_type == "multiselect":
        return _check_items(value, prop, single=False)
    return None if ok else f"value does not fit data type {data_type}"


def _default_properties() -> list[dict[str, Any]]:
    def prop(pid: str, name: str, data_type: str, **more: Any) -> dict[str, Any]:
        return {
            "property_id": pid,
            "name": name,
            "description": name,
            "data_type": data_type,
            "items": more.pop("items", []),
            "is_required": more.pop("is_required", False),
            "is_unique": False,
            "last_change": "2024-01-01 00:00:00",
            "state": 1,
        }

    colors = [
        {"id": "86e05affc7a7abefcd513ab400", "name": "Blue", "resource_record_id": None, "state": 1},
        {"id": "81eaeea13b8984a169c490a325", "name": "Green", "resource_record_id": None, "state": 1},
        {"id": "8fd73167342d0689c4c0153201", "name": "Red", "resource_record_id": None, "state": 1},
    ]
    return [
        prop("has_purchase", "Has purchase", "boolean"),
        prop("note", "Note", "string"),
        prop("visit_count", "Visit count", "integer"),
        prop("average_spend", "Average spend", "float"),
        prop("birth_date", "Birth date", "date"),
        prop("purchased_at", "Purchased at", "timestamp"),
        prop("favourite_color", "Favourite colour", "enum", items=colors),
        prop("interests", "Interests", "multiselect", items=[dict(c) for c in colors]),
    ]


class CareCloudEmulator(VendorEmulator):
    """CRM CareCloud enterprise interface: login, events with property records, event types and properties.

    Python helpers for tests: :attr:`login_count`, :meth:`expire_tokens`, :meth:`events` and
    :meth:`property_records`, and :meth:`seed` (``users``, ``external_application_id``, ``customers``,
    ``event_types`` with their ``properties``, ``events``, ``token_lifetime_seconds``, ``timezone``,
    ``connection_declares_timezone``, ``basic_auth``).

    The project's zone is ``Europe/Prague`` (UTC+1/+2) unless seeded otherwise; its connection carries the
    ``timezone`` extra unless ``connection_declares_timezone`` is seeded false, to test a client that
    does not know the project's zone.
    """

    name: ClassVar[str] = "carecloud"
    base_path: ClassVar[str] = "/webservice/rest-api/enterprise-interface/v1.0"

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        self.timezone = "Europe/Prague"
        self.connection_declares_timezone = True
        self.token_lifetime_seconds: float = 7 * 3600
        self.basic_auth = True
        self.external_application_ids: set[str] = {DEFAULT_APP_ID}
        self.users: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.login_count = 0
        self.auth_counts: dict[str, int] = {"bearer": 0, "basic": 0, "rejected": 0}
        self.customers: dict[str, dict[str, Any]] = {}
        self.event_types: dict[str, dict[str, Any]] = {}
        self.properties: dict[str, dict[str, Any]] = {}
        self.type_properties: dict[str, list[str]] = {}
        self._events: list[dict[str, Any]] = []
        self._events_by_id: dict[str, dict[str, Any]] = {}
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._dedup: set[tuple[str, str, str, str]] = set()
        self.counters: dict[str, int] = {"created": 0, "duplicates": 0, "invalid": 0}
        self.last_accept_language: str | None = None
        self._seed_defaults()

    def _seed_defaults(self) -> None:
        props = _default_properties()
        self.seed(
            {
                "users": [{"login": DEFAULT_LOGIN, "password": DEFAULT_PASSWORD}],
                "customers": [
                    {
                        "customer_id": CUSTOMER_IDS[0],
                        "email": "anna@example.com",
                        "phone": "420111222333",
                        "external_ids": [
                            {"customer_source_id": "8795d942b31990e944c2ab1254", "external_id": "A-1"}
                        ],
                    },
                    {"customer_id": CUSTOMER_IDS[1], "email": "ben@example.com", "phone": "420444555666"},
                    {"customer_id": CUSTOMER_IDS[2], "email": "cyril@example.com", "phone": "420777888999"},
                ],
                "event_types": [
                    {
                        "event_type_id": PURCHASE_TYPE_ID,
                        "name": "Purchase",
                        "text_id": "purchase",
                        "event_group_id": "86e05affc7a7abefc513ab4tt0",
                        "event_group_text_id": "shopping",
                        "properties": props,
                    },
                    {
                        "event_type_id": NEWSLETTER_TYPE_ID,
                        "name": "Newsletter signup",
                        "text_id": "newsletter_signup",
                        "event_group_id": "86e05affc7a7abefc513ab4tt1",
                        "event_group_text_id": "customers",
                        "properties": [
                            {
                                "property_id": "source",
                                "name": "Source",
                                "data_type": "string",
                                "is_required": True,
                            }
                        ],
                    },
                ],
            }
        )

    def seed(self, data: dict[str, Any]) -> None:
        """Add fixtures. Keys (all optional):

        ``users`` [{login, password, first_name, ...}], ``external_application_id`` (str or list),
        ``customers`` [{customer_id, email, phone, external_ids: [{customer_source_id, external_id}]}],
        ``event_types`` [{event_type_id, name, text_id, ..., properties: [Property]}], ``events``
        [{event_type_id, customer_id, external_id, ..., property_records: [{property_id, property_value}]}],
        ``token_lifetime_seconds``, ``timezone``, ``connection_declares_timezone``, ``basic_auth``.
        """
        with self.lock:
            if "connection_declares_timezone" in data:
                self.connection_declares_timezone = bool(data["connection_declares_timezone"])
            if "timezone" in data:
                ZoneInfo(data["timezone"])
                self.timezone = data["timezone"]
            if "token_lifetime_seconds" in data:
                self.token_lifetime_seconds = float(data["token_lifetime_seconds"])
            if "basic_auth" in data:
                self.basic_auth = bool(data["basic_auth"])
            app_ids = data.get("external_application_id")
            if app_ids:
                self.external_application_ids.update([app_ids] if isinstance(app_ids, str) else app_ids)
            for user in data.get("users", []):
                self.users[user["login"]] = {
                    "user_id": user.get("user_id") or new_id(),
                    "login": user["login"],
                    "password": user["password"],
                    "first_name": user.get("first_name", "Web"),
                    "last_name": user.get("last_name", "Service"),
                    "email": user.get("email", f"{user['login']}@example.com"),
                    "phone": user.get("phone", ""),
                    "user_role_ids": user.get("user_role_ids", []),
                    "store_id": user.get("store_id", ""),
                }
            for customer in data.get("customers", []):
                cid = customer.get("customer_id") or new_id()
                self.customers[cid] = {
                    "customer_id": cid,
                    "email": customer.get("email"),
                    "phone": customer.get("phone"),
                    "external_ids": [dict(x) for x in customer.get("external_ids", [])],
                }
            for event_type in data.get("event_types", []):
                etid = event_type.get("event_type_id") or new_id()
                props = event_type.get("properties", [])
                self.event_types[etid] = {
                    "event_type_id": etid,
                    "event_group_id": event_type.get("event_group_id", ""),
                    "event_group_text_id": event_type.get("event_group_text_id", ""),
                    "name": event_type.get("name", etid),
                    "text_id": event_type.get("text_id", etid),
                    "icon_name": event_type.get("icon_name", "check_box"),
                    "state": event_type.get("state", 1),
                }
                ids = self.type_properties.setdefault(etid, [])
                for prop in props:
                    full = {
                        "property_id": prop["property_id"],
                        "name": prop.get("name", prop["property_id"]),
                        "description": prop.get("description", ""),
                        "data_type": prop.get("data_type", "string"),
                        "items": [dict(i) for i in prop.get("items", [])],
                        "is_required": bool(prop.get("is_required", False)),
                        "is_unique": bool(prop.get("is_unique", False)),
                        "last_change": prop.get("last_change", "2024-01-01 00:00:00"),
                        "state": prop.get("state", 1),
                    }
                    self.properties[full["property_id"]] = full
                    if full["property_id"] not in ids:
                        ids.append(full["property_id"])
            for event in data.get("events", []):
                self._store_event(
                    {k: event.get(k) for k in EVENT_FIELDS if k not in ("event_id", "state")},
                    list(event.get("property_records") or []),
                    event_id=event.get("event_id"),
                    state=int(event.get("state", 1)),
                )

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "events": [self._event_view(e, include_records=True) for e in self._events],
                "counters": dict(self.counters),
                "logins": self.login_count,
                "auth": dict(self.auth_counts),
                "active_tokens": len(self.tokens),
                "event_types": list(self.event_types.values()),
                "event_properties": list(self.properties.values()),
                "customers": list(self.customers.values()),
                "token_lifetime_seconds": self.token_lifetime_seconds,
                "timezone": self.timezone,
                "basic_auth": self.basic_auth,
                "last_accept_language": self.last_accept_language,
            }

    def connection(self, base_url: str) -> dict[str, Any]:
        return {
            "conn_type": "carecloud",
            "host": base_url,
            "login": DEFAULT_LOGIN,
            "password": DEFAULT_PASSWORD,
            "extra": {
                "external_application_id": DEFAULT_APP_ID,
                **({"timezone": self.timezone} if self.connection_declares_timezone else {}),
            },
        }

    # ------------------------------------------------------------------ test helpers
    def events(self) -> list[dict[str, Any]]:
        """Every stored event (with its property records), in creation order."""
        with self.lock:
            return [self._event_view(e, include_records=True) for e in self._events]

    def property_records(self, event_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self._records.get(event_id, [])]

    def expire_tokens(self) -> int:
        """Invalidate every bearer token issued so far (as if they expired); returns how many."""
        with self.lock:
            count = len(self.tokens)
            self.tokens.clear()
            return count

    def local_now(self) -> datetime:
        return datetime.now(ZoneInfo(self.timezone)).replace(tzinfo=None, microsecond=0)

    # ------------------------------------------------------------------ internals
    def _store_event(
        self,
        fields: dict[str, Any],
        records: list[dict[str, Any]],
        *,
        event_id: str | None = None,
        state: int = 1,
    ) -> dict[str, Any]:
        event_id = event_id or new_id()
        created = normalize_datetime(fields.get("created_at")) or self.local_now().strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        event = {
            "event_id": event_id,
            "event_type_id": fields.get("event_type_id"),
            "customer_id": fields.get("customer_id"),
            "external_id": fields.get("external_id"),
            "secondary_external_id": fields.get("secondary_external_id"),
            "data": fields.get("data"),
            "created_at": created,
            "state": state,
        }
        self._events.append(event)
        self._events_by_id[event_id] = event
        self._dedup.add(self._dedup_key(event))
        stored = []
        for record in records:
            pid = record.get("property_id")
            prop = self.properties.get(pid or "", {})
            stored.append(
                {
                    "property_record_id": f"{pid}:{event_id}",
                    "property_id": pid,
                    "property_name": prop.get("name", pid),
                    "property_value": record.get("property_value"),
                    "last_change": created,
                }
            )
        self._records[event_id] = stored
        return event

    @staticmethod
    def _dedup_key(event: Mapping[str, Any]) -> tuple[str, str, str, str]:
        return (
            str(event.get("event_type_id") or ""),
            str(event.get("customer_id") or ""),
            str(event.get("external_id") or ""),
            str(event.get("secondary_external_id") or ""),
        )

    def _event_view(self, event: Mapping[str, Any], *, include_records: bool) -> dict[str, Any]:
        view = dict(event)
        view["property_records"] = (
            [dict(r) for r in self._records.get(event["event_id"], [])] if include_records else None
        )
        return view

    def _authenticate(self, request: Request) -> JSONResponse | None:
        """None when the request carries valid credentials, else the 401 response."""
        lang = request.headers.get("accept-language")
        if lang:
            self.last_accept_language = lang
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        value = value.strip()
        with self.lock:
            if scheme.lower() == "bearer" and value:
                token = self.tokens.get(value)
                if token is not None and token["expires_at"] > time.time():
                    self.auth_counts["bearer"] += 1
                    return None
                if token is not None:
                    del self.tokens[value]
            elif scheme.lower() == "basic" and value and self.basic_auth:
                try:
                    user, _, digest = base64.b64decode(value, validate=True).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    user, digest = "", ""
                account = self.users.get(user)
                if account is not None:
                    now = datetime.now(timezone.utc)
                    candidates = {basic_hash(account["password"], now - timedelta(hours=h)) for h in (0, 1)}
                    if digest in candidates:
                        self.auth_counts["basic"] += 1
                        return None
            self.auth_counts["rejected"] += 1
        return error_body(
            401,
            "unauthorized_exception",
            "Unauthorized",
            "Invalid credentials or authentication token",
            {},
        )

    # ------------------------------------------------------------------ routes
    def router(self) -> APIRouter:
        router = APIRouter()
        emu = self

        async def parse_json(request: Request) -> tuple[Any, JSONResponse | None]:
            try:
                return await request.json(), None
            except ValueError:
                return None, bad_request(
                    [invalid_param("body", "invalid_value_format", "Body is not valid JSON")]
                )

        def paging(request: Request, fields: tuple[str, ...]) -> tuple[dict[str, Any], JSONResponse | None]:
            q = request.query_params
            params: list[dict[str, Any]] = []
            out: dict[str, Any] = {"count": 100, "offset": 0, "sort_field": None, "reverse": False}
            for name, minimum in (("count", 1), ("offset", 0)):
                raw = q.get(name)
                if raw is None or raw == "":
                    continue
                if not _INT_RE.match(raw) or int(raw) < minimum:
                    params.append(
                        invalid_param(
                            name, "invalid_value_format", f"{name} must be an integer >= {minimum}", raw
                        )
                    )
                else:
                    out[name] = int(raw)
            sort_field = q.get("sort_field")
            if sort_field:
                if sort_field not in fields:
                    params.append(
                        invalid_param("sort_field", "not_allowed_value", "Unknown sort field", sort_field)
                    )
                out["sort_field"] = sort_field
            direction = q.get("sort_direction")
            if direction:
                if direction.upper() not in ("ASC", "DESC"):
                    params.append(
                        invalid_param(
                            "sort_direction", "not_allowed_value", "Possible values are ASC / DESC", direction
                        )
                    )
                out["reverse"] = direction.upper() == "DESC"
            return out, (bad_request(params) if params else None)

        def page(items: list[dict[str, Any]], opts: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
            field = opts["sort_field"]
            if field:
                items = sorted(
                    items,
                    key=lambda i: (i.get(field) is None, str(i.get(field) or "")),
                    reverse=opts["reverse"],
                )
            elif opts["reverse"]:
                items = list(reversed(items))
            start = opts["offset"]
            return items[start : start + opts["count"]], len(items)

        @router.post("/users/actions/login")
        async def login(request: Request) -> Any:
            body, error = await parse_json(request)
            if error is not None:
                return error
            if not isinstance(body, Mapping):
                return bad_request([invalid_param("body", "invalid_value_format", "Body must be an object")])
            missing = [
                invalid_param(name, "required", f"Parameter {name} is required")
                for name in ("user_external_application_id", "login", "password")
                if not isinstance(body.get(name), str) or not body.get(name)
            ]
            if missing:
                return bad_request(missing)
            lang = request.headers.get("accept-language")
            if lang:
                emu.last_accept_language = lang
            with emu.lock:
                if body["user_external_application_id"] not in emu.external_application_ids:
                    return not_found("external-applications", "")
                user = emu.users.get(body["login"])
                if user is None or user["password"] != body["password"]:
                    return error_body(
                        403, "forbidden_exception", "Forbidden", "Invalid login or password", {}
                    )
                token = secrets.token_hex(20)
                emu.tokens[token] = {
                    "login": user["login"],
                    "expires_at": time.time() + emu.token_lifetime_seconds,
                }
                emu.login_count += 1
                valid_to = emu.local_now() + timedelta(seconds=emu.token_lifetime_seconds)
                user_view = {k: v for k, v in user.items() if k != "password"}
            return JSONResponse(
                {
                    "data": {
                        "bearer_token": token,
                        "valid_to": valid_to.strftime("%Y-%m-%d %H:%M:%S"),
                        "user": user_view,
                    }
                },
                status_code=200,
            )

        @router.post("/events")
        async def create_event(request: Request) -> Any:
            denied = emu._authenticate(request)
            if denied is not None:
                return denied
            body, error = await parse_json(request)
            if error is not None:
                return error
            with emu.lock:
                return emu._create(body)

        @router.get("/events")
        async def list_events(request: Request) -> Any:
            denied = emu._authenticate(request)
            if denied is not None:
                return denied
            opts, error = paging(request, EVENT_FIELDS)
            if error is not None:
                return error
            q = request.query_params
            params: list[dict[str, Any]] = []
            bounds: dict[str, str] = {}
            for name in ("time_from", "time_to"):
                raw = q.get(name)
                if raw:
                    norm = normalize_datetime(raw)
                    if norm is None:
                        params.append(
                            invalid_param(
                                name,
                                "invalid_value_format",
                                "Format YYYY-MM-DD HH:MM:SS or YYYY-MM-DDTHH:MM:SS",
                                raw,
                            )
                        )
                    else:
                        bounds[name] = norm
            type_ids = q.getlist("event_type_ids[]") + q.getlist("event_type_ids")
            if len(type_ids) > 1000:
                params.append(invalid_param("event_type_ids", "not_allowed_value", "At most 1000 values"))
            include = q.get("include_property_records", "false").lower()
            if include not in ("true", "false", "1", "0"):
                params.append(
                    invalid_param("include_property_records", "not_allowed_value", "true or false", include)
                )
            if params:
                return bad_request(params)
            with emu.lock:
                items = [
                    e
                    for e in emu._events
                    if (not q.get("event_type_id") or e["event_type_id"] == q.get("event_type_id"))
                    and (not type_ids or e["event_type_id"] in type_ids)
                    and (not q.get("customer_id") or e["customer_id"] == q.get("customer_id"))
                    and (not q.get("external_id") or e["external_id"] == q.get("external_id"))
                    and ("time_from" not in bounds or e["created_at"] >= bounds["time_from"])
                    and ("time_to" not in bounds or e["created_at"] <= bounds["time_to"])
                ]
                chunk, total = page(items, opts)
                events = [emu._event_view(e, include_records=include in ("true", "1")) for e in chunk]
            return {"data": {"events": events, "total_items": total}}

        @router.get("/events/{event_id}")
        async def get_event(event_id: str, request: Request) -> Any:
            denied = emu._authenticate(request)
            if denied is not None:
                return denied
            with emu.lock:
                event = emu._events_by_id.get(event_id)
                if event is None:
                    return not_found("events", event_id)
                return {"data": emu._event_view(event, include_records=False)}

        @router.get("/events/{event_id}/property-records")
        async def get_event_records(event_id: str, request: Request) -> Any:
            denied = emu._authenticate(request)
            if denied is not None:
                return denied
            with emu.lock:
                if event_id not in emu._events_by_id:
                    return not_found("events", event_id)
                records = [dict(r) for r in emu._records.get(event_id, [])]
            return {"data": {"property_records": records, "total_items": len(records)}}

        @router.api_route("/events", methods=["PUT", "PATCH", "DELETE"])
        @router.api_route("/events/{event_id}", methods=["POST", "PUT", "PATCH", "DELETE"])
        async def not_allowed(request: Request) -> Any:
            denied = emu._authenticate(request)
            if denied is not None:
                return denied
            return error_body(
                405,
                "method_not_allowed_exception",
                "Method not allowed",
                f"Method {request.method} is not allowed",
                {"http_method": request.method},
            )

        type_fields = (
            "event_type_id",
            "event_group_id",
            "event_group_text_id",
            "name",
            "text_id",
            "icon_name",
            "state",
        )
        prop_fields = (
            "property_id",
            "name",
            "description",
            "data_type",
            "is_required",
            "is_unique",
            "last_change",
            "state",
        )

        @router.get("/event-types")
        async def list_event_types(request: Request) -> Any:
            denied = emu._authenticate(request)
            if denied is not None:
                return denied
            opts, error = paging(request, type_fields)
            if error is not None:
                return error
            q = request.query_params
            name = (q.get("name") or "").lower()
            groups = q.getlist("event_group_text_id[]") + q.getlist("event_group_text_id")
            with emu.lock:
                items = [
                    dict(t)
                    for t in emu.event_types.values()
                    if (not name or name in str(t["name"]).lower())
                    and (not q.get("text_id") or t["text_id"] == q.get("text_id"))
                    and (not groups or t["event_group_text_id"] in groups)
                ]
            chunk, total = page(items, opts)
            return {"data": {"event_types": chunk, "total_items": total}}

        @router.get("/event-types/{event_type_id}")
        async def get_event_type(event_type_id: str, request: Request) -> Any:
            denied = emu._authenticate(request)
            if denied is not None:
                return denied
            with emu.lock:
                event_type = emu.event_types.get(event_type_id)
                if event_type is None:
                    return not_found("event-types", event_type_id)
                return {"data": dict(event_type)}

        @router.get("/event-types/{event_type_id}/event-properties")
        async def get_event_type_properties(event_type_id: str, request: Request) -> Any:
            denied = emu._authenticate(request)
            if denied is not None:
                return denied
            opts, error = paging(request, prop_fields)
            if error is not None:
                return error
            with emu.lock:
                if event_type_id not in emu.event_types:
                    return not_found("event-types", event_type_id)
                items = [dict(emu.properties[p]) for p in emu.type_properties.get(event_type_id, [])]
            chunk, total = page(items, opts)
            return {"data": {"event_properties": chunk, "total_items": total}}

        @router.get("/event-properties")
        async def list_event_properties(request: Request) -> Any:
            denied = emu._authenticate(request)
            if denied is not None:
                return denied
            opts, error = paging(request, prop_fields)
            if error is not None:
                return error
            name = (request.query_params.get("name") or "").lower()
            with emu.lock:
                items = [
                    dict(p) for p in emu.properties.values() if not name or name in str(p["name"]).lower()
                ]
            chunk, total = page(items, opts)
            return {"data": {"event_properties": chunk, "total_items": total}}

        @router.get("/event-properties/{event_property_id}")
        async def get_event_property(event_property_id: str, request: Request) -> Any:
            denied = emu._authenticate(request)
            if denied is not None:
                return denied
            with emu.lock:
                prop = emu.properties.get(event_property_id)
                if prop is None:
                    return not_found("event-properties", event_property_id)
                return {"data": dict(prop)}

        return router

    # ------------------------------------------------------------------ POST /events
    def _resolve_customer(self, event: Mapping[str, Any], params: list[dict[str, Any]]) -> str | None:
        customer_id = event.get("customer_id")
        id_type = event.get("customer_identifier_type")
        id_value = event.get("customer_identifier_value")
        if customer_id not in (None, "") and (id_type is not None or id_value is not None):
            params.append(
                invalid_param(
                    "customer_id",
                    "not_allowed_value",
                    "Use either customer_id or a customer identifier (type and value), not both",
                )
            )
            return None
        if customer_id not in (None, ""):
            if not isinstance(customer_id, str) or customer_id not in self.customers:
                params.append(invalid_param("customer_id", "not_found", "Customer not found", customer_id))
                return None
            return customer_id
        if id_type is None and id_value is None:
            params.append(
                invalid_param("customer_id", "required", "customer_id or a customer identifier is required")
            )
            return None
        if id_type not in IDENTIFIER_TYPES:
            params.append(
                invalid_param(
                    "customer_identifier_type",
                    "not_allowed_value",
                    "Possible values are email / phone / external_id",
                    id_type,
                )
            )
            return None
        if id_value in (None, ""):
            params.append(
                invalid_param(
                    "customer_identifier_value", "required", "customer_identifier_value is required"
                )
            )
            return None
        if id_type == "external_id":
            if (
                not isinstance(id_value, Mapping)
                or not id_value.get("customer_source_id")
                or not id_value.get("external_id")
            ):
                params.append(
                    invalid_param(
                        "customer_identifier_value",
                        "invalid_value_format",
                        "An object with customer_source_id and external_id is required",
                    )
                )
                return None
            wanted = {
                "customer_source_id": id_value["customer_source_id"],
                "external_id": id_value["external_id"],
            }
            matches = [c for c in self.customers.values() if wanted in c["external_ids"]]
        else:
            if not isinstance(id_value, str):
                params.append(
                    invalid_param(
                        "customer_identifier_value",
                        "invalid_value_format",
                        f"A string is required for type {id_type}",
                    )
                )
                return None
            matches = [c for c in self.customers.values() if c.get(id_type) == id_value]
        if not matches:
            params.append(invalid_param("customer_identifier_value", "not_found", "Customer not found"))
            return None
        found: str = matches[0]["customer_id"]
        return found

    def _create(self, body: Any) -> JSONResponse:
        if not isinstance(body, Mapping) or not isinstance(body.get("event"), Mapping):
            return bad_request([invalid_param("event", "required", "Parameter event is required")])
        event = body["event"]
        params: list[dict[str, Any]] = []
        event_type_id = event.get("event_type_id")
        if not event_type_id:
            params.append(invalid_param("event_type_id", "required", "Parameter event_type_id is required"))
        elif event_type_id not in self.event_types:
            params.append(invalid_param("event_type_id", "not_found", "Event type not found", event_type_id))
        external_id = event.get("external_id")
        if external_id in (None, ""):
            params.append(invalid_param("external_id", "required", "Parameter external_id is required"))
        elif not isinstance(external_id, str):
            params.append(
                invalid_param("external_id", "invalid_value_format", "external_id must be a string")
            )
        secondary = event.get("secondary_external_id")
        if secondary is not None and not isinstance(secondary, str):
            params.append(invalid_param("secondary_external_id", "invalid_value_format", "Must be a string"))
        for readonly in ("event_id", "state"):
            if readonly in event:
                params.append(invalid_param(readonly, "not_allowed_value", f"{readonly} is read-only"))
        data = event.get("data")
        if data is not None and not (
            isinstance(data, (str, Mapping))
            or (isinstance(data, list) and all(isinstance(x, str) for x in data))
        ):
            params.append(
                invalid_param("data", "invalid_value_format", "data is a string, array of strings or object")
            )
        created_at = event.get("created_at")
        if created_at is not None and normalize_datetime(created_at) is None:
            params.append(
                invalid_param(
                    "created_at",
                    "invalid_value_format",
                    "Format YYYY-MM-DD HH:MM:SS or YYYY-MM-DDTHH:MM:SS",
                    created_at,
                )
            )
        customer_id = self._resolve_customer(event, params)
        records = body.get("property_records") or []
        if not isinstance(records, list):
            params.append(
                invalid_param("property_records", "invalid_value_format", "property_records is an array")
            )
            records = []
        elif len(records) > MAX_PROPERTY_RECORDS:
            params.append(
                invalid_param(
                    "property_records",
                    "not_allowed_value",
                    f"At most {MAX_PROPERTY_RECORDS} property records",
                )
            )
            records = []
        allowed = set(self.type_properties.get(str(event_type_id), []))
        seen: set[str] = set()
        for index, record in enumerate(records):
            pid = record.get("property_id") if isinstance(record, Mapping) else None
            if not pid:
                params.append(
                    invalid_param(
                        f"property_records[{index}].property_id", "required", "property_id is required"
                    )
                )
                continue
            if pid not in allowed:
                params.append(
                    invalid_param(
                        f"property_records[{index}].property_id",
                        "not_found",
                        f"Property {pid} does not belong to the event type",
                        pid,
                    )
                )
                continue
            seen.add(pid)
            why = check_property_value(record.get("property_value"), self.properties[pid])
            if why:
                params.append(
                    invalid_param(
                        f"property_records[{index}].property_value",
                        "invalid_value_format",
                        f"Property {pid}: {why}",
                        record.get("property_value"),
                    )
                )
        if event_type_id in self.event_types:
            for pid in allowed - seen:
                if self.properties[pid].get("is_required"):
                    params.append(
                        invalid_param("property_records", "required", f"Property {pid} is required", pid)
                    )
        if params:
            self.counters["invalid"] += 1
            return bad_request(params)
        fields = {
            "event_type_id": event_type_id,
            "customer_id": customer_id,
            "external_id": external_id,
            "secondary_external_id": secondary,
            "data": data,
            "created_at": created_at,
        }
        if self._dedup_key(fields) in self._dedup:
            self.counters["duplicates"] += 1
            return bad_request(
                [invalid_param(DUPLICATE_PARAM, "relation_already_exists", DUPLICATE_MESSAGE)],
                detail="Relation already exists",
            )
        stored = self._store_event(fields, records)
        self.counters["created"] += 1
        return JSONResponse({"data": {"event_id": stored["event_id"]}}, status_code=201)
