"""Emulator of the Gainsight PX (Aptrinsic) REST API v1: custom events and users.

Served under ``/gainsight_px/v1``; the paths below are the vendor's own (``/events/custom``, ``/users``).

Contract (Swagger 2.0 "Gainsight PX REST API" 0.1.6 and the vendor notes):

- Authentication: header ``X-APTRINSIC-API-KEY``. A missing or unknown key answers 401; a key without
  the Write permission answers 403 on writes (the spec lists no 403; a connector vendor reports it).
- ``POST /events/custom``: body ``CustomEvent``; required ``identifyId``, ``propertyKey``, ``eventName``,
  ``userType`` (``LEAD``, ``USER``, ``VISITOR``, ``EMPTY_USER_TYPE``); ``date`` int64 epoch milliseconds;
  ``attributes`` an object of at most 50 properties whose names are at most 1024 characters; ``eventName`` at
  most 2000 characters. 201 with the spec's ``ResponseEntity`` body; 400 with a JSON error body otherwise.
- ``GET /events/custom``: ``filter`` (repeatable, ORed; ``;``-separated terms ANDed; operators ``==``,
  ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``~``, ``!~`` on ``identifyId``, ``eventName``, ``date``; string
  matches are case-insensitive), ``dateRangeStart``/``dateRangeEnd`` (epoch ms, inclusive [I]; a window over
  190 days answers 400 "Exceeded date range190days"; none given: the last day), ``pageSize`` (1..1000,
  default 25), ``scrollId``, ``sort`` (``accountId``/``date``, ``-`` = descending).
  The scroll id is returned on every page, the last one included (clients must stop on a short page).
- ``GET /users/{identifyId}`` (case-sensitive; 404 "User not found") and ``GET /users`` (paging only).

Behaviour the vendor does not document, chosen here and seedable: a client ``eventId`` is stored as sent
and every POST is stored (``options.dedupe_event_ids`` makes a repeated ``eventId`` a no-op 201), and an
event without ``date`` gets the time it was received.
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
import uuid
from collections import Counter
from typing import Any, ClassVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from airflow_provider_events.testing.emulator.base import VendorEmulator
from airflow_provider_events.testing.emulator.dependencies import Refused

API_KEY_HEADER = "x-aptrinsic-api-key"
DEFAULT_WRITE_KEY = "px-emulator-write-key"
DEFAULT_READ_ONLY_KEY = "px-emulator-read-key"
DEFAULT_PROPERTY_KEY = "AP-EMULATOR-2"

USER_TYPES = frozenset({"LEAD", "USER", "VISITOR", "EMPTY_USER_TYPE"})
MAX_EVENT_NAME_LENGTH = 2000
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_NAME_LENGTH = 1024
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 25
MAX_OPEN_SCROLLS = 256
DAY_MS = 86_400_000
MAX_WINDOW_MS = 190 * DAY_MS
INT64_MAX = 2**63 - 1

_REQUIRED_STRINGS = ("identifyId", "propertyKey", "eventName")
_OPTIONAL_STRINGS = ("eventId", "eventType", "sessionId", "accountId", "url", "referrer", "remoteHost")
_FILTER_FIELDS = frozenset({"identifyId", "eventName", "date"})
_SORT_FIELDS = frozenset({"accountId", "date"})
# longest operators first, so "<=" is not read as "<" followed by "=..."
_FILTER_TERM = re.compile(r"^(?P<field>[A-Za-z_.]+)(?P<op>==|!=|<=|>=|!~|~|<|>)(?P<value>.*)$", re.S)

_CREATED = json.dumps({"body": {}, "statusCode": "201", "statusCodeValue": 201}).encode()
_JSON = "application/json"


def _error(status: int, message: str, path: str) -> Response:
    """A Spring-Boot-shaped error body (the vendor documents "an error code and a JSON response" only)."""
    reason = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(
        status, "Error"
    )
    body = {
        "timestamp": int(time.time() * 1000),
        "status": status,
        "error": reason,
        "message": message,
        "path": path,
    }
    return Response(json.dumps(body).encode(), status_code=status, media_type=_JSON)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data).encode(), status_code=status, media_type=_JSON)


class _BadRequest(Exception):
    pass


def page_size_of(request: Request, not_an_integer: str = "pageSize must be an integer") -> int:
    """The ``pageSize`` query parameter (default 25); refused with a 400 outside 1..1000 or not a number."""
    try:
        page_size = int(request.query_params.get("pageSize") or DEFAULT_PAGE_SIZE)
    except ValueError:
        raise Refused(_error(400, not_an_integer, request.url.path)) from None
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise Refused(_error(400, f"pageSize must be between 1 and {MAX_PAGE_SIZE}", request.url.path))
    return page_size


def validate_custom_event(body: Any) -> str | None:
    """The reason a ``CustomEvent`` body is refused, or ``None`` when it is valid."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for name in _REQUIRED_STRINGS:
        value = body.get(name)
        if not isinstance(value, str) or not value:
            return f"{name} is required"
    user_type = body.get("userType")
    if user_type not in USER_TYPES:
        return "userType is required and must be one of LEAD, USER, VISITOR, EMPTY_USER_TYPE"
    if len(body["eventName"]) > MAX_EVENT_NAME_LENGTH:
        return f"eventName exceeds {MAX_EVENT_NAME_LENGTH} characters"
    date = body.get("date")
    if date is not None and (type(date) is not int or not -INT64_MAX <= date <= INT64_MAX):
        return "date must be an int64 epoch time in milliseconds"
    for name in _OPTIONAL_STRINGS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} must be a string"
    context = body.get("globalContext")
    if context is not None and not isinstance(context, dict):
        return "globalContext must be an object"
    attributes = body.get("attributes")
    if attributes is not None:
        if not isinstance(attributes, dict):
            return "attributes must be an object"
        if len(attributes) > MAX_ATTRIBUTES:
            return f"attributes has more than {MAX_ATTRIBUTES} properties"
        for key in attributes:
            if len(key) > MAX_ATTRIBUTE_NAME_LENGTH:
                return f"attribute name exceeds {MAX_ATTRIBUTE_NAME_LENGTH} characters"
    return None


