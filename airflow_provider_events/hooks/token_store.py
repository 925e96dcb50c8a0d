"""Token caches shared by every task and worker process that uses the same vendor account.

Act-On allows five password logins per hour per account and rotates a single-use refresh token on every
refresh; CareCloud tokens live for hours. Asking for a token per task would burn those budgets, so tokens
are kept in a store keyed by the *account* (base URL + user + client), not by the Airflow task.

Two stores, chosen per connection with the extra ``token_store`` (see :func:`token_store_for`):

* :class:`FileTokenStore` (``local``) keeps one JSON file per account in a directory readable by the owner
  only, and serialises refreshes with an exclusive ``flock``: when two tasks need a token at once, the
  second waits and then finds the first one's fresh token. It is shared by the processes of one host.
* :class:`VariableTokenStore` (``variable``) keeps the token in an Airflow Variable, so every worker, pod,
  the triggerer and the API server see it without a shared disk. Airflow encrypts Variables with its Fernet
  key when one is configured, and the key's name contains ``token``, so the UI and logs hide the value.
  Variables have no compare-and-swap, so hosts coordinate optimistically with a short *lease* written
  before a renewal (see :class:`~airflow_provider_events.hooks.token_keeper.TokenKeeper`); processes of one
  host still serialise on a local ``flock`` first.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_events import config
from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.security import mask

TOKEN_DIR_ENV = "AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR"  # noqa: S105 - a variable name, not a secret
#: deployment-wide default of the ``token_store`` connection extra (``auto``, ``variable`` or ``local``).
TOKEN_STORE_ENV = "AIRFLOW_PROVIDER_EVENTS_TOKEN_STORE"  # noqa: S105 - a variable name, not a secret
#: prefix of the Airflow Variables that hold tokens ("token" in the name makes Airflow hide the value).
VARIABLE_PREFIX = "provider_events_token_"
#: executors whose tasks all run on one host, where the local file store is shared by every task.
SINGLE_HOST_EXECUTORS = config.SINGLE_HOST_EXECUTORS

log = logging.getLogger(__name__)


@dataclass
class CachedToken:
    """An access token and what is needed to renew it.

    :param access_token: the bearer token.
    :param expires_at: epoch seconds after which the vendor no longer accepts it.
    :param refresh_token: the (possibly single-use) refresh token, when the vendor issues one.
    :param extra: vendor-specific facts worth keeping (never secrets other than the two above).
    """

    access_token: str
    expires_at: float
    refresh_token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def usable(self, margin: float = 60.0, *, now: float | None = None) -> bool:
        """True while the token is valid for at least ``margin`` more seconds."""
        return bool(self.access_token) and (time.time() if now is None else now) < self.expires_at - margin

    def __repr__(self) -> str:  # never print the secrets
        refresh = "set" if self.refresh_token else None
        return f"CachedToken(expires_at={self.expires_at!r}, refresh_token={refresh})"


@dataclass(frozen=True)
class Lease:
    """A note left in a shared store by the process that is renewing the account's token right now.

    :param owner: a random id of the renewing hook instance.
    :param since: epoch seconds when the renewal started.
    """

    owner: str
    since: float

    def fresh(self, ttl: float, *, now: float | None = None) -> bool:
        """True while the renewal may still be under way (younger than ``ttl`` seconds)."""
        return (time.time() if now is None else now) - self.since < ttl


def account_key(*parts: str | None) -> str:
    """A stable, non-reversible file key for an account, from e.g. vendor, base URL, user and client id."""
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:40]


class TokenSlot(Protocol):
    """One account's entry while the store's (host-local) lock is held.

    Read :attr:`token` and :attr:`lease`, then :meth:`save`, :meth:`clear` or :meth:`take_lease`.
    """

    token: CachedToken | None
    lease: Lease | None

    def save(self, token: CachedToken) -> None:
        """Persist ``token`` (and drop any lease)."""

    def clear(self) -> None:
        """Forget the stored token (e.g. after the vendor revoked it)."""

    def take_lease(self, owner: str) -> None:
        """Announce that ``owner`` is renewing the token now (keeps the stored token)."""


class TokenStore(Protocol):
    """Where a hook keeps an account's token: see :class:`FileTokenStore` and :class:`VariableTokenStore`."""

    #: whether processes on other hosts share the entries (then renewals are coordinated by leases).
    shared_across_hosts: bool

    def transaction(self, key: str) -> contextlib.AbstractContextManager[TokenSlot]:
        """Hold the account's lock (on this host) for the block and yield its slot."""

    def peek(self, key: str) -> CachedToken | None:
        """The stored token, read without taking the lock."""

    def peek_lease(self, key: str) -> Lease | None:
        """The stored lease, read without taking the lock."""


