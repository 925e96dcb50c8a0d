"""The shared HTTP core, over real HTTP on loopback: retries, Retry-After, typed errors, timeouts, secrets."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from scripted_server import Answer, ScriptedServer

from airflow_provider_events.exceptions import (
    ConfigurationError,
    VendorAuthError,
    VendorBadRequestError,
    VendorNotFoundError,
    VendorRateLimitedError,
    VendorServerError,
    VendorUnavailableError,
)
from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.hooks.retry import RetryPolicy, parse_retry_after
from airflow_provider_events.hooks.security import is_loopback_host

API_KEY = "sk-live-9f8e7d6c5b4a-very-secret"
FAST = RetryPolicy(max_attempts=4, backoff_initial=0.01, backoff_max=0.05)


class KeyHook(BaseEventsHook):
    """A minimal vendor: an API key in a header, as ExpertSender and Gainsight PX do."""

    conn_type: ClassVar[str] = "test_vendor"
    default_conn_name: ClassVar[str] = "test_vendor_default"

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.connection.password}

    def check_connection(self) -> str:
        self.request("GET", "/ping")
        return "pong"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def make_hook(
    monkeypatch: pytest.MonkeyPatch, host: str, *, extra: dict[str, Any] | None = None, **kwargs: Any
) -> KeyHook:
    conn = {"conn_type": "test_vendor", "host": host, "password": API_KEY, "extra": extra or {}}
    monkeypatch.setenv("AIRFLOW_CONN_TEST_VENDOR_DEFAULT", json.dumps(conn))
    kwargs.setdefault("retry_policy", FAST)
    return KeyHook(**kwargs)


def test_429_with_retry_after_is_retried_after_the_asked_delay(server, monkeypatch):
    server.script(Answer(429, {"message": "slow down"}, {"Retry-After": "1"}), Answer(200, {"ok": True}))
    hook = make_hook(monkeypatch, server.url)
    assert hook.request_json("GET", "/things") == {"ok": True}
    assert len(server.seen) == 2
    gap = server.seen[1].at - server.seen[0].at
    assert 0.95 <= gap < 1.6, gap
    assert hook.stats["throttled"] == 1
    assert hook.stats["retries"] == 1


def test_500_twice_then_200_succeeds(server, monkeypatch):
    server.script(Answer(500), Answer(500), Answer(200, {"n": 1}))
    hook = make_hook(monkeypatch, server.url)
    assert hook.request_json("GET", "/things") == {"n": 1}
    assert len(server.seen) == 3


def test_400_is_not_retried_and_carries_the_vendor_body(server, monkeypatch):
    body = {"errorCode": 10054, "message": "id invalid"}
    server.script(Answer(400, body))
    hook = make_hook(monkeypatch, server.url)
    with pytest.raises(VendorBadRequestError) as err:
        hook.request("POST", "/things", json_body={"a": 1})
    assert len(server.seen) == 1
    assert err.value.status_code == 400
    assert err.value.body == body
    assert err.value.message == "id invalid"
    assert err.value.path == "/things"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, VendorAuthError),
        (403, VendorAuthError),
        (404, VendorNotFoundError),
        (422, VendorBadRequestError),
    ],
)
def test_client_errors_are_typed(server, monkeypatch, status, error):
    server.script(Answer(status, {"detail": "nope"}))
    hook = make_hook(monkeypatch, server.url)
    with pytest.raises(error):
        hook.request("GET", "/x")
    assert len(server.seen) == 1


def test_retries_are_bounded_then_the_typed_error_is_raised(server, monkeypatch):
    server.script(Answer(503, {"message": "maintenance"}))
    hook = make_hook(monkeypatch, server.url)
    with pytest.raises(VendorServerError) as err:
        hook.request("GET", "/x")
    assert len(server.seen) == FAST.max_attempts
    assert err.value.status_code == 503


def test_429_exhausted_raises_rate_limited_with_retry_after(server, monkeypatch):
    server.script(Answer(429, None, {"Retry-After": "0"}))
    hook = make_hook(monkeypatch, server.url)
    with pytest.raises(VendorRateLimitedError) as err:
        hook.request("GET", "/x")
    assert err.value.retry_after == 0.0


def test_non_idempotent_post_is_not_retried_after_an_ambiguous_500(server, monkeypatch):
    server.script(Answer(500), Answer(201))
    hook = make_hook(monkeypatch, server.url)
    with pytest.raises(VendorServerError) as err:
        hook.request("POST", "/events", json_body={"e": 1})
    assert len(server.seen) == 1
    assert err.value.ambiguous is True


def test_non_idempotent_post_is_retried_when_the_vendor_proves_it_did_not_process(server, monkeypatch):
    server.script(Answer(503), Answer(429, None, {"Retry-After": "0"}), Answer(201, {"id": "e1"}))
    hook = make_hook(monkeypatch, server.url)
    assert hook.request_json("POST", "/events", json_body={"e": 1}) == {"id": "e1"}
    assert len(server.seen) == 3


def test_caller_may_mark_a_post_safe_to_retry(server, monkeypatch):
    server.script(Answer(500), Answer(201, {"id": "e1"}))
    hook = make_hook(monkeypatch, server.url)
    assert hook.request_json("POST", "/events", json_body={}, idempotent=True) == {"id": "e1"}


def test_read_timeout_is_raised_after_the_configured_timeout(server, monkeypatch):
    server.script(Answer(200, {"late": True}, delay=2.0))
    hook = make_hook(monkeypatch, server.url, timeout=(1.0, 0.3), retry_policy=RetryPolicy(max_attempts=1))
    started = time.monotonic()
    with pytest.raises(VendorUnavailableError) as err:
        hook.request("GET", "/slow")
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 1.5, elapsed
    assert err.value.ambiguous is True


def test_timeouts_come_from_connection_extras(monkeypatch):
    hook = make_hook(monkeypatch, "http://127.0.0.1:9", extra={"connect_timeout": 2, "read_timeout": 7})
    assert hook.timeout == (2.0, 7.0)


def test_connection_refused_is_retried_even_for_post_and_reported_unambiguous(monkeypatch):
    from airflow_provider_events.testing.emulator import free_port

    hook = make_hook(monkeypatch, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(VendorUnavailableError) as err:
        hook.request("POST", "/events", json_body={})
    assert err.value.ambiguous is False
    assert hook.stats["requests"] == FAST.max_attempts


def test_secrets_never_reach_the_logs(server, monkeypatch, caplog, capfd):
    server.script(Answer(500), Answer(401, {"message": "bad key"}))
    hook = make_hook(monkeypatch, server.url + "/prefix")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(VendorAuthError) as err:
        hook.request("GET", "/customers", params={"email": "jane.doe@example.com"})
    assert server.seen[0].headers["x-api-key"] == API_KEY  # it was really sent...
    out, errout = capfd.readouterr()
    text = caplog.text + out + errout + str(err.value) + repr(err.value)
    assert API_KEY not in text  # ...and never logged
    assert "jane.doe@example.com" not in text
    assert "/prefix/customers" in caplog.text  # urllib3's debug request line was captured, cut before "?"
    assert "retry 1/" in out + errout  # the hook's own retry line was captured too


def test_user_agent_names_the_package(server, monkeypatch):
    server.script(Answer(200, {}))
    make_hook(monkeypatch, server.url).request("GET", "/")
    assert server.seen[0].headers["User-Agent"].startswith("airflow-provider-events/")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("http://127.0.0.1:8080/acton", "http://127.0.0.1:8080/acton"),
        ("https://api-eu.example.com", "https://api-eu.example.com/v9"),
        ("api.example.com", "https://api.example.com/v9"),
        ("https://proxy.example.com/vendor/", "https://proxy.example.com/vendor"),
        ("", "https://default.example.com/v9"),
    ],
)
def test_base_url_resolution(monkeypatch, host, expected):
    class PathHook(KeyHook):
        default_base_url: ClassVar[str] = "https://default.example.com/v9"
        default_path: ClassVar[str] = "/v9"

    conn = {"conn_type": "test_vendor", "host": host, "password": API_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_TEST_VENDOR_DEFAULT", json.dumps(conn))
    assert PathHook().base_url == expected


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("https://api.example.com", 443, "https://api.example.com/v9"),  # the port stored for Test Connection
        ("http://127.0.0.1:8080/acton", 443, "http://127.0.0.1:8080/acton"),  # the host's own port wins
        ("https://api.example.com", 8443, "https://api.example.com:8443/v9"),
        ("", 443, "https://default.example.com/v9"),
    ],
)
def test_stored_port_resolution(monkeypatch, host, port, expected):
    class PathHook(KeyHook):
        default_base_url: ClassVar[str] = "https://default.example.com/v9"
        default_path: ClassVar[str] = "/v9"

    conn = {"conn_type": "test_vendor", "host": host, "port": port, "password": API_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_TEST_VENDOR_DEFAULT", json.dumps(conn))
    assert PathHook().base_url == expected


@pytest.mark.parametrize("host", ["http://api.example.com", "http://10.0.0.5:8080"])
def test_credentials_over_plain_http_are_refused_except_on_loopback(monkeypatch, host):
    hook = make_hook(monkeypatch, host)
    with pytest.raises(ConfigurationError, match="plain http"):
        hook.base_url  # noqa: B018


def test_loopback_detection():
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("127.8.9.10")
    assert is_loopback_host("::1")
    assert is_loopback_host("localhost")
    assert not is_loopback_host("10.0.0.1")
    assert not is_loopback_host("example.com")


def test_init_does_no_io(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_TEST_VENDOR_DEFAULT", raising=False)
    hook = KeyHook("does_not_exist")  # no connection lookup, no network
    assert hook.conn_id == "does_not_exist"


def test_test_connection_reports_success_and_failure(server, monkeypatch):
    server.script(Answer(200, {}))
    assert make_hook(monkeypatch, server.url).test_connection() == (True, "pong")
    server.script(Answer(401, {"message": "Invalid key"}))
    ok, message = make_hook(monkeypatch, server.url).test_connection()
    assert not ok
    assert "401" in message
    assert API_KEY not in message


def test_parse_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412475.0) == pytest.approx(5.0)


def test_retry_after_is_capped():
    policy = RetryPolicy(retry_after_max=2.0)
    assert policy.wait_for(1, 3600) <= 2.2


def test_proxy_from_the_environment_is_used(server, monkeypatch):
    """The environment is read once per session (trust_env off), but its proxy settings still apply."""
    server.script(Answer(200, {"via": "proxy"}))
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    hook = make_hook(monkeypatch, "http://127.0.0.2:9/api")  # nothing listens there: only the proxy answers
    assert hook.request_json("GET", "/ping") == {"via": "proxy"}
    assert server.seen[0].path == "http://127.0.0.2:9/api/ping"