def _parse_term(term: str) -> tuple[str, str, str]:
    match = _FILTER_TERM.match(term.strip())
    if not match:
        raise _BadRequest(f"invalid filter term {term!r}")
    field, op, value = match.group("field"), match.group("op"), match.group("value")
    if field not in _FILTER_FIELDS:
        raise _BadRequest(f"unsupported filter field {field!r}; supported: identifyId, eventName, date")
    if field == "date":
        if op in ("~", "!~"):
            raise _BadRequest("operator ~ is not supported on date")
        try:
            int(value)
        except ValueError:
            raise _BadRequest("date filter value must be epoch milliseconds") from None
    return field, op, value


def _term_matches(event: dict[str, Any], field: str, op: str, value: str) -> bool:
    actual = event.get(field)
    if field == "date":
        if actual is None:
            return op == "!="
        left, right = int(actual), int(value)
        return {
            "==": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]
    text = "" if actual is None else str(actual).lower()
    wanted = value.lower()
    if op in ("~", "!~"):
        hit = fnmatch.fnmatchcase(text, wanted)
        return hit if op == "~" else not hit
    if op == "==":
        return text == wanted
    if op == "!=":
        return text != wanted
    return {"<": text < wanted, "<=": text <= wanted, ">": text > wanted, ">=": text >= wanted}[op]


