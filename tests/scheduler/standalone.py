"""Run ``airflow standalone`` (scheduler, triggerer, DAG processor, API server) as a test fixture.

Everything binds to loopback except Airflow's two log servers (worker and triggerer), whose listen address
is hard-coded to ``0.0.0.0`` in Airflow; they get free ports so parallel runs do not collide. The process
tree is started in its own session and stopped by process group; anything that escaped the group is found
by its private ``AIRFLOW_HOME`` in ``/proc/<pid>/environ`` and killed by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_provider_events.testing.emulator.server import HOST, free_port

#: the API server took more than two minutes to become healthy on a loaded 2-core machine.
HEALTH_TIMEOUT = 240.0


def processes_of(home: Path) -> list[int]:
    """Pids of live processes whose environment carries ``AIRFLOW_HOME=<home>`` (ours, by construction)."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


class AirflowStandalone:
    """``airflow standalone`` in a private ``AIRFLOW_HOME``, its API on a free loopback port.

    :param home: the private ``AIRFLOW_HOME`` (created).
    :param dags_folder: the DAGs folder to parse.
    :param extra_env: more environment variables (connections, provider settings).
    """

    def __init__(self, home: Path, dags_folder: Path, extra_env: Mapping[str, str] | None = None) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.port = free_port()
        self.log_path = home / "standalone.log"
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://{HOST}:{self.port}/api/v2"

    def environment(self) -> dict[str, str]:
        """The parent's environment without any Airflow setting, plus this instance's settings."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW_PROVIDER_EVENTS_"))
            and k != "AIRFLOW_HOME"
        }
        bin_dir = str(Path(sys.executable).parent)  # standalone spawns `airflow <component>` from PATH
        env.update(
            {
                "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{self.port}/execution/",
                "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": (
                    r"airflow\..*|airflow_provider_events\..*"
                ),
                "AIRFLOW__API__HOST": HOST,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR": str(self.home / "tokens"),
                "AIRFLOW_PROVIDER_EVENTS_STATE_DIR": str(self.home / "state"),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",  # leave no __pycache__ in the DAGs folder
            }
        )
        env.update(self.extra_env)
        return env

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> AirflowStandalone:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "airflow"), "standalone"],
                cwd=self.home,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() kills the whole tree
            )
        return self

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> float:
        """Wait until the API server answers its health check; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"airflow standalone exited with {code}\n{self.log_tail()}")
            try:
                health = self.get("monitor/health", timeout=5)
                if health.get("scheduler", {}).get("status") == "healthy":
                    return time.monotonic() - started
            except (OSError, ValueError):
                pass
            time.sleep(1)
        raise RuntimeError(f"Airflow API not healthy after {timeout:.0f} s\n{self.log_tail()}")

    def stop(self) -> list[int]:
        """Stop the process group, then any straggler with our AIRFLOW_HOME; returns pids still alive."""
        if self.proc is not None:
            for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    continue
                # the leader is gone; give its group a moment, then make sure of it
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline and _group_alive(self.proc.pid):
                    time.sleep(0.2)
                if not _group_alive(self.proc.pid):
                    break
        for pid in processes_of(self.home):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (left := processes_of(self.home)) and time.monotonic() < deadline:
            time.sleep(0.2)
        return left

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no standalone log)"
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------------ REST API
    def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.api}/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"content-type": "application/json", "accept": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")

    def get(self, path: str, timeout: float = 30) -> Any:
        return self.request("GET", path, timeout=timeout)

    def text(self, path: str, timeout: float = 30) -> str:
        req = urllib.request.Request(f"{self.api}/{path.lstrip('/')}", headers={"accept": "text/plain"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read().decode(errors="replace")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
