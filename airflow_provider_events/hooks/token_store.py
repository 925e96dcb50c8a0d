"""A token cache shared by every task and worker process that uses the same vendor account.

Act-On allows five password logins per hour per account and rotates a single-use refresh token on every
refresh; CareCloud tokens live for hours. Asking for a token per task would burn those budgets, so tokens
are kept in a store keyed by the *account* (base URL + user + client), not by the Airflow task.

:class:`FileTokenStore` keeps one JSON file per account in a directory readable by the owner only, and
serialises refreshes with an exclusive ``flock``: when two tasks need a token at once, the second waits and
then finds the first one's fresh token. On several hosts, point the directory at a shared file system that
supports ``flock`` (e.g. NFSv4), or give each host its own (each then logs in on its own).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_events import config

TOKEN_DIR_ENV = "AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR"  # noqa: S105 - a variable name, not a secret


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


def account_key(*parts: str | None) -> str:
    """A stable, non-reversible file key for an account, from e.g. vendor, base URL, user and client id."""
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:40]


class TokenSlot:
    """One account's token while its lock is held: read :attr:`token`, then :meth:`save` or :meth:`clear`."""

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


class FileTokenStore:
    """Tokens in owner-only files under ``directory``, one per account, guarded by ``flock``.

    :param directory: where to keep the files; default ``[provider_events] token_dir`` (see
        :mod:`airflow_provider_events.config`).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory else config.token_dir()

    @contextlib.contextmanager
    def transaction(self, key: str) -> Iterator[TokenSlot]:
        """Hold the account's lock for the duration of the block and yield its slot."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"{key}.json"
        lock_fd = os.open(self.directory / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            yield TokenSlot(path, self._read(path))
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)

    def peek(self, key: str) -> CachedToken | None:
        """Read the stored token without taking the lock (a cheap check before locking)."""
        return self._read(self.directory / f"{key}.json")

    @staticmethod
    def _read(path: Path) -> CachedToken | None:
        try:
            data = json.loads(path.read_text())
            return CachedToken(**data)
        except (FileNotFoundError, ValueError, TypeError):
            return None
