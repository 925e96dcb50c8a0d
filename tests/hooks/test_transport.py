"""The lean JSON transport behind ``request_json`` / ``send``, over real HTTP on loopback.

It must keep every promise of the ``requests`` path (retries, ``Retry-After``, typed errors, timeouts, the
"may have been processed" rule the engine's exactly-once accounting rests on) while reusing kept-alive
connections. Each case runs through the lean path and, where it matters, through ``request()`` as well, so the
two transports are shown to classify the same failure the same way.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from scripted_server import Answer, ScriptedServer

from airflow_provider_events.exceptions import (
    VendorBadRequestError,
    VendorServerError,
    VendorUnavailableError,
)
from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.hooks.retry import RetryPolicy
from airflow_provider_events.hooks.transport import JsonTransport, LeanResponse

API_KEY = "sk-lean-0a1b2c3d4e5f-secret"
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05)


class KeyHook(BaseEventsHook):
    conn_type: ClassVar[str] = "test_vendor"
    default_conn_name: ClassVar[str] = "test_vendor_default"

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.connection.password}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def make_hook(monkeypatch: pytest.MonkeyPatch, host: str, **kwargs: Any) -> KeyHook:
    conn = {"conn_type": "test_vendor", "host": host, "password": API_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_TEST_VENDOR_DEFAULT", json.dumps(conn))
    kwargs.setdefault("retry_policy", FAST)
    return KeyHook(**kwargs)


def test_json_requests_reuse_one_kept_alive_connection(server, monkeypatch):
    server.script(Answer(201, {"ok": True}))
    hook = make_hook(monkeypatch, server.url)
    answers = [hook.request_json("POST", "/events", json_body={"n": n}, idempotent=False) for n in range(5)]
    assert answers == [{"ok": True}] * 5
    assert isinstance(hook.json_transport, JsonTransport)
    assert len({seen.client_port for seen in server.seen}) == 1
    assert [json.loads(seen.body) for seen in server.seen] == [{"n": n} for n in range(5)]
    first = server.seen[0].headers
    assert first["x-api-key"] == API_KEY
    assert first["Content-Type"] == "application/json"
    assert first["User-Agent"].startswith("airflow-provider-events/")
    hook.close()


def test_query_parameters_are_encoded_like_requests_does(server, monkeypatch):
    server.script(Answer(200, {"data": []}))
    hook = make_hook(monkeypatch, server.url)
    hook.request_json("GET", "/list", params={"a": "x y", "skip": None, "n": 3})
    hook.request_json("GET", "/list", params=[("id", 1), ("id", 2)])
    assert [seen.path for seen in server.seen] == ["/list?a=x+y&n=3", "/list?id=1&id=2"]


def test_server_error_then_success_is_retried_for_idempotent_calls(server, monkeypatch):
    server.script(Answer(500, {"message": "boom"}), Answer(200, {"ok": 1}))
    hook = make_hook(monkeypatch, server.url)
    assert hook.request_json("GET", "/thing") == {"ok": 1}
    assert len(server.seen) == 2
    assert hook.stats["retries"] == 1


def test_429_honours_retry_after_and_counts_throttling(server, monkeypatch):
    server.script(Answer(429, {"message": "slow down"}, headers={"Retry-After": "0.2"}), Answer(201, {}))
    hook = make_hook(monkeypatch, server.url)
    hook.request_json("POST", "/events", json_body={}, idempotent=False)
    assert len(server.seen) == 2
    assert server.seen[1].at - server.seen[0].at >= 0.19
    assert hook.stats["throttled"] == 1


def test_a_400_is_sent_once_and_carries_the_vendors_body(server, monkeypatch):
    server.script(Answer(400, {"message": "identifyId is required"}))
    hook = make_hook(monkeypatch, server.url)
    with pytest.raises(VendorBadRequestError) as raised:
        hook.request_json("POST", "/events", json_body={}, idempotent=False)
    assert raised.value.body == {"message": "identifyId is required"}
    assert "identifyId is required" in str(raised.value)
    assert len(server.seen) == 1


def test_a_non_idempotent_500_is_ambiguous_and_not_retried(server, monkeypatch):
    server.script(Answer(500, {"message": "boom"}))
    hook = make_hook(monkeypatch, server.url)
    with pytest.raises(VendorServerError) as raised:
        hook.request_json("POST", "/events", json_body={}, idempotent=False)
    assert raised.value.ambiguous is True
    assert len(server.seen) == 1


@pytest.mark.parametrize("path", ["lean", "requests"])
def test_a_dropped_connection_after_sending_is_ambiguous_on_both_transports(server, monkeypatch, path):
    server.script(Answer(drop=True))
    hook = make_hook(monkeypatch, server.url)
    call = hook.request_json if path == "lean" else hook.request
    with pytest.raises(VendorUnavailableError) as raised:
        call("POST", "/events", json_body={"n": 1}, idempotent=False)
    assert raised.value.ambiguous is True
    assert len(server.seen) == 1  # never resent: the vendor may have processed it


@pytest.mark.parametrize("path", ["lean", "requests"])
def test_a_refused_connection_is_not_ambiguous_and_is_retried(monkeypatch, path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook = make_hook(monkeypatch, f"http://127.0.0.1:{port}")
    call = hook.request_json if path == "lean" else hook.request
    with pytest.raises(VendorUnavailableError) as raised:
        call("POST", "/events", json_body={}, idempotent=False)
    assert raised.value.ambiguous is False
    assert hook.stats["requests"] == FAST.max_attempts


def test_read_timeout_is_ambiguous(server, monkeypatch):
    server.script(Answer(200, {}, delay=1.5))
    hook = make_hook(monkeypatch, server.url, timeout=(2.0, 0.3), retry_policy=RetryPolicy(max_attempts=1))
    with pytest.raises(VendorUnavailableError) as raised:
        hook.request_json("POST", "/events", json_body={}, idempotent=False)
    assert raised.value.ambiguous is True
    assert "no answer" in str(raised.value)


def test_an_idle_connection_the_server_closed_is_replaced_not_failed(server, monkeypatch):
    server.script(Answer(200, {"ok": True}, headers={"Connection": "close"}), Answer(200, {"ok": True}))
    hook = make_hook(monkeypatch, server.url)
    assert hook.request_json("GET", "/a") == {"ok": True}
    assert hook.request_json("POST", "/b", json_body={}, idempotent=False) == {"ok": True}
    assert len(server.seen) == 2
    assert hook.stats["retries"] == 0


def test_a_configured_proxy_sends_json_through_requests(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    hook = make_hook(monkeypatch, "https://vendor.invalid")
    assert hook.json_transport is None


def test_send_returns_status_and_body_without_decoding(server, monkeypatch):
    server.script(Answer(201, None))
    hook = make_hook(monkeypatch, server.url)
    answer = hook.send("POST", "/events", json_body={"n": 1}, idempotent=False)
    assert isinstance(answer, LeanResponse)
    assert (answer.status_code, answer.content) == (201, b"")
