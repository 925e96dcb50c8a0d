"""A small Airflow cluster on loopback for tests: Redis, the scheduler side, and Celery workers as "hosts".

Every process is started in its own session (process group) and stopped by group, then any straggler
that carries the cluster's private ``AIRFLOW_HOME`` is killed by pid. Ports are free loopback ports.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from airflow_provider_events.testing.emulator.server import HOST, free_port
from tests.scheduler.standalone import AirflowStandalone, processes_of

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def redis_server_binary() -> str | None:
    """The ``redis-server`` executable (Debian package ``redis-server``), if installed."""
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.path.exists(p)), None
    )


class Group:
    """A command running in its own session, output to ``log``; :meth:`stop` ends its whole group."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log: Path, cwd: Path) -> None:
        self.name = name
        self.log = log
        self.stopped = False
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                args,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the group, then SIGKILL it after ``grace`` seconds."""
        self.stopped = True
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    break
                self.proc.poll()
                time.sleep(0.2)
            else:
                continue
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return f"--- {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])


class CeleryCluster:
    """Redis + ``airflow scheduler``, ``dag-processor`` and ``api-server`` + Celery workers on demand.

    :param home: the private ``AIRFLOW_HOME``.
    :param dags_folder: the DAGs folder.
    :param extra_env: connections and other settings for every process.
    """

    def __init__(self, home: Path, dags_folder: Path, extra_env: Mapping[str, str]) -> None:
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.redis_port = free_port()
        self.api = AirflowStandalone(home, dags_folder, extra_env)  # environment, port and REST helpers
        fernet = base64.urlsafe_b64encode(os.urandom(32)).decode()
        self.env = {
            **self.api.environment(),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__FERNET_KEY": fernet,  # one deployment, one key: Variables decrypt everywhere
            "AIRFLOW__API_AUTH__JWT_SECRET": base64.b64encode(os.urandom(24)).decode(),
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{HOST}:{self.redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"redis://{HOST}:{self.redis_port}/1",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "30",
        }
        self.groups: list[Group] = []

    def _start(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> Group:
        group = Group(name, args, env or self.env, self.home / f"{name}.log", self.home)
        self.groups.append(group)
        return group

    def start(self) -> CeleryCluster:
        """Redis, the DB, then the scheduler side; returns once the API reports a healthy scheduler."""
        binary = redis_server_binary()
        assert binary, "redis-server is not installed (apt-get install redis-server)"
        redis_args = [
            binary,
            "--port",
            str(self.redis_port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self._start("redis", [*redis_args, "--dir", str(self.home)])
        self._wait_for_redis()
        migrate = subprocess.run(
            [AIRFLOW, "db", "migrate"],
            check=False,
            env=self.env,
            cwd=self.home,
            capture_output=True,
            timeout=600,
        )
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        for component in ("api-server", "scheduler", "dag-processor"):
            self._start(component, [AIRFLOW, component])
        deadline = time.monotonic() + 300
        while True:
            self.check_alive()
            with contextlib.suppress(OSError, ValueError):
                if self.api.get("monitor/health", timeout=5).get("scheduler", {}).get("status") == "healthy":
                    return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler is not healthy after 300 s\n{self.logs()}")
            time.sleep(1)

    def check_alive(self) -> None:
        """Raise (with the logs) when a process that was not stopped has exited."""
        dead = [group.name for group in self.groups if not group.stopped and not group.alive()]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited\n{self.logs()}")

    def start_worker(self, name: str, directory: Path) -> Group:
        """A Celery worker as a separate "host": its own token and state directories and log port."""
        directory.mkdir(parents=True, exist_ok=True)
        env = {
            **self.env,
            "AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR": str(directory / "tokens"),
            "AIRFLOW_PROVIDER_EVENTS_STATE_DIR": str(directory / "state"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        args = [AIRFLOW, "celery", "worker", "--concurrency", "1", "--celery-hostname", f"{name}@%h"]
        return self._start(name, [*args, "--skip-serve-logs", "--without-gossip", "--without-mingle"], env)

    def _wait_for_redis(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.redis_port), 2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"redis did not answer on port {self.redis_port}\n{self.groups[-1].tail()}")

    def stop(self) -> list[int]:
        """Stop every group (newest first), then any process left with our AIRFLOW_HOME; pids still alive."""
        for group in reversed(self.groups):
            group.stop()
        for pid in processes_of(self.home):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (left := processes_of(self.home)) and time.monotonic() < deadline:
            time.sleep(0.2)
        return left

    def logs(self) -> str:
        return "\n".join(group.tail() for group in self.groups)