class FileTokenSlot:
    """A :class:`FileTokenStore` entry while its ``flock`` is held."""

    lease: Lease | None = None  # the flock already serialises renewals: no lease needed

    def __init__(self, path: Path, token: CachedToken | None) -> None:
        self._path = path
        self.token = token

    def save(self, token: CachedToken) -> None:
        """Persist ``token`` atomically with owner-only permissions."""
        self.token = token
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(token), handle)
        os.replace(tmp, self._path)

    def clear(self) -> None:
        """Forget the stored token (e.g. after the vendor revoked it)."""
        self.token = None
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def take_lease(self, owner: str) -> None:
        """Nothing to do: the ``flock`` held by this slot already keeps other processes out."""


class FileTokenStore:
    """Tokens in owner-only files under ``directory``, one per account, guarded by ``flock``.

    :param directory: where to keep the files; default ``[provider_events] token_dir`` (see
        :mod:`airflow_provider_events.config`).
    """

    shared_across_hosts = False

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory else config.token_dir()

    @contextlib.contextmanager
    def transaction(self, key: str) -> Iterator[FileTokenSlot]:
        """Hold the account's lock for the duration of the block and yield its slot."""
        path = self.directory / f"{key}.json"
        with host_lock(self.directory, key):
            yield FileTokenSlot(path, self._read(path))

    def peek(self, key: str) -> CachedToken | None:
        """Read the stored token without taking the lock (a cheap check before locking)."""
        return self._read(self.directory / f"{key}.json")

    def peek_lease(self, key: str) -> Lease | None:
        """Always ``None``: renewals are serialised by the lock."""
        return None

    @staticmethod
    def _read(path: Path) -> CachedToken | None:
        try:
            data = json.loads(path.read_text())
            return CachedToken(**data)
        except (FileNotFoundError, ValueError, TypeError):
            return None


def default_token_dir() -> Path:
    """A per-user folder under the system temp directory."""
    return Path(tempfile.gettempdir()) / f"airflow-provider-events-tokens-{os.getuid()}"


