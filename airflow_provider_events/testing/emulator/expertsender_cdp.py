"""Emulator of the ExpertSender CDP (ECDP) API: scenario custom events per customer and per segment.

Contract: ``/work/shared/seeds/001_*.txt`` and section 2 of ``vendor-apis.md``. Served below
``/expertsender_cdp`` with the vendor's own paths:

- ``POST /scenariocustomevents``: one customer (at least one identifier, length limits, dataFields types).
- ``POST /scenariocustomevents/withsegments``: every customer of the given segments.
- ``GET /customers/email/{email}``: a customer by e-mail (200) or 404; the cheap authenticated call a hook
  uses to test its connection.

Every call needs ``x-api-key`` with a key of a seeded business unit, else 401. Errors are ASP.NET-style
problem details (``type, title, status, substatus, detail, instance`` plus ``errors`` on 400) served as
``application/problem+json``. Accepted events answer ``201 Created`` with no body and are recorded.

Inferred behaviour (not documented by the vendor), each seedable through ``options``:

- ``unknown_customer``: ``"accept"`` (default) accepts an event for any identifier; ``"404"`` answers
  404 ``CustomerNotFound`` unless a seeded customer matches the identifier.
- The ``substatus`` values other than ``CustomerInvalidModelState`` (``Unauthorized``,
  ``CustomEventNotFound``, ``CustomerNotFound``, ``SegmentNotFound``) are this emulator's choice.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from airflow_provider_events.testing.emulator.base import VendorEmulator
from airflow_provider_events.testing.emulator.dependencies import Refused

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

#: identifier field -> maximum length in characters (``customerId`` has no documented limit).
IDENTIFIER_LIMITS: dict[str, int | None] = {
    "customerId": None,
    "customerEmail": 320,
    "customerEmailMd5": 32,
    "customerEmailSha256": 64,
    "customerPhone": 20,
    "customerCrmId": 128,
}
DATA_FIELD_TYPES = ("String", "Text", "Number", "Money", "Date", "DateTime", "Boolean", "URL")

DEFAULT_API_KEY = "emulator-key"
DEFAULT_BUSINESS_UNIT = "default"
#: custom event ids configured in the default business unit (Automation > Scenarios > Custom events).
DEFAULT_CUSTOM_EVENTS = {1: "Purchase follow-up", 2: "Abandoned cart", 3: "Loyalty tier changed"}
#: segment id -> member count (the vendor's help page uses segments 1, 5 and 15 as its example).
DEFAULT_SEGMENTS = {1: 120, 5: 40, 15: 7}

_TYPE_URIS = {
    400: "https://tools.ietf.org/html/rfc7231#section-6.5.1",
    401: "https://tools.ietf.org/html/rfc7235#section-3.1",
    404: "https://tools.ietf.org/html/rfc7231#section-6.5.4",
}
_TITLES = {
    400: "One or more validation errors occurred.",
    401: "Unauthorized",
    404: "Not Found",
}
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")


def problem(
    status: int, substatus: str, detail: str, instance: str, errors: list[str] | None = None
) -> Response:
    """A problem-details answer exactly as the vendor documents it (``errors`` only on 400)."""
    body: dict[str, Any] = {
        "type": _TYPE_URIS.get(status, "about:blank"),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "substatus": substatus,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(json.dumps(body), status_code=status, media_type="application/problem+json")


def _is_int32(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and INT32_MIN <= value <= INT32_MAX


def check_data_value(type_name: str, value: str) -> str | None:
    """Why ``value`` is not a valid ``type_name`` value, or ``None`` when it is."""
    if type_name in ("String", "Text"):
        return None
    if type_name in ("Number", "Money"):
        if not _NUMBER_RE.match(value):
            return f"'{type_name}' values must be decimal numbers such as 12.5"
        return None
    if type_name == "Date":
        try:
            if len(value) != 10:
                raise ValueError(value)
            date.fromisoformat(value)
        except ValueError:
            return "'Date' values must be dates in the YYYY-MM-DD format"
        return None
    if type_name == "DateTime":
        try:
            if len(value) < 19 or value[10] != "T":
                raise ValueError(value)
            datetime.fromisoformat(value)
        except ValueError:
            return "'DateTime' values must be ISO-8601 date-times such as 2024-05-01T10:00:00Z"
        return None
    if type_name == "Boolean":
        if value.lower() not in ("true", "false"):
            return "'Boolean' values must be true or false"
        return None
    if type_name == "URL":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
            return "'URL' values must be absolute http(s) URLs"
        return None
    return f"unknown type {type_name!r}"  # pragma: no cover - types are checked before


def check_data_fields(raw: Any) -> list[str]:
    """Validation errors of a ``dataFields`` array (empty when valid)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        return ["The dataFields field must be an array."]
    errors: list[str] = []
    for i, item in enumerate(raw):
        where = f"dataFields[{i}]"
        if not isinstance(item, dict):
            errors.append(f"The {where} item must be an object with name, type and value.")
            continue
        unknown = set(item) - {"name", "type", "value"}
        if unknown:
            errors.append(f"The {where} item has unknown properties: {', '.join(sorted(unknown))}.")
        name, type_name, value = item.get("name"), item.get("type", "String"), item.get("value")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"The {where}.name field is required.")
        if type_name not in DATA_FIELD_TYPES:
            errors.append(f"The {where}.type field must be one of {', '.join(DATA_FIELD_TYPES)}.")
            continue
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append(f"The {where}.value field must be a string.")
            continue
        reason = check_data_value(type_name, value)
        if reason:
            errors.append(f"The {where}.value field is invalid: {reason}.")
    return errors


