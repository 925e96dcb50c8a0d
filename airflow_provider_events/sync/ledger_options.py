"""Where a destination's delivery ledger lives, and how a sync uses it.

:class:`LedgerOptions`, :func:`ledger_root` (the resolution order is in :mod:`~.ledger`'s docstring) and the
destination's folder name; re-exported by :mod:`~.ledger`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_events import config
from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.sync.rejects import safe_part, state_root

logger = logging.getLogger("airflow_provider_events.sync.ledger")

LEDGER_PATH_ENV = "AIRFLOW_PROVIDER_EVENTS_LEDGER_PATH"
RETENTION_ENV = "AIRFLOW_PROVIDER_EVENTS_LEDGER_RETENTION_DAYS"
#: a month: longer than the usual re-run and backfill horizon of a daily marketing sync, and Airflow's own
#: ``[state_store] default_retention_days``. A key re-read after this window is sent again.
DEFAULT_RETENTION_DAYS = 30.0


def as_bool(name: str, value: Any) -> bool:
    """A switch given as a bool or as rendered template text (``"True"``, ``"false"``, ``"1"``)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", "", "none"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class LedgerOptions:
    """How a sync uses the delivery ledger (the operator's ``resend_delivered``, ``ledger_path`` ...).

    :param enabled: consult and update the ledger at all (``False``: only the task's checkpoint applies).
    :param resend_delivered: send events an earlier run delivered again (counted in ``resent_delivered``);
        acknowledgements are still recorded.
    :param path: the ledger root, a local directory or an ``ObjectStoragePath`` URI; ``None``: see the
        module docstring.
    :param retention_days: how long a delivered key is remembered; ``None``:
        ``$AIRFLOW_PROVIDER_EVENTS_LEDGER_RETENTION_DAYS``, else 30.
    :param flush_interval: seconds of acknowledgements buffered before a segment is written.
    :param flush_records: write a segment once this many acknowledgements are buffered.
    :param refresh_interval: seconds between looks for segments other runs wrote meanwhile.
    :param compact_threshold: merge a day's segments when it holds more than this many.
    :param serialize_runs: runs of the same task slot (DAG, task, map index) to one destination wait for
        each other (:mod:`~.ledger_lease`), so the later one reads what the earlier one delivered.
    """

    enabled: bool = True
    resend_delivered: bool = False
    path: str | None = None
    retention_days: float | None = None
    flush_interval: float = 10.0
    flush_records: int = 50_000
    refresh_interval: float = 30.0
    compact_threshold: int = 16
    serialize_runs: bool = True

    def resolved_retention_days(self) -> float:
        days = self.retention_days
        if days is None:
            configured = os.environ.get(RETENTION_ENV)
            days = float(configured) if configured else DEFAULT_RETENTION_DAYS
        if float(days) <= 0:
            raise ConfigurationError(f"the ledger retention must be a positive number of days, got {days}")
        return float(days)


def ledger_root(path: str | None = None, checkpoint_path: str | None = None) -> Any:
    """The ledger root: a :class:`~pathlib.Path` or an ``ObjectStoragePath`` (see the module docstring)."""
    chosen = path or config.get("ledger_location") or os.environ.get(LEDGER_PATH_ENV)
    if not chosen and checkpoint_path and "://" in str(checkpoint_path):
        chosen = str(checkpoint_path).rstrip("/") + "/ledger"
    chosen = chosen or config.ledger_location()  # beside an object-storage rejects_location
    if not chosen:
        if not config.tasks_run_on_one_host():
            logger.warning(
                "The delivery ledger is on this worker's disk (%s) while tasks run on several hosts: a "
                "run on another worker will not see what this one delivered. Set [%s] ledger_location "
                "(or rejects_location) to object storage, or the operator's ledger_path.",
                state_root() / "ledger",
                config.SECTION,
            )
        return state_root() / "ledger"
    text = str(chosen)
    if "://" not in text:
        return Path(text)
    if text.startswith("file://"):
        return Path(text[len("file://") :])
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(text)


def destination_dir_name(destination: str) -> str:
    """A readable, collision-free directory name for a destination id."""
    digest = hashlib.sha256(destination.encode("utf-8")).hexdigest()[:12]
    return f"{safe_part(destination)[:80]}-{digest}"
