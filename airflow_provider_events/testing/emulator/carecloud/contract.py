"""CareCloud's contract as the emulator reproduces it: fixtures, ids, ``BasicError`` bodies, value checks."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

from fastapi.responses import JSONResponse

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
INT_RE = re.compile(r"^[+-]?\d+$")

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
            isinstance(value, str) and bool(INT_RE.match(value))
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


def default_properties() -> list[dict[str, Any]]:
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
