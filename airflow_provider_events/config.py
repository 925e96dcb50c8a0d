"""Deployment-wide settings: the ``[provider_events]`` section of Airflow's configuration.

Every option can be set in ``airflow.cfg``::

    [provider_events]
    state_dir = /var/lib/airflow/provider-events
    acton_max_requests_per_second = 2

or through the environment as ``AIRFLOW__PROVIDER_EVENTS__<KEY>`` (``AIRFLOW__PROVIDER_EVENTS__STATE_DIR``).
The section is declared in the provider info, so ``airflow config list`` shows it with its defaults.

Precedence, highest first:

1. what a task is given explicitly (an operator or hook argument, a connection extra);
2. the ``[provider_events]`` option, from ``AIRFLOW__PROVIDER_EVENTS__<KEY>`` or ``airflow.cfg``;
3. the legacy environment variables ``AIRFLOW_PROVIDER_EVENTS_STATE_DIR`` and
   ``AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR`` (still honoured, for deployments set up before the section existed);
4. the built-in default.

The accessors read Airflow's configuration lazily, on each call (nothing is read at import, so DAG parsing
pays nothing for this module), and an empty option counts as unset.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_events.vendors import BUILTIN_VENDORS

if TYPE_CHECKING:
    from airflow_provider_events.hooks.token_store import FileTokenStore, VariableTokenStore

SECTION = "provider_events"
LEGACY_STATE_DIR_ENV = "AIRFLOW_PROVIDER_EVENTS_STATE_DIR"
LEGACY_TOKEN_DIR_ENV = "AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR"  # noqa: S105 - a variable name, not a secret
DEFAULT_TOKEN_STORE = "auto"  # noqa: S105 - a store kind, not a secret

#: the vendors (connection types) that get a ``<vendor>_max_requests_per_second`` option: the built-in ones.
VENDORS = tuple(spec.conn_type for spec in BUILTIN_VENDORS)


def _option(description: str, example: str, *, type_: str = "string") -> dict[str, Any]:
    return {
        "description": description,
        "version_added": None,
        "type": type_,
        "example": example,
        "default": "",
    }


def _pacing_option(vendor: str) -> dict[str, Any]:
    return _option(
        f"Default client-side pacing (requests per second) of every {vendor} call, used when neither the "
        "operator's max_requests_per_second nor the connection's max_requests_per_second extra is set. "
        "Empty: the built-in default of the vendor (see its page); 0: no pacing.",
        "2",
        type_="float",
    )


#: The ``config`` entry of the provider info: one section, every option defaulting to empty (= unset).
CONFIG_DESCRIPTION: dict[str, Any] = {
    SECTION: {
        "description": (
            "Deployment-wide settings of airflow-provider-events: state, rejects, tokens, pacing."
        ),
        "options": {
            "state_dir": _option(
                "Local directory for checkpoints and spool files of the sync (and rejects files unless "
                "rejects_location is set). Empty: $AIRFLOW_PROVIDER_EVENTS_STATE_DIR, else "
                "<system temp>/airflow-provider-events.",
                "/var/lib/airflow/provider-events",
            ),
            "rejects_location": _option(
                "Root under which the default rejects files are written, one directory per DAG run: a local "
                "path or an ObjectStoragePath URI (s3://bucket/prefix). Empty: <state_dir>/rejects.",
                "s3://my-bucket/airflow/rejects",
            ),
            "ledger_location": _option(
                "Root of the delivery ledger (the keys every earlier DAG run delivered, per destination): a "
                "local path every worker shares, or an ObjectStoragePath URI. Empty: "
                "$AIRFLOW_PROVIDER_EVENTS_LEDGER_PATH, else a 'ledger' folder beside rejects_location when "
                "that is object storage, else <state_dir>/ledger (one host only).",
                "s3://my-bucket/airflow/ledger",
            ),
            "token_dir": _option(
                "Directory of the shared access-token cache (owner-only files, flock-guarded). Empty: "
                "$AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR, else a per-user folder under the system temp dir.",
                "/var/lib/airflow/provider-events-tokens",
            ),
            "token_store": _option(
                "Where hooks share access tokens when a connection's token_store extra does not say: auto "
                "(local files on LocalExecutor, Airflow Variables on any multi-host executor), variable, "
                "local, or the import path of a token store class (called with no argument). Empty: auto.",
                DEFAULT_TOKEN_STORE,
            ),
            **{f"{vendor}_max_requests_per_second": _pacing_option(vendor) for vendor in VENDORS},
        },
    }
}


def get(key: str) -> str | None:
    """The raw ``[provider_events]`` option ``key``, or ``None`` when it is unset or empty."""
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # Airflow < 3.1 has no task-SDK configuration module
        from airflow.configuration import conf
    value = conf.get(SECTION, key, fallback=None)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _legacy_env(name: str) -> str | None:
    return os.environ.get(name) or None


def state_dir() -> Path:
    """The local state directory: ``state_dir``, else ``$AIRFLOW_PROVIDER_EVENTS_STATE_DIR``, else
    ``<system temp>/airflow-provider-events``."""
    configured = get("state_dir") or _legacy_env(LEGACY_STATE_DIR_ENV)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "airflow-provider-events"


def rejects_location() -> str:
    """Where default rejects files go: ``rejects_location`` (a path or an ``ObjectStoragePath`` URI),
    else ``<state_dir>/rejects``. Returned without a trailing slash."""
    configured = get("rejects_location")
    return configured.rstrip("/") if configured else str(state_dir() / "rejects")


def ledger_location() -> str | None:
    """The deployment's shared ledger root: ``ledger_location``, else a ``ledger`` folder beside an
    object-storage ``rejects_location`` (``s3://b/airflow/rejects`` -> ``s3://b/airflow/ledger``); ``None``
    when neither is set (the ledger then stays on this host's state directory)."""
    configured = get("ledger_location")
    if configured:
        return configured.rstrip("/")
    rejects = get("rejects_location")
    if not rejects or "://" not in rejects or rejects.startswith("file://"):
        return None
    scheme, _, rest = rejects.rstrip("/").partition("://")
    parent = rest.rsplit("/", 1)[0] if "/" in rest else rest
    return f"{scheme}://{parent}/ledger"


#: executors whose tasks all run on one host, where a local file is shared by every task.
SINGLE_HOST_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})


