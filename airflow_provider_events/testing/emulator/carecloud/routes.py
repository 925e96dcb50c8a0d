"""CareCloud's HTTP routes: login, events, event types and event properties.

The preambles are FastAPI dependencies: the credentials (a bearer token or the legacy Basic hash) guard every
route but login, the JSON body and the list routes' paging (``count``, ``offset``, ``sort_field``,
``sort_direction``) are parsed before the route runs; each refuses with CareCloud's own ``BasicError`` body.
``POST /events``, the route delivery benchmarks drive, awaits the same two functions directly.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from airflow_provider_events.testing.emulator.carecloud.contract import (
    EVENT_FIELDS,
    INT_RE,
    bad_request,
    basic_hash,
    error_body,
    invalid_param,
    normalize_datetime,
    not_found,
)
from airflow_provider_events.testing.emulator.carecloud.intake import create_event
from airflow_provider_events.testing.emulator.carecloud.state import CareCloudState
from airflow_provider_events.testing.emulator.dependencies import Refused, authorization

TYPE_FIELDS = (
    "event_type_id",
    "event_group_id",
    "event_group_text_id",
    "name",
    "text_id",
    "icon_name",
    "state",
)
PROPERTY_FIELDS = (
    "property_id",
    "name",
    "description",
    "data_type",
    "is_required",
    "is_unique",
    "last_change",
    "state",
)
DATETIME_FORMAT_MESSAGE = "Format YYYY-MM-DD HH:MM:SS or YYYY-MM-DDTHH:MM:SS"


async def json_body(request: Request) -> Any:
    """The request's JSON body; refused with a 400 when it is not JSON."""
    try:
        return await request.json()
    except ValueError:
        raise Refused(
            bad_request([invalid_param("body", "invalid_value_format", "Body is not valid JSON")])
        ) from None


def paging_of(fields: tuple[str, ...]) -> Callable[[Request], Awaitable[dict[str, Any]]]:
    """A dependency reading ``count``, ``offset`` and the sort of a list whose items have ``fields``."""

    async def paging(request: Request) -> dict[str, Any]:
        q = request.query_params
        params: list[dict[str, Any]] = []
        out: dict[str, Any] = {"count": 100, "offset": 0, "sort_field": None, "reverse": False}
        for name, minimum in (("count", 1), ("offset", 0)):
            raw = q.get(name)
            if raw is None or raw == "":
                continue
            if not INT_RE.match(raw) or int(raw) < minimum:
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
        if params:
            raise Refused(bad_request(params))
        return out

    return paging


JsonBody = Annotated[Any, Depends(json_body)]
EventPaging = Annotated[dict[str, Any], Depends(paging_of(EVENT_FIELDS))]
TypePaging = Annotated[dict[str, Any], Depends(paging_of(TYPE_FIELDS))]
PropertyPaging = Annotated[dict[str, Any], Depends(paging_of(PROPERTY_FIELDS))]


