"""The CareCloud catalogue: event types and event properties, read page by page.

:class:`CareCloudCatalog` is the part of :class:`~airflow_provider_events.hooks.carecloud.CareCloudHook` that
lists, finds and caches what events are made of (the properties of an event type are fetched once per hook
instance, for validating property records before sending).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.hooks.pagination import paginate_offset


class CareCloudCatalog(BaseEventsHook):
    """Event types and event properties of a CareCloud project (see the module).

    :param conn_id: the ``carecloud`` connection id.
    :param kwargs: the HTTP core's options.
    """

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        self._catalog_lock = threading.Lock()
        self._properties_cache: dict[str, dict[str, dict[str, Any]]] = {}

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
            "sort_direction": checked_sort_direction(sort_direction),
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
        if not matches:
            raise ConfigurationError(f"CareCloud: no event type with text_id or name {name_or_text_id!r}")
        if len(matches) > 1:
            ids = ", ".join(sorted(str(t.get("event_type_id")) for t in matches))
            raise ConfigurationError(
                f"CareCloud: {len(matches)} event types are named {name_or_text_id!r} ({ids}); "
                "give event_type_id or the text_id instead"
            )
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
        params: dict[str, Any] = {
            "sort_field": sort_field,
            "sort_direction": checked_sort_direction(sort_direction),
        }
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


def checked_sort_direction(value: Any) -> str | None:
    """``ASC`` or ``DESC`` (any case), ``None`` when not given.

    :raises ValueError: anything else.
    """
    if value in (None, ""):
        return None
    direction = str(value).upper()
    if direction not in ("ASC", "DESC"):
        raise ValueError("sort_direction must be ASC or DESC")
    return direction