def configured_executors() -> str:
    """The ``[core] executor`` setting (may list several executors), or ``""`` when unreadable."""
    try:
        from airflow.configuration import conf

        return str(conf.get("core", "executor", fallback="") or "")
    except Exception:
        return ""


def tasks_run_on_one_host() -> bool:
    """True when every configured executor runs tasks on this host (or none is configured)."""
    executors = [part.split(":")[-1].strip().rsplit(".", 1)[-1] for part in configured_executors().split(",")]
    executors = [name for name in executors if name]
    return not executors or all(name in SINGLE_HOST_EXECUTORS for name in executors)


def token_dir() -> Path:
    """The token-cache directory: ``token_dir``, else ``$AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR``, else
    ``<system temp>/airflow-provider-events-tokens-<uid>``."""
    configured = get("token_dir") or _legacy_env(LEGACY_TOKEN_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"airflow-provider-events-tokens-{os.getuid()}"


def token_store_setting() -> str:
    """The deployment's ``token_store``: ``auto`` (default), ``variable``, ``local`` or a class path."""
    return get("token_store") or DEFAULT_TOKEN_STORE


def token_store_class(path: str | None = None) -> type[Any]:
    """The token store class named by an import path (default: the ``token_store`` option).

    :raises ConfigurationError: the path does not name an importable class.
    """
    from airflow_provider_events.exceptions import ConfigurationError

    path = path or token_store_setting()
    module_name, _, class_name = path.rpartition(".")
    try:
        import importlib

        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigurationError(f"[{SECTION}] token_store: cannot import {path!r}") from err
    if not isinstance(found, type):
        raise ConfigurationError(f"[{SECTION}] token_store: {path!r} is not a class")
    return found


def token_store() -> FileTokenStore | VariableTokenStore:
    """A new instance of the deployment's token store (see :func:`token_store_setting`)."""
    from airflow_provider_events.hooks.token_store import token_store_for

    return token_store_for(None)


def max_requests_per_second(vendor: str, default: float | None = None) -> float | None:
    """The deployment's pacing for ``vendor`` (its connection type): ``<vendor>_max_requests_per_second``,
    else ``default``. ``0`` means no pacing and is returned as ``None``.

    :raises ConfigurationError: the option is not a non-negative number.
    """
    from airflow_provider_events.exceptions import ConfigurationError

    raw = get(f"{vendor}_max_requests_per_second")
    if raw is None:
        return default
    try:
        rate = float(raw)
    except ValueError as err:
        raise ConfigurationError(f"[{SECTION}] {vendor}_max_requests_per_second: not a number") from err
    if rate < 0:
        raise ConfigurationError(f"[{SECTION}] {vendor}_max_requests_per_second must not be negative")
    return rate or None