def email_hashes(email: str) -> tuple[str, str]:
    """MD5 and SHA-256 hex digests of a normalised (trimmed, lower-cased) e-mail address."""
    normal = email.strip().lower().encode()
    return hashlib.md5(normal).hexdigest(), hashlib.sha256(normal).hexdigest()  # noqa: S324 - vendor's id


class ExpertSenderCdpEmulator(VendorEmulator):
    """ExpertSender CDP served locally.

    Seed (all keys optional; values add to / replace the defaults)::

        {"api_keys": {"key": "business unit"},          # or a list of keys for the default unit
         "custom_events": [1, 2] or {"1": "name"},       # ids configured in every business unit
         "segments": {"1": 120} or [1, 5],               # segment id -> member count (default 10)
         "customers": [{"id": 7, "email": "a@b.c", "phone": "+420...", "crmId": "C7"}],
         "options": {"unknown_customer": "accept" | "404"},
         "replace": false}                                # true: drop the defaults first

    Read back with :meth:`events` (per-customer) and :meth:`segment_events`, or :meth:`snapshot`.
    """

    name: ClassVar[str] = "expertsender_cdp"
    base_path: ClassVar[str] = ""

    def reset(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.api_keys: dict[str, str] = {DEFAULT_API_KEY: DEFAULT_BUSINESS_UNIT}
        self.custom_events: dict[int, str] = dict(DEFAULT_CUSTOM_EVENTS)
        self.segments: dict[int, int] = dict(DEFAULT_SEGMENTS)
        self.customers: list[dict[str, Any]] = []
        self.options: dict[str, Any] = {"unknown_customer": "accept"}
        self.rejected: int = 0

    # ------------------------------------------------------------------ seeding and inspection
    def seed(self, data: dict[str, Any]) -> None:
        with self.lock:
            if data.get("replace"):
                self.api_keys, self.custom_events, self.segments, self.customers = {}, {}, {}, []
            keys = data.get("api_keys")
            if isinstance(keys, dict):
                self.api_keys.update({str(k): str(v) for k, v in keys.items()})
            elif keys:
                self.api_keys.update({str(k): DEFAULT_BUSINESS_UNIT for k in keys})
            events = data.get("custom_events")
            if isinstance(events, dict):
                self.custom_events.update({int(k): str(v) for k, v in events.items()})
            elif events:
                self.custom_events.update({int(k): f"Custom event {k}" for k in events})
            segments = data.get("segments")
            if isinstance(segments, dict):
                self.segments.update({int(k): int(v) for k, v in segments.items()})
            elif segments:
                self.segments.update({int(k): 10 for k in segments})
            for customer in data.get("customers") or []:
                self.customers.append(dict(customer))
            options = data.get("options") or {}
            unknown = set(options) - {"unknown_customer"}
            if unknown:
                raise ValueError(f"unknown expertsender_cdp options {sorted(unknown)}")
            if "unknown_customer" in options:
                mode = str(options["unknown_customer"])
                if mode not in ("accept", "404"):
                    raise ValueError("unknown_customer must be 'accept' or '404'")
                self.options["unknown_customer"] = mode

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "received": [dict(r) for r in self.received],
                "rejected": self.rejected,
                "business_units": sorted(set(self.api_keys.values())),
                "custom_events": {str(k): v for k, v in self.custom_events.items()},
                "segments": {str(k): v for k, v in self.segments.items()},
                "customers": [dict(c) for c in self.customers],
                "options": dict(self.options),
            }

    def events(self) -> list[dict[str, Any]]:
        """Accepted per-customer events, in arrival order."""
        with self.lock:
            return [dict(r) for r in self.received if r["endpoint"] == "/scenariocustomevents"]

    def segment_events(self) -> list[dict[str, Any]]:
        """Accepted segment triggers, in arrival order."""
        with self.lock:
            return [dict(r) for r in self.received if r["endpoint"] == "/scenariocustomevents/withsegments"]

    def connection(self, base_url: str) -> dict[str, Any]:
        with self.lock:
            key = next(iter(self.api_keys), DEFAULT_API_KEY)
        return {"conn_type": "expertsender_cdp", "host": base_url, "password": key}

    # ------------------------------------------------------------------ helpers
    def business_unit(self, request: Request, instance: str) -> str:
        """The business unit of the request's ``X-Api-Key``; else refused with a 401 naming ``instance``."""
        key = request.headers.get("x-api-key")
        unit = None
        if key:
            with self.lock:
                unit = self.api_keys.get(key)
        if unit is None:
            detail = (
                "The API key is invalid or has no permission to access this resource."
                if key
                else "The API key is missing."
            )
            raise Refused(problem(401, "Unauthorized", detail, instance))
        return unit

    async def customers_api_key(self, request: Request) -> None:
        """The customers routes' dependency: a known API key."""
        self.business_unit(request, "/customers/email")

    def _find_customer(self, identifiers: dict[str, Any]) -> dict[str, Any] | None:
        """The seeded customer an event's identifier designates (``customerId`` wins, then field order)."""
        for field in IDENTIFIER_LIMITS:
            if field not in identifiers:
                continue
            value = str(identifiers[field])
            for customer in self.customers:
                email = str(customer.get("email") or "")
                if field == "customerId" and str(customer.get("id")) == value:
                    return customer
                if field == "customerEmail" and email and email.lower() == value.strip().lower():
                    return customer
                if field == "customerEmailMd5" and email and email_hashes(email)[0] == value.lower():
                    return customer
                if field == "customerEmailSha256" and email and email_hashes(email)[1] == value.lower():
                    return customer
                if field == "customerPhone" and str(customer.get("phone") or "") == value:
                    return customer
                if field == "customerCrmId" and str(customer.get("crmId") or "") == value:
                    return customer
            return None
        return None

    async def _json_body(self, request: Request) -> tuple[Any, str | None]:
        raw = await request.body()
        if not raw:
            return None, "A non-empty request body is required."
        try:
            return json.loads(raw), None
        except ValueError:
            return None, "The request body is not valid JSON."

    async def _start_event_request(
        self, request: Request, instance: str
    ) -> tuple[str, dict[str, Any], Any, list[str]]:
        """What both scenario routes check first: the key, a JSON object body, ``customEventId``.

        The hot routes await this rather than declare it as a dependency (that costs ~15% CPU a request).

        :returns: ``(business unit, body, customEventId, errors so far)``.
        :raises Refused: a bad key (401) or a body that is not a JSON object (400).
        """
        unit = self.business_unit(request, instance)
        body, parse_error = await self._json_body(request)
        if parse_error:
            raise Refused(self._reject(instance, [parse_error]))
        if not isinstance(body, dict):
            raise Refused(self._reject(instance, ["The request body must be a JSON object."]))
        errors: list[str] = []
        event_id = body.get("customEventId")
        if event_id is None:
            errors.append("The customEventId field is required.")
        elif not _is_int32(event_id):
            errors.append("The customEventId field must be a 32-bit integer.")
        return unit, body, event_id, errors

    def _check_rest(self, instance: str, body: dict[str, Any], errors: list[str], known: set[str]) -> None:
        """What both scenario routes check last: no unknown property, valid ``dataFields``, no error so far.

        :raises Refused: a 400 listing every error.
        """
        unknown = set(body) - known
        if unknown:
            errors.append(f"Unknown properties: {', '.join(sorted(unknown))}.")
        errors += check_data_fields(body.get("dataFields"))
        if errors:
            raise Refused(self._reject(instance, errors))

    def _require_custom_event(self, instance: str, event_id: Any) -> None:
        """Refuse with a 404 when ``event_id`` is not a defined custom event (caller holds the lock)."""
        if event_id not in self.custom_events:
            raise Refused(
                problem(
                    404, "CustomEventNotFound", f"Custom event with id {event_id} was not found.", instance
                )
            )

    def _reject(self, instance: str, errors: list[str]) -> Response:
        with self.lock:
            self.rejected += 1
        return problem(
            400, "CustomerInvalidModelState", "See the errors property for details.", instance, errors
        )

    # ------------------------------------------------------------------ routes
    def router(self) -> APIRouter:
        router = APIRouter()
        emu = self

        @router.post("/scenariocustomevents")
        async def customer_event(request: Request) -> Response:
            instance = "/scenariocustomevents"
            unit, body, event_id, errors = await emu._start_event_request(request, instance)
            identifiers: dict[str, Any] = {}
            bad_identifier = False
            for field, limit in IDENTIFIER_LIMITS.items():
                value = body.get(field)
                if value is None:
                    continue
                if field == "customerId" and isinstance(value, int) and not isinstance(value, bool):
                    identifiers[field] = value
                    continue
                if not isinstance(value, str):
                    errors.append(f"The {field} field must be a string.")
                    bad_identifier = True
                    continue
                if limit is not None and len(value) > limit:
                    errors.append(f"The field {field} must be a string with a maximum length of {limit}.")
                    bad_identifier = True
                    continue
                if value != "":
                    identifiers[field] = value
            if not identifiers and not bad_identifier:
                errors.append(
                    "At least one customer identifier is required: customerId, customerEmail, "
                    "customerEmailMd5, customerEmailSha256, customerPhone or customerCrmId."
                )
            emu._check_rest(instance, body, errors, {"customEventId", "dataFields", *IDENTIFIER_LIMITS})
            with emu.lock:
                emu._require_custom_event(instance, event_id)
                if emu.options["unknown_customer"] == "404" and emu._find_customer(identifiers) is None:
                    return problem(404, "CustomerNotFound", "Customer was not found.", instance)
                kind = next(iter(identifiers))
                emu.received.append(
                    {
                        "endpoint": instance,
                        "business_unit": unit,
                        "customEventId": event_id,
                        "identifier_kind": kind,
                        "identifier_value": identifiers[kind],
                        "identifiers": identifiers,
                        "dataFields": list(body.get("dataFields") or []),
                    }
                )
            return Response(status_code=201)

        @router.post("/scenariocustomevents/withsegments")
        async def segment_event(request: Request) -> Response:
            instance = "/scenariocustomevents/withsegments"
            unit, body, event_id, errors = await emu._start_event_request(request, instance)
            segments = body.get("segments")
            if segments is None:
                errors.append("The segments field is required.")
            elif not isinstance(segments, list) or not segments:
                errors.append("The segments field must be a non-empty array of segment ids.")
            elif not all(_is_int32(s) for s in segments):
                errors.append("The segments field must contain 32-bit integers only.")
            emu._check_rest(instance, body, errors, {"customEventId", "segments", "dataFields"})
            assert isinstance(segments, list)
            with emu.lock:
                emu._require_custom_event(instance, event_id)
                missing = [s for s in segments if s not in emu.segments]
                if missing:
                    return problem(
                        404,
                        "SegmentNotFound",
                        f"Segments with ids {', '.join(map(str, missing))} were not found.",
                        instance,
                    )
                emu.received.append(
                    {
                        "endpoint": instance,
                        "business_unit": unit,
                        "customEventId": event_id,
                        "segments": list(segments),
                        "customers": sum(emu.segments[s] for s in set(segments)),
                        "dataFields": list(body.get("dataFields") or []),
                    }
                )
            return Response(status_code=201)

        @router.get("/customers/email/{email}", dependencies=[Depends(emu.customers_api_key)])
        async def customer_by_email(email: str) -> Response:
            instance = "/customers/email"
            with emu.lock:
                found = emu._find_customer({"customerEmail": email})
            if found is None:
                return problem(404, "CustomerNotFound", "Customer was not found.", instance)
            return Response(json.dumps(_customer_json(found)), status_code=200, media_type="application/json")

        return router


def _customer_json(customer: dict[str, Any]) -> dict[str, Any]:
    """A customer as the customers API returns it (the fields this emulator knows)."""
    out = {
        "id": customer.get("id"),
        "email": customer.get("email"),
        "phone": customer.get("phone"),
        "crmId": customer.get("crmId"),
        "firstName": customer.get("firstName"),
        "lastName": customer.get("lastName"),
    }
    return {k: v for k, v in out.items() if v is not None}
