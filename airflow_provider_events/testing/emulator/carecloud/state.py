"""The CareCloud emulator's memory: users, tokens, customers, event types, properties and events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from airflow_provider_events.testing.emulator.base import VendorEmulator
from airflow_provider_events.testing.emulator.carecloud.contract import (
    CUSTOMER_IDS,
    DEFAULT_APP_ID,
    DEFAULT_LOGIN,
    DEFAULT_PASSWORD,
    EVENT_FIELDS,
    NEWSLETTER_TYPE_ID,
    PURCHASE_TYPE_ID,
    default_properties,
    new_id,
    normalize_datetime,
)


class CareCloudState(VendorEmulator):
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
        props = default_properties()
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
                self.store_event(
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
    def store_event(
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
        self._dedup.add(self.dedup_key(event))
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
    def dedup_key(event: Mapping[str, Any]) -> tuple[str, str, str, str]:
        return (
            str(event.get("event_type_id") or ""),
            str(event.get("customer_id") or ""),
            str(event.get("external_id") or ""),
            str(event.get("secondary_external_id") or ""),
        )

    def is_duplicate(self, fields: Mapping[str, Any]) -> bool:
        """Whether an event with these type, customer and external ids is stored already."""
        return self.dedup_key(fields) in self._dedup

    def _event_view(self, event: Mapping[str, Any], *, include_records: bool) -> dict[str, Any]:
        view = dict(event)
        view["property_records"] = (
            [dict(r) for r in self._records.get(event["event_id"], [])] if include_records else None
        )
        return view
