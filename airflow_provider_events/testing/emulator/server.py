"""Run the emulator on a free loopback port, in a background thread or as a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_provider_events.testing.emulator.app import Emulator

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class EmulatorServer:
    """The emulator served by uvicorn on ``127.0.0.1:port`` in a daemon thread.

    :param port: the port; 0 picks a free one.
    :param emulator: the emulator to serve (default: all four vendors).
    """

    def __init__(self, port: int = 0, emulator: Emulator | None = None) -> None:
        self.emulator = emulator or Emulator()
        self.port = port or free_port()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def base_url(self, vendor: str) -> str:
        """The base URL to put in a connection's ``host`` for ``vendor``."""
        emu = self.emulator.vendors[vendor]
        return f"{self.url}/{vendor}{emu.base_path}"

    def connection(self, vendor: str) -> dict[str, Any]:
        """The Airflow connection (JSON form) for ``vendor`` against this emulator."""
        return self.emulator.vendors[vendor].connection(self.base_url(vendor))

    def connection_env(self, conn_ids: dict[str, str] | None = None) -> dict[str, str]:
        """``AIRFLOW_CONN_<ID>`` variables for every vendor (default ids ``<vendor>_default``)."""
        ids = conn_ids or {name: f"{name}_default" for name in self.emulator.vendors}
        return {
            f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(self.connection(vendor))
            for vendor, conn_id in ids.items()
        }

    def start(self) -> EmulatorServer:
        import uvicorn

        config = uvicorn.Config(
            self.emulator.app,
            host=HOST,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            backlog=2048,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="events-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"emulator did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_emulator(port: int = 0, *, set_connections: bool = False) -> Iterator[EmulatorServer]:
    """Serve the emulator for the block; with ``set_connections`` also export the default connections."""
    with EmulatorServer(port) as server:
        saved = {}
        if set_connections:
            for key, value in server.connection_env().items():
                saved[key] = os.environ.get(key)
                os.environ[key] = value
        try:
            yield server
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old


class EmulatorProcess:
    """The emulator in its own process (so a benchmark's client does not share its GIL).

    :param args: extra command-line arguments for ``python -m airflow_provider_events.testing.emulator``.
    """

    def __init__(self, *args: str, port: int = 0) -> None:
        self.port = port or free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call the admin API (``/_admin/...``) and decode its JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(  # noqa: S310 - loopback only
            f"{self.url}/_admin/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return json.loads(resp.read() or b"null")

    def __enter__(self) -> EmulatorProcess:
        cmd = [
            sys.executable,
            "-m",
            "airflow_provider_events.testing.emulator",
            "--port",
            str(self.port),
            "--quiet",
            *self.args,
        ]
        self.proc = subprocess.Popen(cmd)  # noqa: S603
        deadline = time.monotonic() + 30
        while True:
            try:
                self.admin("GET", "health")
                return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.__exit__()
                    raise RuntimeError("emulator process did not start") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
