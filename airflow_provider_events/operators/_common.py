"""What every operator of the provider does the same way: read the task's identity and state store from the
Airflow context, and refuse to retry a send whose outcome is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from airflow.sdk import Context

from airflow_provider_events.exceptions import (
    RejectedThresholdExceededError,
    VendorApiError,
    VendorUnavailableError,
)
from airflow_provider_events.sync.thresholds import describe, exceeded_limits
from airflow_provider_events.utils.coerce import as_float, as_int

if TYPE_CHECKING:
    from airflow_provider_events.sync.adapter import CheckpointState
    from airflow_provider_events.sync.checkpoint import CheckpointIdentity


def context_value(context: Context, name: str) -> object | None:
    """``context[name]``, or ``None`` when this Airflow version's context has no such entry."""
    entries: Mapping[str, object] = context
    return entries.get(name)


def task_state_store(context: Context) -> object | None:
    """``context["task_state_store"]``: the state that follows the task to any worker (Airflow >= 3.3).

    ``None`` on earlier versions, whose context has no such entry.
    """
    return context_value(context, "task_state_store")


def task_identity(context: Context) -> CheckpointIdentity:
    """The running task instance as the delivery engine's checkpoint identity (DAG, run, task, map index)."""
    from airflow_provider_events.sync.checkpoint import CheckpointIdentity

    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    return CheckpointIdentity(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=-1 if map_index is None else int(map_index),
    )


def task_checkpoint(context: Context, checkpoint_path: str | None) -> CheckpointState:
    """The running task's checkpoint, re-read by its retries.

    It lives in the task state store when Airflow has one, else at ``checkpoint_path`` (default: the local
    state directory).
    """
    from airflow_provider_events.sync.checkpoint import open_checkpoint

    return open_checkpoint(task_identity(context), checkpoint_path, task_state_store(context))


@contextmanager
def no_retry_when_ambiguous(retry_ambiguous: bool, explain: Callable[[Exception], str]) -> Iterator[None]:
    """Fail the task *without* Airflow retries when a non-idempotent send may have reached the vendor.

    A vendor error or outage marked ``ambiguous`` (a timeout after sending, a dropped connection, a 5xx)
    raises ``AirflowFailException`` with ``explain(exc)`` unless ``retry_ambiguous`` is set; a failure known
    not to have reached the vendor (refused connection, 429, 4xx) propagates and is retried as usual.
    """
    try:
        yield
    except (VendorApiError, VendorUnavailableError) as exc:
        if exc.ambiguous and not retry_ambiguous:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(explain(exc)) from exc
        raise


def check_rejected(
    rejected: int,
    rows: int,
    max_rejected: object,
    max_rejected_ratio: object,
    explain: Callable[[str], str],
) -> None:
    """Raise when ``rejected`` of ``rows`` exceeds the task's thresholds (the provider's one rule,
    :mod:`~airflow_provider_events.sync.thresholds`).

    :param max_rejected: the ``max_rejected`` argument as rendered (text is converted, naming the argument).
    :param max_rejected_ratio: the ``max_rejected_ratio`` argument as rendered.
    :param explain: the error message around the threshold's description (``"3 of 10 rows rejected ..."``).
    :raises RejectedThresholdExceededError: when a threshold is exceeded.
    """
    limits = exceeded_limits(
        rejected,
        rows,
        as_int("max_rejected", max_rejected, minimum=0, optional=True),
        as_float("max_rejected_ratio", max_rejected_ratio, minimum=0, maximum=1, optional=True),
    )
    if limits:
        raise RejectedThresholdExceededError(explain(describe(rejected, rows, limits)))
