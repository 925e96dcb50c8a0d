"""Wiring of one sync from connection ids: destination hook + adapter, checkpoint, rejects file, engine.

:func:`sync_rows` is what :class:`~airflow_provider_events.operators.sync.SqlToEventsOperator` runs; call it
from a ``@task`` or a script as well::

    from airflow_provider_events.sync.runner import sync_rows
    from airflow_provider_events.sync.source import SqlSource
    from airflow_provider_events.sync.checkpoint import CheckpointIdentity

    report = sync_rows(
        destination_conn_id="gainsight_px_default",
        source=SqlSource("warehouse", "SELECT user_id, event FROM events"),
        mapping={"identifyId": "user_id", "eventName": "event"},
        identity=CheckpointIdentity("my_dag", "run-1", "sync"),
    )
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.sync.adapter import EventAdapter, adapter_class_for
from airflow_provider_events.sync.checkpoint import CheckpointIdentity, open_checkpoint
from airflow_provider_events.sync.engine import SyncOptions, run_sync
from airflow_provider_events.sync.ledger import LedgerOptions, open_ledger
from airflow_provider_events.sync.mapping import RowMapping
from airflow_provider_events.sync.pacing import delivery_concurrency, delivery_rate_limiter, pool_size
from airflow_provider_events.sync.rejects import RejectsWriter, default_rejects_path
from airflow_provider_events.sync.report import DeliveryReport
from airflow_provider_events.sync.source import RowSource
from airflow_provider_events.utils.ratelimit import RateLimiter
from airflow_provider_events.vendors import import_class, vendor

logger = logging.getLogger(__name__)


def _hook_class_by_module(conn_type: str) -> type[BaseEventsHook]:
    """The hook class the vendor registry names for a connection type (imported now)."""
    try:
        spec = vendor(conn_type)
    except KeyError:
        raise ConfigurationError(f"no hook class for connection type {conn_type!r}") from None
    cls: type[BaseEventsHook] = import_class(spec.hook_class)
    return cls


def destination_hook(conn: Any, pool_maxsize: int, rate_limiter: RateLimiter | None = None) -> BaseEventsHook:
    """The registered hook of the destination connection's type, built with ``pool_maxsize`` pooled
    connections and, when given, the ``rate_limiter`` that paces it (else the hook's own default)."""
    params: dict[str, Any] = {"pool_maxsize": pool_maxsize}
    if rate_limiter is not None:
        params["rate_limiter"] = rate_limiter
    hook: Any = None
    try:
        hook = conn.get_hook(hook_params=params)
    except Exception:
        hook = None
    if isinstance(hook, BaseEventsHook):
        return hook
    return _hook_class_by_module(conn.conn_type)(conn.conn_id, **params)


def build_adapter(
    destination_conn_id: str,
    destination_options: Mapping[str, Any] | None = None,
    max_concurrency: int | None = None,
    max_requests_per_second: float | None = None,
) -> EventAdapter:
    """The adapter for the destination connection's type, on a hook built for the delivery.

    The hook is built with a pool sized for the concurrency and, for a per-event adapter, a token bucket at
    the sync's pace (see :mod:`~.pacing`); nothing changes the hook afterwards.

    :param max_concurrency: the sync's ``max_concurrency`` (``None``: the adapter's default).
    :param max_requests_per_second: the sync's pace (``None``: the connection's extra, else the defaults).
    """
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(destination_conn_id)
    conn_type = str(conn.conn_type or "")
    adapter_cls = adapter_class_for(conn_type)
    limiter = delivery_rate_limiter(
        conn, adapter_cls, _hook_class_by_module(conn_type), max_requests_per_second
    )
    concurrency = delivery_concurrency(adapter_cls, max_concurrency)
    hook = destination_hook(conn, pool_size(concurrency), limiter)
    return adapter_cls(hook, destination_options)


def sync_rows(
    *,
    destination_conn_id: str,
    source: RowSource,
    mapping: Mapping[str, Any] | RowMapping | None,
    identity: CheckpointIdentity,
    destination_options: Mapping[str, Any] | None = None,
    options: SyncOptions | None = None,
    rejects_path: str | None = None,
    checkpoint_path: str | None = None,
    log: Any = None,
    task_state_store: Any = None,
    ledger: LedgerOptions | None = None,
) -> DeliveryReport:
    """Run one sync end to end and return its report (raising as :func:`~.engine.run_sync` does).

    :param destination_conn_id: the vendor connection; its type picks the adapter.
    :param source: the rows.
    :param mapping: the mapping (or a compiled :class:`~.mapping.RowMapping`).
    :param identity: the task instance the checkpoint and default rejects file belong to.
    :param destination_options: vendor options (see each adapter).
    :param options: engine options.
    :param rejects_path: the rejects file (default: under the state directory, one directory per run).
    :param checkpoint_path: the checkpoint root (default: the task state store when given, else the local
        state directory).
    :param log: where progress goes.
    :param task_state_store: ``context["task_state_store"]`` (Airflow >= 3.3): where the checkpoint lives
        when ``checkpoint_path`` is not set, so it follows the task to any worker.
    :param ledger: the delivery ledger's options (default: on, 30 days; see :mod:`~.ledger`).
    """
    options = options or SyncOptions()
    compiled = mapping if isinstance(mapping, RowMapping) else RowMapping(mapping)
    adapter = build_adapter(
        destination_conn_id,
        destination_options,
        options.max_concurrency,
        options.max_requests_per_second,
    )
    path = rejects_path or default_rejects_path(
        identity.dag_id, identity.run_id, identity.task_id, identity.map_index
    )
    checkpoint = open_checkpoint(identity, checkpoint_path, task_state_store)
    delivery_ledger = None
    try:
        # the delivery ledger is shared by every run to this destination; keys an earlier attempt of this
        # task acknowledged are recorded first (a hard kill may have kept them out of it)
        delivery_ledger = open_ledger(
            adapter.destination_id(),
            ledger,
            checkpoint_path,
            carried_over=checkpoint.done,
            log=log or logger,
            slot=f"{identity.dag_id}.{identity.task_id}.{identity.map_index}",
            holder=f"{identity.dag_id}/{identity.run_id}/{identity.task_id}/{identity.map_index}",
        )
        return run_sync(
            adapter=adapter,
            source=source,
            mapping=compiled,
            checkpoint=checkpoint,
            rejects=RejectsWriter(path),
            options=options,
            log=log or logger,
            ledger=delivery_ledger,
        )
    finally:
        if delivery_ledger is not None:
            delivery_ledger.close()
        checkpoint.close()
        adapter.hook.close()