@contextlib.contextmanager
def host_lock(directory: Path, key: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``directory/<key>.lock``: one process of this host at a time."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock_fd = os.open(directory / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)


# ------------------------------------------------------------------------------------------ Variables
def running_under_airflow_supervisor() -> bool:
    """True inside a task, the triggerer or the DAG processor, where Variables go through the execution API.

    The same test Airflow itself uses in ``airflow.models.Variable`` (``SUPERVISOR_COMMS`` is set).
    """
    return hasattr(sys.modules.get("airflow.sdk.execution_time.task_runner"), "SUPERVISOR_COMMS")


def read_variable(key: str) -> str | None:
    """A Variable's raw value, or ``None``: through the Task SDK in a task or the triggerer (execution API),
    through the metadata DB elsewhere (a script, the API server, the scheduler)."""
    if running_under_airflow_supervisor():
        from airflow.sdk import Variable

        with contextlib.suppress(ImportError):  # with [secrets] use_cache, a cached token may be stale
            from airflow.sdk.execution_time.cache import SecretCache

            SecretCache.invalidate_variable(key)
        value = Variable.get(key, default=None)
    else:
        from airflow.models.variable import Variable as DbVariable

        value = DbVariable.get(key, default_var=None)
    return None if value is None else str(value)


def write_variable(key: str, value: str) -> None:
    """Set a Variable (Task SDK in a task or the triggerer, the metadata DB elsewhere)."""
    if running_under_airflow_supervisor():
        from airflow.sdk import Variable

        Variable.set(key, value)
    else:
        from airflow.models.variable import Variable as DbVariable

        DbVariable.set(key, value)


class VariableTokenSlot:
    """A :class:`VariableTokenStore` entry while this host's lock is held."""

    def __init__(self, variable: str, token: CachedToken | None, lease: Lease | None) -> None:
        self._variable = variable
        self.token = token
        self.lease = lease

    def save(self, token: CachedToken) -> None:
        """Write ``token`` to the Variable (this drops any lease)."""
        self.token, self.lease = token, None
        write_variable(self._variable, json.dumps({"token": asdict(token)}))

    def clear(self) -> None:
        """Forget the token (the Variable is kept, emptied, so no delete permission is needed)."""
        self.token, self.lease = None, None
        write_variable(self._variable, json.dumps({"token": None}))

    def take_lease(self, owner: str) -> None:
        """Write a lease next to the current token, telling other hosts a renewal is under way."""
        self.lease = Lease(owner, time.time())
        token = asdict(self.token) if self.token is not None else None
        write_variable(self._variable, json.dumps({"token": token, "lease": asdict(self.lease)}))


class VariableTokenStore:
    """Tokens in Airflow Variables named ``provider_events_token_<account hash>``, readable from any host.

    :param lock_directory: where this host's lock files go (default: the file store's directory).
    """

    shared_across_hosts = True

    def __init__(self, lock_directory: str | os.PathLike[str] | None = None) -> None:
        self.lock_directory = Path(lock_directory) if lock_directory else config.token_dir()

    @staticmethod
    def variable_name(key: str) -> str:
        """The Variable that holds the account ``key``'s token."""
        return f"{VARIABLE_PREFIX}{key}"

    @contextlib.contextmanager
    def transaction(self, key: str) -> Iterator[VariableTokenSlot]:
        """Serialise this host's processes on a local ``flock`` and yield the Variable's current entry."""
        with host_lock(self.lock_directory, key):
            token, lease = self._read(key)
            yield VariableTokenSlot(self.variable_name(key), token, lease)

    def peek(self, key: str) -> CachedToken | None:
        """The token in the Variable (``None`` when absent or unreadable)."""
        return self._read(key)[0]

    def peek_lease(self, key: str) -> Lease | None:
        """The lease in the Variable, if a renewal was announced."""
        return self._read(key)[1]

    def _read(self, key: str) -> tuple[CachedToken | None, Lease | None]:
        raw = read_variable(self.variable_name(key))
        if not raw:
            return None, None
        try:
            data = json.loads(raw)
            token = CachedToken(**data["token"]) if data.get("token") else None
            lease = Lease(**data["lease"]) if data.get("lease") else None
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("Ignoring an unreadable token entry in Variable %s", self.variable_name(key))
            return None, None
        if token is not None:
            mask(token.access_token)
            mask(token.refresh_token)
        return token, lease


# ------------------------------------------------------------------------------------------ choice
TOKEN_STORE_KINDS = ("auto", "variable", "local")


configured_executors = config.configured_executors


def resolve_token_store_kind(kind: str | None) -> str:
    """``variable`` or ``local`` for a connection's ``token_store`` extra.

    ``auto`` (the default, or ``$AIRFLOW_PROVIDER_EVENTS_TOKEN_STORE``) picks ``local`` when every
    configured executor runs tasks on this host (``LocalExecutor``), and ``variable`` for any other
    (Celery, Kubernetes, Edge ...), where the next task may run on a host that never saw the token.

    :raises ConfigurationError: for a value other than ``auto``, ``variable`` or ``local``.
    """
    chosen = str(kind or os.environ.get(TOKEN_STORE_ENV) or "auto").strip().lower()
    if chosen == "file":
        chosen = "local"
    if chosen not in TOKEN_STORE_KINDS:
        raise ConfigurationError(f"token_store must be one of {', '.join(TOKEN_STORE_KINDS)}, got {kind!r}")
    if chosen != "auto":
        return chosen
    return "local" if config.tasks_run_on_one_host() else "variable"


def token_store_for(kind: str | None) -> FileTokenStore | VariableTokenStore:
    """The store for a connection's ``token_store`` extra (see :func:`resolve_token_store_kind`).

    Without the extra, the deployment's ``[provider_events] token_store`` decides: a kind, or the import
    path of a token store class (called with no argument).
    """
    from airflow_provider_events import config

    if not kind:
        setting = config.token_store_setting()
        if "." in setting:
            store: FileTokenStore | VariableTokenStore = config.token_store_class(setting)()
            return store
        kind = None if setting == "auto" else setting
    if resolve_token_store_kind(kind) == "variable":
        return VariableTokenStore()
    return FileTokenStore()
