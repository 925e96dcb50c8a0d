"""The emulator's core: fault modes, their counters, and the admin API, over real HTTP on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import requests
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from airflow_provider_events.testing.emulator import Emulator, EmulatorServer
from airflow_provider_events.testing.emulator.base import VendorEmulator
from airflow_provider_events.testing.emulator.dependencies import Refused


class EchoVendor(VendorEmulator):
    """A one-route vendor: records each POST body it processes."""

    name: ClassVar[str] = "echo"
    base_path: ClassVar[str] = "/v1"

    def reset(self) -> None:
        self.received: list[Any] = []
        self.seeded: dict[str, Any] = {}

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/things", status_code=201)
        async def create(request: Request) -> dict[str, str]:
            body = await request.json()
            with self.lock:
                self.received.append(body)
            return {"id": str(len(self.received))}

        return router

    def seed(self, data: dict[str, Any]) -> None:
        self.seeded.update(data)

    def snapshot(self) -> dict[str, Any]:
        return {"received": list(self.received), "seeded": dict(self.seeded)}

    def connection(self, base_url: str) -> dict[str, Any]:
        return {"conn_type": "echo", "host": base_url, "password": "k"}


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator=Emulator([EchoVendor()])) as srv:
        yield srv


@pytest.fixture
def echo(server: EmulatorServer) -> Iterator[tuple[EmulatorServer, EchoVendor]]:
    server.emulator.reset()
    yield server, server.emulator.vendor("echo")
    server.emulator.reset()


def post(server: EmulatorServer, n: int = 0, **kwargs: Any) -> requests.Response:
    return requests.post(f"{server.base_url('echo')}/things", json={"n": n}, **kwargs)


def test_serves_the_vendor_under_its_prefix_and_base_path(echo):
    server, vendor = echo
    assert server.base_url("echo") == f"{server.url}/echo/v1"
    assert post(server, 1).status_code == 201
    assert vendor.received == [{"n": 1}]
    assert server.emulator.fault_counters("echo")["requests"] == 1


def test_latency_is_added(echo):
    server, _ = echo
    server.emulator.set_faults("echo", latency_ms=300)
    started = time.monotonic()
    post(server)
    assert time.monotonic() - started >= 0.3
    assert server.emulator.fault_counters("echo")["delayed"] == 1


def test_rate_limit_answers_429_with_retry_after_and_counts(echo):
    server, vendor = echo
    server.emulator.set_faults("echo", rate_limit=5, retry_after=2)
    with requests.Session() as session:
        answers = [session.post(f"{server.base_url('echo')}/things", json={"n": i}) for i in range(12)]
    limited = [a for a in answers if a.status_code == 429]
    assert 5 <= len(limited) <= 7
    assert all(a.headers["retry-after"] == "2" for a in limited)
    assert server.emulator.fault_counters("echo")["rate_limited"] == len(limited)
    assert len(vendor.received) == 12 - len(limited)  # a 429 is never processed


def test_server_errors_are_answered_before_processing(echo):
    server, vendor = echo
    server.emulator.set_faults("echo", error_rate=1.0)
    statuses = {post(server, i).status_code for i in range(20)}
    assert statuses <= {500, 502, 503}
    assert len(statuses) >= 2
    assert vendor.received == []
    assert server.emulator.fault_counters("echo")["server_errors"] == 20


def test_error_statuses_are_configurable(echo):
    server, vendor = echo
    server.emulator.set_faults("echo", error_rate=1.0, error_statuses=[503])
    assert {post(server, i).status_code for i in range(10)} == {503}
    assert vendor.received == []


def test_connection_reset_before_processing(echo):
    server, vendor = echo
    server.emulator.set_faults("echo", reset_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        post(server)
    assert vendor.received == []
    assert server.emulator.fault_counters("echo")["resets"] == 1


def test_slow_answer_is_processed_then_times_the_client_out(echo):
    server, vendor = echo
    server.emulator.set_faults("echo", slow_rate=1.0, slow_seconds=1.0)
    with pytest.raises(requests.ReadTimeout):
        post(server, 7, timeout=(2, 0.3))
    assert vendor.received == [{"n": 7}]  # the vendor did record it: an ambiguous failure
    assert server.emulator.fault_counters("echo")["slow"] == 1


def test_accept_then_drop_is_one_shot(echo):
    server, vendor = echo
    server.emulator.set_faults("echo", drop_after_accept=1)
    with pytest.raises(requests.ConnectionError):
        post(server, 1)
    assert post(server, 2).status_code == 201
    assert vendor.received == [{"n": 1}, {"n": 2}]
    assert server.emulator.fault_counters("echo")["dropped_after_accept"] == 1


def test_admin_api_seeds_inspects_sets_faults_and_resets(echo):
    server, _ = echo
    admin = f"{server.url}/_admin"
    assert requests.get(f"{admin}/health").json() == {"status": "ok", "vendors": ["echo"]}
    assert requests.post(f"{admin}/echo/seed", json={"segments": [1, 2]}).status_code == 200
    post(server, 3)
    state = requests.get(f"{admin}/echo/state").json()
    assert state == {"received": [{"n": 3}], "seeded": {"segments": [1, 2]}}
    answer = requests.post(f"{admin}/echo/faults", json={"latency_ms": 5}).json()
    assert answer["config"]["latency_ms"] == 5
    assert requests.post(f"{admin}/echo/faults", json={"bogus": 1}).status_code == 400
    assert requests.get(f"{admin}/nope/state").status_code == 404
    assert requests.post(f"{admin}/reset").status_code == 200
    assert requests.get(f"{admin}/echo/state").json()["received"] == []
    assert requests.get(f"{admin}/echo/faults").json()["config"]["latency_ms"] == 0


def test_admin_routes_are_never_faulted(echo):
    server, _ = echo
    server.emulator.set_faults("echo", error_rate=1.0, rate_limit=1)
    for _ in range(5):
        assert requests.get(f"{server.url}/_admin/health").status_code == 200


def test_connection_env_gives_airflow_connections(echo):
    server, _ = echo
    env = server.connection_env()
    assert list(env) == ["AIRFLOW_CONN_ECHO_DEFAULT"]
    assert json.loads(env["AIRFLOW_CONN_ECHO_DEFAULT"])["host"] == server.base_url("echo")


class GuardedVendor(VendorEmulator):
    """A plug-in vendor whose preamble is a shared dependency refusing with the vendor's own body."""

    name: ClassVar[str] = "guarded"
    base_path: ClassVar[str] = ""

    def reset(self) -> None:
        self.refused = 0

    async def api_key(self, request: Request) -> None:
        if request.headers.get("X-Api-Key") != "k":
            self.refused += 1
            raise Refused(JSONResponse({"vendorError": "bad key"}, status_code=401, headers={"X-Why": "key"}))

    def router(self) -> APIRouter:
        router = APIRouter(dependencies=[Depends(self.api_key)])

        @router.get("/things")
        async def things() -> dict[str, Any]:
            return {"things": []}

        return router

    def seed(self, data: dict[str, Any]) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        return {"refused": self.refused}

    def connection(self, base_url: str) -> dict[str, Any]:
        return {"conn_type": "guarded", "host": base_url, "password": "k"}


def test_a_dependency_refuses_with_the_vendors_own_body() -> None:
    with EmulatorServer(emulator=Emulator([GuardedVendor()])) as server:
        refused = requests.get(f"{server.url}/guarded/things", timeout=10)
        assert refused.status_code == 401
        assert refused.json() == {"vendorError": "bad key"}  # not FastAPI's {"detail": ...}
        assert refused.headers["X-Why"] == "key"
        ok = requests.get(f"{server.url}/guarded/things", headers={"X-Api-Key": "k"}, timeout=10)
        assert ok.json() == {"things": []}
        assert server.emulator.vendor("guarded").snapshot() == {"refused": 1}