def _epoch_param(params: Any, name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be epoch milliseconds") from None


class GainsightPXEmulator(VendorEmulator):
    """Gainsight PX custom events, users and API keys, in memory.

    Seed keys (all optional): ``api_keys`` (``{key: ["read", "write"]}``), ``write_keys`` and
    ``read_only_keys`` (lists), ``users`` (``User`` objects with ``identifyId``), ``events`` (stored as given,
    not validated), ``options`` (``dedupe_event_ids``: bool).
    """

    name: ClassVar[str] = "gainsight_px"
    base_path: ClassVar[str] = "/v1"

    def reset(self) -> None:
        self.api_keys: dict[str, frozenset[str]] = {
            DEFAULT_WRITE_KEY: frozenset({"read", "write"}),
            DEFAULT_READ_ONLY_KEY: frozenset({"read"}),
        }
        self.users: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.event_id_counts: Counter[str] = Counter()
        self.rejected = 0
        self.unauthorized = 0
        self.forbidden = 0
        self.reads = 0
        self.options: dict[str, Any] = {"dedupe_event_ids": False}
        self._scrolls: dict[str, tuple[list[dict[str, Any]], int]] = {}

    # ------------------------------------------------------------------ admin
    def seed(self, data: dict[str, Any]) -> None:
        with self.lock:
            for key, perms in (data.get("api_keys") or {}).items():
                self.api_keys[str(key)] = frozenset(str(p).lower() for p in perms)
            for key in data.get("write_keys") or ():
                self.api_keys[str(key)] = frozenset({"read", "write"})
            for key in data.get("read_only_keys") or ():
                self.api_keys[str(key)] = frozenset({"read"})
            for user in data.get("users") or ():
                if not isinstance(user, dict) or not user.get("identifyId"):
                    raise ValueError("each seeded user needs an identifyId")
                record = {"propertyKeys": [DEFAULT_PROPERTY_KEY], "type": "USER", **user}
                record.setdefault("aptrinsicId", str(uuid.uuid5(uuid.NAMESPACE_URL, record["identifyId"])))
                self.users[record["identifyId"]] = record
            for event in data.get("events") or ():
                self._store(dict(event))
            options = data.get("options") or {}
            unknown = set(options) - set(self.options)
            if unknown:
                raise ValueError(f"unknown gainsight_px options {sorted(unknown)}")
            self.options.update(options)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "received": [dict(e) for e in self.events],
                "events_received": len(self.events),
                "duplicate_event_ids": {k: n - 1 for k, n in self.event_id_counts.items() if n > 1},
                "duplicate_event_id_count": sum(n - 1 for n in self.event_id_counts.values() if n > 1),
                "rejected": self.rejected,
                "unauthorized": self.unauthorized,
                "forbidden": self.forbidden,
                "reads": self.reads,
                "users": sorted(self.users),
                "options": dict(self.options),
            }

    def connection(self, base_url: str) -> dict[str, Any]:
        return {
            "conn_type": "gainsight_px",
            "host": base_url,
            "password": DEFAULT_WRITE_KEY,
            "extra": {"property_key": DEFAULT_PROPERTY_KEY},
        }

    # ------------------------------------------------------------------ state helpers
    def _store(self, event: dict[str, Any]) -> bool:
        """Store one event (caller holds the lock); False when deduplicated away."""
        event_id = event.get("eventId")
        if event_id is not None:
            if self.options["dedupe_event_ids"] and event_id in self.event_id_counts:
                return False
            self.event_id_counts[event_id] += 1
        if event.get("date") is None:
            event["date"] = int(time.time() * 1000)
        self.events.append(event)
        return True

    async def authorized(self, request: Request, *, write: bool = False) -> None:
        """Refuse a request whose ``X-APTRINSIC-API-KEY`` is unknown (401) or lacks the permission (403)."""
        key = request.headers.get(API_KEY_HEADER)
        perms = self.api_keys.get(key) if key else None
        if perms is None:
            with self.lock:
                self.unauthorized += 1
            raise Refused(_error(401, "Unauthorized or bad API Key", request.url.path))
        if ("write" if write else "read") not in perms:
            with self.lock:
                self.forbidden += 1
            needed = "Write" if write else "Read"
            raise Refused(_error(403, f"API key lacks the {needed} permission", request.url.path))

    async def read_access(self, request: Request) -> None:
        """The read routes' dependency (its only parameter is the request, so FastAPI adds no query one)."""
        await self.authorized(request)

    def _query_events(self, request: Request) -> Response:
        params = request.query_params
        scroll_id = params.get("scrollId")
        page_size = page_size_of(request)
        with self.lock:
            self.reads += 1
            if scroll_id:
                if scroll_id not in self._scrolls:
                    return _error(400, "Invalid or expired scrollId", request.url.path)
                matches, offset = self._scrolls[scroll_id]
            else:
                try:
                    matches = self._match(params)
                except _BadRequest as exc:
                    return _error(400, str(exc), request.url.path)
                offset = 0
                scroll_id = uuid.uuid4().hex
            page = matches[offset : offset + page_size]
            self._scrolls.pop(scroll_id, None)
            self._scrolls[scroll_id] = (matches, offset + len(page))
            while len(self._scrolls) > MAX_OPEN_SCROLLS:  # forget the least recently used scroll
                del self._scrolls[next(iter(self._scrolls))]
        return _json({"customEvents": page, "totalHits": len(matches), "scrollId": scroll_id})

    def _match(self, params: Any) -> list[dict[str, Any]]:
        """The events matching a first-page query, sorted (caller holds the lock)."""
        groups = [[_parse_term(t) for t in f.split(";") if t.strip()] for f in params.getlist("filter")]
        groups = [g for g in groups if g]
        start = _epoch_param(params, "dateRangeStart")
        end = _epoch_param(params, "dateRangeEnd")
        has_date_term = any(field == "date" for group in groups for field, _, _ in group)
        if start is None and end is None and not has_date_term:
            end = int(time.time() * 1000)
            start = end - DAY_MS
        elif start is not None and end is None:
            end = max(start, int(time.time() * 1000))
        elif end is not None and start is None:
            start = end - DAY_MS
        if start is not None and end is not None:
            if end < start:
                raise _BadRequest("dateRangeEnd is before dateRangeStart")
            if end - start > MAX_WINDOW_MS:
                raise _BadRequest("Exceeded date range190days")
        result = []
        for event in self.events:
            date = event.get("date")
            if start is not None and end is not None and (date is None or not start <= int(date) <= end):
                continue
            if groups and not any(all(_term_matches(event, *term) for term in group) for group in groups):
                continue
            result.append(dict(event))
        for field in reversed([f for f in (params.get("sort") or "").split(";") if f.strip()]):
            name = field.strip().lstrip("-")
            if name not in _SORT_FIELDS:
                raise _BadRequest(f"unsupported sort field {name!r}; supported: accountId, date")
            descending = field.strip().startswith("-")
            if name == "date":
                result.sort(key=lambda e: int(e.get("date") or 0), reverse=descending)
            else:
                result.sort(key=lambda e: str(e.get("accountId") or ""), reverse=descending)
        return result

    # ------------------------------------------------------------------ routes
    def router(self) -> APIRouter:
        router = APIRouter()
        emulator = self

        async def create_custom_event(request: Request) -> Response:
            # the hot route awaits the key check rather than declaring it: a dependency costs ~15% CPU here
            await emulator.authorized(request, write=True)
            try:
                body = await request.json()
            except ValueError:
                body = None
            reason = validate_custom_event(body)
            if reason is not None:
                with emulator.lock:
                    emulator.rejected += 1
                return _error(400, reason, request.url.path)
            with emulator.lock:
                emulator._store(body)
            return Response(_CREATED, status_code=201, media_type=_JSON)

        async def list_custom_events(request: Request) -> Response:
            return emulator._query_events(request)

        async def get_user(identify_id: str, request: Request) -> Response:
            with emulator.lock:
                emulator.reads += 1
                user = emulator.users.get(identify_id)
                found = dict(user) if user is not None else None
            if found is None:
                return _error(404, "User not found", request.url.path)
            return _json(found)

        async def list_users(request: Request) -> Response:
            not_integers = "pageSize and scrollId must be integers"
            try:
                offset = int(request.query_params.get("scrollId") or 0)
            except ValueError:
                return _error(400, not_integers, request.url.path)
            page_size = page_size_of(request, not_integers)
            with emulator.lock:
                emulator.reads += 1
                users = [dict(emulator.users[k]) for k in sorted(emulator.users)]
            page = users[offset : offset + page_size]
            return _json({"users": page, "totalHits": len(users), "scrollId": str(offset + len(page))})

        router.add_api_route("/events/custom", create_custom_event, methods=["POST"], status_code=201)
        readers = APIRouter(dependencies=[Depends(emulator.read_access)])
        readers.add_api_route("/events/custom", list_custom_events, methods=["GET"])
        readers.add_api_route("/users", list_users, methods=["GET"])
        readers.add_api_route("/users/{identify_id:path}", get_user, methods=["GET"])
        router.include_router(readers)
        return router