def page(items: list[dict[str, Any]], opts: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The requested page of ``items`` (sorted as asked) and their total count."""
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


def event_list_filters(request: Request) -> tuple[dict[str, str], list[str], str]:
    """``GET /events`` filters: ``time_from``/``time_to`` bounds, type ids, ``include_property_records``.

    :raises Refused: a malformed filter (a 400 naming each bad parameter).
    """
    q = request.query_params
    params: list[dict[str, Any]] = []
    bounds: dict[str, str] = {}
    for name in ("time_from", "time_to"):
        raw = q.get(name)
        if raw:
            norm = normalize_datetime(raw)
            if norm is None:
                params.append(invalid_param(name, "invalid_value_format", DATETIME_FORMAT_MESSAGE, raw))
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
        raise Refused(bad_request(params))
    return bounds, type_ids, include


def paged(items: list[dict[str, Any]], opts: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A list route's answer: the requested page of ``items`` under ``key`` and their ``total_items``."""
    chunk, total = page(items, opts)
    return {"data": {key: chunk, "total_items": total}}


def found(table: Mapping[str, Mapping[str, Any]], resource: str, resource_id: str) -> Any:
    """A get-by-id route's answer: ``{"data": item}``, or the 404 naming the resource."""
    item = table.get(resource_id)
    return not_found(resource, resource_id) if item is None else {"data": dict(item)}


class CareCloudEmulator(CareCloudState):
    """CRM CareCloud over HTTP; the state, seeds and test helpers are :class:`CareCloudState`'s."""

    def _remember_language(self, request: Request) -> None:
        lang = request.headers.get("accept-language")
        if lang:
            self.last_accept_language = lang

    async def authenticated(self, request: Request) -> None:
        """Accept a live bearer token or, when enabled, the legacy Basic hash; else refuse with a 401."""
        self._remember_language(request)
        scheme, value = authorization(request)
        with self.lock:
            if scheme == "bearer" and value:
                token = self.tokens.get(value)
                if token is not None and token["expires_at"] > time.time():
                    self.auth_counts["bearer"] += 1
                    return
                if token is not None:
                    del self.tokens[value]
            elif scheme == "basic" and value and self.basic_auth:
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
                        return
            self.auth_counts["rejected"] += 1
        raise Refused(
            error_body(
                401,
                "unauthorized_exception",
                "Unauthorized",
                "Invalid credentials or authentication token",
                {},
            )
        )

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/users/actions/login", self._login, methods=["POST"])
        router.add_api_route("/events", self._post_event, methods=["POST"])
        guarded = APIRouter(dependencies=[Depends(self.authenticated)])
        self._event_routes(guarded)
        self._type_and_property_routes(guarded)
        router.include_router(guarded)
        return router

    async def _post_event(self, request: Request) -> Any:
        # The delivery benchmarks' hot route awaits the same preambles instead of declaring them: FastAPI's
        # dependency resolution costs ~15-30 us a request here (~15% of its CPU, docs/performance.md).
        await self.authenticated(request)
        body = await json_body(request)
        with self.lock:
            return create_event(self, body)

    async def _login(self, request: Request, body: JsonBody) -> Any:
        if not isinstance(body, Mapping):
            return bad_request([invalid_param("body", "invalid_value_format", "Body must be an object")])
        missing = [
            invalid_param(name, "required", f"Parameter {name} is required")
            for name in ("user_external_application_id", "login", "password")
            if not isinstance(body.get(name), str) or not body.get(name)
        ]
        if missing:
            return bad_request(missing)
        self._remember_language(request)
        with self.lock:
            if body["user_external_application_id"] not in self.external_application_ids:
                return not_found("external-applications", "")
            user = self.users.get(body["login"])
            if user is None or user["password"] != body["password"]:
                return error_body(403, "forbidden_exception", "Forbidden", "Invalid login or password", {})
            token = secrets.token_hex(20)
            self.tokens[token] = {
                "login": user["login"],
                "expires_at": time.time() + self.token_lifetime_seconds,
            }
            self.login_count += 1
            valid_to = self.local_now() + timedelta(seconds=self.token_lifetime_seconds)
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

    def _event_routes(self, router: APIRouter) -> None:
        emu = self

        @router.get("/events")
        async def list_events(request: Request, opts: EventPaging) -> Any:
            bounds, type_ids, include = event_list_filters(request)
            q = request.query_params
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
        async def get_event(event_id: str) -> Any:
            with emu.lock:
                event = emu._events_by_id.get(event_id)
                if event is None:
                    return not_found("events", event_id)
                return {"data": emu._event_view(event, include_records=False)}

        @router.get("/events/{event_id}/property-records")
        async def get_event_records(event_id: str) -> Any:
            with emu.lock:
                if event_id not in emu._events_by_id:
                    return not_found("events", event_id)
                records = [dict(r) for r in emu._records.get(event_id, [])]
            return {"data": {"property_records": records, "total_items": len(records)}}

        @router.api_route("/events", methods=["PUT", "PATCH", "DELETE"])
        @router.api_route("/events/{event_id}", methods=["POST", "PUT", "PATCH", "DELETE"])
        async def not_allowed(request: Request) -> Any:
            return error_body(
                405,
                "method_not_allowed_exception",
                "Method not allowed",
                f"Method {request.method} is not allowed",
                {"http_method": request.method},
            )

    def _type_and_property_routes(self, router: APIRouter) -> None:
        emu = self

        @router.get("/event-types")
        async def list_event_types(request: Request, opts: TypePaging) -> Any:
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
            return paged(items, opts, "event_types")

        @router.get("/event-types/{event_type_id}")
        async def get_event_type(event_type_id: str) -> Any:
            with emu.lock:
                return found(emu.event_types, "event-types", event_type_id)

        @router.get("/event-types/{event_type_id}/event-properties")
        async def get_event_type_properties(event_type_id: str, opts: PropertyPaging) -> Any:
            with emu.lock:
                if event_type_id not in emu.event_types:
                    return not_found("event-types", event_type_id)
                items = [dict(emu.properties[p]) for p in emu.type_properties.get(event_type_id, [])]
            return paged(items, opts, "event_properties")

        @router.get("/event-properties")
        async def list_event_properties(request: Request, opts: PropertyPaging) -> Any:
            name = (request.query_params.get("name") or "").lower()
            with emu.lock:
                items = [
                    dict(p) for p in emu.properties.values() if not name or name in str(p["name"]).lower()
                ]
            return paged(items, opts, "event_properties")

        @router.get("/event-properties/{event_property_id}")
        async def get_event_property(event_property_id: str) -> Any:
            with emu.lock:
                return found(emu.properties, "event-properties", event_property_id)
