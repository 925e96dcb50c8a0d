"""A lease that serializes the runs of one sync task slot on one destination (the ledger's concurrency guard).

The ledger skips what earlier runs recorded; two runs of the same task at the same moment (the scheduled run
and a manual trigger for the same interval) would both look before either records. The first to start takes
the lease of its *slot* (destination + task id + map index); the other waits, then reads the ledger the
first one filled and skips what it delivered. Different tasks and the mapped slices of one task (disjoint
partitions) hold different leases and run in parallel.

The lease is one small JSON object, created with an exclusive create (``O_EXCL`` locally, ``"xb"`` on object
stores that support it), renewed by a background thread every ``ttl / 3`` seconds and removed at the end.
A lease whose holder stopped renewing it (a killed worker) expires after ``ttl`` seconds; a lease held by an
earlier attempt of the *same* task instance is taken over at once (Airflow runs one attempt at a time).
Stores without an exclusive create get no lease (a warning says so) and keep the ledger's documented
window. Two waiters taking over the same expired lease at the same instant can both win: rare, and logged
as a concurrent delivery by the ledger if it happens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class DestinationLease:
    """The lease of one task slot on one destination.

    :param path: the lease object (a :class:`~pathlib.Path` or an ``ObjectStoragePath``).
    :param holder: who holds it, for the waiting run's log and for same-instance takeover: the task
        instance (dag, run, task, map index); ids only.
    :param ttl: seconds after which a lease nobody renewed is taken over.
    :param poll: seconds between attempts while waiting.
    """

    def __init__(
        self, path: Any, holder: str, ttl: float = 120.0, poll: float = 2.0, log: Any = None
    ) -> None:
        self.path = path
        self.holder = holder
        self.ttl = ttl
        self.poll = poll
        self.log = log or logger
        self.token = uuid.uuid4().hex
        self.held = False
        self.supported = True
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._damaged_since: float | None = None

    # ------------------------------------------------------------------ storage
    def _body(self) -> bytes:
        body = {"token": self.token, "holder": self.holder, "expires": time.time() + self.ttl}
        return json.dumps(body).encode()

    def _create(self) -> bool:
        """Exclusive create; False when it exists. Sets :attr:`supported` False when the store cannot."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = self._body()
        if isinstance(self.path, Path):  # written whole under another name, then linked: never seen torn
            tmp = self.path.with_name(f".{self.path.name}.{self.token}")
            tmp.write_bytes(body)
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                return False
            finally:
                tmp.unlink(missing_ok=True)
            return True
        try:
            with self.path.open("xb") as handle:
                handle.write(body)
            return True
        except FileExistsError:
            return False
        except (ValueError, NotImplementedError, TypeError) as exc:
            self.supported = False
            self.log.warning(
                "the delivery ledger's store %s has no exclusive create (%s): runs of one sync at the same "
                "moment are not serialized; use an Airflow pool with one slot",
                self.path,
                exc,
            )
            return False

    def _overwrite(self, body: bytes) -> None:
        if isinstance(self.path, Path):
            tmp = self.path.with_name(f".{self.path.name}.{self.token}")
            tmp.write_bytes(body)
            os.replace(tmp, self.path)
        else:
            self.path.write_bytes(body)

    def _read(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.path.read_bytes())
            return data
        except FileNotFoundError:
            return None
        except ValueError:
            return {}  # foreign or damaged content: expires ``ttl`` after it was first seen

    # ------------------------------------------------------------------ protocol
    def try_acquire(self) -> bool:
        """One attempt: create it, or take over an expired lease or one of our own earlier attempt."""
        if self._create():
            return self._started()
        if not self.supported:
            return False
        current = self._read()
        if current is None:
            return self._create() and self._started()
        if current:
            self._damaged_since = None
            expired = float(current.get("expires", 0)) < time.time()
        else:
            self._damaged_since = self._damaged_since or time.monotonic()
            expired = time.monotonic() - self._damaged_since > self.ttl
        if expired or current.get("holder") == self.holder:
            if not expired:
                self.log.info("taking over the delivery lease an earlier attempt of this task left behind")
            self._remove()
            return self._create() and self._started()
        return False

    def acquire(self, timeout: float | None = None) -> bool:
        """Wait until the lease is ours (``timeout``: give up after that many seconds). False: unsupported."""
        started = time.monotonic()
        last_log = 0.0
        while True:
            if self.try_acquire():
                return True
            if not self.supported:
                return False
            now = time.monotonic()
            if timeout is not None and now - started >= timeout:
                raise TimeoutError(f"the delivery lease {self.path} stayed held for {timeout:g} s")
            if now - last_log >= 60 or last_log == 0.0:
                current = self._read() or {}
                self.log.info(
                    "waiting for %s, which is delivering to the same destination, to finish "
                    "(delivery lease %s); this run then skips what it delivered",
                    current.get("holder", "another run"),
                    self.path,
                )
                last_log = now
            time.sleep(self.poll)

    def _started(self) -> bool:
        self.held = True
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="events-ledger-lease", daemon=True)
        self._renewer.start()
        return True

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                current = self._read()
                if not current or current.get("token") != self.token:
                    self.log.warning("the delivery lease %s was taken over by another run", self.path)
                    return
                self._overwrite(self._body())
            except Exception as exc:  # a transient store error: try again at the next tick
                self.log.warning("could not renew the delivery lease %s: %s", self.path, exc)

    def _remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def release(self) -> None:
        """Stop renewing and remove the lease if it is still ours."""
        if not self.held:
            return
        self.held = False
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        current = self._read()
        if current and current.get("token") == self.token:
            self._remove()
