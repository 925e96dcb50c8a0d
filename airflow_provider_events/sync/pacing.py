"""How fast and how wide a per-event delivery goes: the pace and the pool its hook is built with.

The runner builds the destination hook with these (``pool_maxsize``, ``rate_limiter``), so nothing rewrites a
hook after it is built. The pace, first that holds:

1. the sync's ``max_requests_per_second`` (``0``: unpaced);
2. the connection's ``max_requests_per_second`` extra (``0``: unpaced);
3. the deployment's ``[provider_events] <vendor>_max_requests_per_second``, else the adapter's
   ``default_max_requests_per_second``, else the hook's ``default_requests_per_second``.

A hook built without a limiter (an adapter made by hand, not by the runner) paces at its own default
(:meth:`~airflow_provider_events.hooks.base.BaseEventsHook.default_rate_limiter`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_events import config
from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.hooks.connection_fields import connection_extras
from airflow_provider_events.sync.adapter import EventAdapter, PerEventAdapter
from airflow_provider_events.utils.ratelimit import RateLimiter, TokenBucket

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: connections every hook keeps alive at least, whatever the concurrency
MIN_POOL_SIZE = 16


def delivery_concurrency(adapter_cls: type[EventAdapter], requested: int | None) -> int:
    """Concurrent requests of one sync: the sync's ``max_concurrency``, else the adapter's default."""
    return requested or adapter_cls.default_max_concurrency


def pool_size(concurrency: int) -> int:
    """Connections the hook keeps alive for ``concurrency`` concurrent requests."""
    return max(MIN_POOL_SIZE, concurrency)


def delivery_rate(
    conn: Connection,
    adapter_cls: type[EventAdapter],
    hook_cls: type[BaseEventsHook],
    requested: float | None,
) -> float | None:
    """Requests per second of one sync to the connection ``conn`` (``None``: unpaced); see the module."""
    if requested is not None:
        return requested or None
    try:
        configured = connection_extras(conn, hook_cls.conn_type).get("max_requests_per_second")
    except Exception:
        configured = None
    if configured not in (None, ""):
        return float(configured) or None
    vendor_default = adapter_cls.default_max_requests_per_second or hook_cls.default_requests_per_second
    return config.max_requests_per_second(hook_cls.conn_type, vendor_default)


def delivery_rate_limiter(
    conn: Connection,
    adapter_cls: type[EventAdapter],
    hook_cls: type[BaseEventsHook],
    requested: float | None,
) -> RateLimiter | None:
    """The limiter a per-event delivery's hook is built with; ``None`` for a batch adapter, whose hook
    keeps its own pacing (Act-On's shared account limiter)."""
    if not issubclass(adapter_cls, PerEventAdapter):
        return None
    return TokenBucket(delivery_rate(conn, adapter_cls, hook_cls, requested))
