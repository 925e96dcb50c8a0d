"""The HTTP core every vendor hook is built on.

One :class:`BaseEventsHook` subclass per vendor adds authentication (:meth:`~BaseEventsHook.auth_headers`),
error-body parsing (:meth:`~BaseEventsHook.parse_error_body`) and its endpoints. The core owns the rest:
one pooled ``requests.Session``, connect/read timeouts, retries with backoff and jitter that honour
``Retry-After``, the safety rule for non-idempotent requests, typed errors, pacing and ``test_connection()``.
Its parts live in their own modules: the connection's extras and base URL (:mod:`.connection_fields`), the
retry policy (:mod:`.retry`), response -> typed error (:mod:`.response_errors`), the session
(:mod:`.session`), the lean JSON transport (:mod:`.transport`) and secret masking (:mod:`.security`).

Nothing here does I/O in ``__init__``: DAG files construct hooks at parse time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from airflow_provider_events import config
from airflow_provider_events.exceptions import VendorApiError
from airflow_provider_events.hooks.connection_fields import (
    AUTH_STORE_EXTRAS,
    REFRESH_MARGIN_EXTRAS,
    ConnectionFields,
)
from airflow_provider_events.hooks.response_errors import (
    ResponseLike,
    ResponseT,
    RetryableFailure,
    classify_response,
    error_body,
    generic_error_message,
    is_connect_failure,
    no_answer,
    unreachable,
)
from airflow_provider_events.hooks.retry import IDEMPOTENT_METHODS, RetryPolicy
from airflow_provider_events.hooks.session import Timeout, pooled_session, timeout_pair, user_agent
from airflow_provider_events.hooks.transport import (
    ConnectFailed,
    JsonTransport,
    LeanResponse,
    SendFailed,
    encode_json,
    with_query,
)
from airflow_provider_events.utils.ratelimit import RateLimiter, TokenBucket

if TYPE_CHECKING:
    # requests is imported on first use, not at import: DAG parsing imports hooks but never sends a request.
    import requests


__all__ = [
    "AUTH_STORE_EXTRAS",
    "REFRESH_MARGIN_EXTRAS",
    "BaseEventsHook",
    "ConnectionFields",
    "RetryPolicy",
    "Timeout",
    "user_agent",
]


class BaseEventsHook(ConnectionFields):
    """Shared HTTP core of the vendor hooks.

    :param conn_id: the Airflow connection id; defaults to the vendor's ``<vendor>_default``.
    :param timeout: seconds, or a ``(connect, read)`` pair; overrides the connection's
        ``connect_timeout``/``read_timeout`` extras (defaults 10 s and 60 s).
    :param retry_policy: overrides the policy built from the connection extras (``max_retries``,
        ``backoff_max``, ``retry_after_max``).
    :param pool_maxsize: connections kept alive in the session's pool (raise it for concurrent delivery).
    :param max_requests_per_second: client-side pacing of every request of this hook (``None``: the
        connection's ``max_requests_per_second`` extra, else the vendor default).
    :param rate_limiter: the pacer of every request of this hook, given by whoever builds it (the delivery
        runner passes one paced for the sync); ``None``: :meth:`default_rate_limiter`.
    """

    #: vendor's own rate limit to pace at when nothing is configured (requests per second, None = no pacing).
    default_requests_per_second: ClassVar[float | None] = None
    default_connect_timeout: ClassVar[float] = 10.0
    default_read_timeout: ClassVar[float] = 60.0
    #: how many times one request may re-authenticate after a 401 (each time with a token not yet
    #: refused); token vendors set 2 (see :class:`~airflow_provider_events.hooks.token_auth.TokenAuthHook`).
    max_reauthentications: ClassVar[int] = 1

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        timeout: Timeout | None = None,
        retry_policy: RetryPolicy | None = None,
        pool_maxsize: int = 16,
        max_requests_per_second: float | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name
        self._timeout_override = timeout
        self._retry_policy_override = retry_policy
        self.pool_maxsize = pool_maxsize
        self._rate_override = max_requests_per_second
        self._rate_limiter = rate_limiter
        #: counters a caller may read after a run (retries, 429s seen, seconds waited); see :meth:`count`.
        self.stats: dict[str, float] = {
            "requests": 0,
            "retries": 0,
            "throttled": 0,
            "retry_wait_seconds": 0.0,
        }
        self._stats_lock = threading.Lock()

    @cached_property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeouts in seconds."""
        if self._timeout_override is not None:
            return timeout_pair(self._timeout_override)
        return (
            float(self.extra("connect_timeout", self.default_connect_timeout)),
            float(self.extra("read_timeout", self.extra("timeout", self.default_read_timeout))),
        )

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return self._retry_policy_override or RetryPolicy.from_extras(self.extras)

    @property
    def configured_requests_per_second(self) -> float | None:
        """The deployment's pacing for this vendor (``[provider_events] <vendor>_max_requests_per_second``),
        else :attr:`default_requests_per_second`. The connection's extra and the hook argument win over it."""
        return config.max_requests_per_second(self.conn_type, self.default_requests_per_second)

    @property
    def requests_per_second(self) -> float | None:
        """The pace of this hook's own limiter: the hook argument, else the connection's
        ``max_requests_per_second`` extra, else :attr:`configured_requests_per_second`."""
        rate = self._rate_override
        if rate is None:
            rate = self.extra("max_requests_per_second", self.configured_requests_per_second)
        return float(rate) if rate else None

    @property
    def rate_limiter(self) -> RateLimiter:
        """Paces every request of this hook; shared by the threads that use the hook.

        The limiter given at construction, else :meth:`default_rate_limiter` (made on first use).
        """
        if self._rate_limiter is None:
            self._rate_limiter = self.default_rate_limiter()
        return self._rate_limiter

    def default_rate_limiter(self) -> RateLimiter:
        """The limiter of a hook built without one: a token bucket at :attr:`requests_per_second`."""
        return TokenBucket(self.requests_per_second)

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session per hook instance, created on first use."""
        return pooled_session(self.base_url, pool_maxsize=self.pool_maxsize, verify=self.verify)

    def close(self) -> None:
        """Close the pooled connections, if a session was opened."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]
        transport = self.__dict__.pop("json_transport", None)
        if transport is not None:
            transport.close()

    def count(self, name: str, amount: float = 1) -> None:
        """Add to one of :attr:`stats` (thread-safe: the delivery engine sends from several threads)."""
        with self._stats_lock:
            self.stats[name] = self.stats.get(name, 0) + amount

    # ------------------------------------------------------------------ vendor extension points
    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request (may fetch or refresh a token)."""
        return {}

    def on_unauthorized(self) -> bool:
        """Called on a 401; return True to re-authenticate and retry the request (token vendors).

        A request re-authenticates at most :attr:`max_reauthentications` times.
        """
        return False

    def parse_error_body(self, body: Any) -> str:
        """One-line message from the vendor's error body; vendors override for their shapes."""
        return generic_error_message(body)

    def check_connection(self) -> str:
        """Make the vendor's cheapest authenticated call; return a short success message."""
        raise NotImplementedError

    # ------------------------------------------------------------------ requests
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        authenticated: bool = True,
        timeout: Timeout | None = None,
        body_factory: Callable[[], tuple[Any, dict[str, str]]] | None = None,
        ok_statuses: tuple[int, ...] = (),
        retry_policy: RetryPolicy | None = None,
    ) -> requests.Response:
        """Send one request with the core's retry, pacing, auth and error rules.

        :param method: HTTP method.
        :param path: endpoint path below the base URL (or an absolute URL).
        :param params: query parameters.
        :param json_body: JSON body.
        :param data: form fields or a raw body.
        :param headers: extra headers.
        :param idempotent: whether the request may be repeated safely; default by method. A non-idempotent
            request is retried only when the failure proves it was not processed (connect failure, 429, 503).
        :param authenticated: add :meth:`auth_headers`.
        :param timeout: overrides :attr:`timeout` for this call.
        :param body_factory: builds ``(data, headers)`` afresh for each attempt (streamed uploads).
        :param ok_statuses: non-2xx statuses returned to the caller instead of raised.
        :param retry_policy: overrides :attr:`retry_policy` for this call (e.g. a login that must not be
            retried on 429).
        :returns: the response (2xx, or a status in ``ok_statuses``).
        :raises VendorApiError: a typed subclass per status, carrying the parsed body.
        :raises VendorUnavailableError: the vendor could not be reached after every retry.
        """
        method = method.upper()
        url = path if path.startswith(("http://", "https://")) else self.url(path)

        def send_once() -> requests.Response:
            return self._send_once(
                method, url, params, json_body, data, headers, authenticated, timeout, body_factory
            )

        return self._with_retries(
            method, url, send_once, idempotent, authenticated, ok_statuses, retry_policy
        )

    def _with_retries(
        self,
        method: str,
        url: str,
        send_once: Callable[[], ResponseT],
        idempotent: bool | None,
        authenticated: bool,
        ok_statuses: tuple[int, ...],
        retry_policy: RetryPolicy | None,
    ) -> ResponseT:
        """The one retry loop of every request, whichever transport sends it (see :meth:`request`)."""
        safe = (method in IDEMPOTENT_METHODS) if idempotent is None else idempotent
        policy = retry_policy or self.retry_policy
        reauthentications = 0
        attempt = 0
        while True:
            attempt += 1
            try:
                response = send_once()
                if (
                    response.status_code == 401
                    and authenticated
                    and reauthentications < self.max_reauthentications
                    and self.on_unauthorized()
                ):
                    reauthentications += 1
                    attempt -= 1
                    continue
                if response.ok or response.status_code in ok_statuses:
                    return response
                raise self._classify(response, method, url, safe, policy)
            except RetryableFailure as failure:
                may_retry = safe or not failure.processed_maybe
                if not may_retry or attempt >= policy.max_attempts:
                    raise failure.error from None
                wait = policy.wait_for(attempt, failure.retry_after)
                self.count("retries")
                self.count("retry_wait_seconds", wait)
                self.log.info(
                    "%s %s: %s; retry %d/%d in %.2fs",
                    method,
                    urlsplit(url).path,
                    type(failure.error).__name__,
                    attempt,
                    policy.max_attempts - 1,
                    wait,
                )
                time.sleep(wait)

    def send(self, method: str, path: str, **kwargs: Any) -> ResponseLike:
        """:meth:`request` for calls whose answer is read as data, not as a ``requests.Response``.

        JSON requests without a proxy go through the lean keep-alive transport
        (:mod:`~airflow_provider_events.hooks.transport`): the same retries, pacing, auth and errors, at
        about a third of the client CPU of ``requests``; everything else goes through the session.
        Takes :meth:`request`'s arguments; the answer has ``status_code``, ``headers``, ``content``,
        ``text`` and ``url``.
        """
        url = path if path.startswith(("http://", "https://")) else self.url(path)
        transport = self._lean_transport(url, kwargs)
        if transport is None:
            return self.request(method, path, **kwargs)
        return self._request_lean(transport, method.upper(), url, **kwargs)

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`send` and decode the JSON body (``None`` for an empty body)."""
        response = self.send(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise VendorApiError(
                self.conn_type,
                response.status_code,
                "response body is not JSON",
                method=method,
                path=urlsplit(response.url).path,
            ) from exc

    # ------------------------------------------------------------------ the lean transport
    @cached_property
    def json_transport(self) -> JsonTransport | None:
        """The lean keep-alive transport for JSON requests; ``None`` when a proxy applies."""
        import requests

        if requests.utils.get_environ_proxies(self.base_url):
            return None
        return JsonTransport(
            self.base_url,
            pool_maxsize=self.pool_maxsize,
            verify=self.session.verify if self.session.verify is not None else True,
            user_agent=user_agent(),
        )

    _LEAN_ARGUMENTS = frozenset(
        {
            "params",
            "json_body",
            "headers",
            "idempotent",
            "authenticated",
            "timeout",
            "ok_statuses",
            "retry_policy",
        }
    )

    def _lean_transport(self, url: str, kwargs: Mapping[str, Any]) -> JsonTransport | None:
        if not self._LEAN_ARGUMENTS.issuperset(kwargs):
            return None
        transport = self.json_transport
        return transport if transport is not None and transport.handles(url) else None

    def _request_lean(
        self,
        transport: JsonTransport,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        authenticated: bool = True,
        timeout: Timeout | None = None,
        ok_statuses: tuple[int, ...] = (),
        retry_policy: RetryPolicy | None = None,
    ) -> LeanResponse:
        url = with_query(url, params)
        body = encode_json(json_body) if json_body is not None else None
        limits = self.timeout if timeout is None else timeout_pair(timeout)

        def send_once() -> LeanResponse:
            all_headers = self._attempt_headers(authenticated, headers)
            self._pace_attempt()
            try:
                return transport.send(method, url, body, all_headers, limits)
            except ConnectFailed as exc:
                raise unreachable(self.conn_type, transport.netloc, exc) from None
            except SendFailed as exc:
                if exc.timed_out:
                    raise no_answer(
                        self.conn_type, f"no answer from {transport.netloc} within {limits[1]} s: {exc}"
                    ) from None
                raise no_answer(self.conn_type, f"cannot reach {transport.netloc}: {exc}") from None

        return self._with_retries(
            method, url, send_once, idempotent, authenticated, ok_statuses, retry_policy
        )

    def _attempt_headers(self, authenticated: bool, headers: Mapping[str, str] | None) -> dict[str, str]:
        """The headers of one attempt: :meth:`auth_headers` (fetched afresh), then the caller's."""
        all_headers = dict(self.auth_headers()) if authenticated else {}
        if headers:
            all_headers.update(headers)
        return all_headers

    def _pace_attempt(self) -> None:
        """Wait for the rate limiter and count the attempt (retries are paced and counted too)."""
        self.rate_limiter.acquire()
        self.count("requests")

    def _send_once(
        self,
        method: str,
        url: str,
        params: Any,
        json_body: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        authenticated: bool,
        timeout: Timeout | None,
        body_factory: Callable[[], tuple[Any, dict[str, str]]] | None,
    ) -> requests.Response:
        all_headers = self._attempt_headers(authenticated, headers)
        if body_factory is not None:
            data, body_headers = body_factory()
            all_headers.update(body_headers)
        import requests

        self._pace_attempt()
        try:
            return self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                data=data,
                headers=all_headers,
                timeout=timeout if timeout is not None else self.timeout,
            )
        except requests.ConnectionError as exc:  # includes ConnectTimeout
            if is_connect_failure(exc):
                raise unreachable(self.conn_type, urlsplit(url).netloc, type(exc).__name__) from None
            raise no_answer(
                self.conn_type, f"cannot reach {urlsplit(url).netloc}: {type(exc).__name__}"
            ) from None
        except requests.Timeout as exc:  # read timeout: the vendor may have processed it
            raise no_answer(
                self.conn_type,
                f"no answer from {urlsplit(url).netloc} within "
                f"{(timeout if timeout is not None else self.timeout)} s: {type(exc).__name__}",
            ) from None

    def error_body(self, response: ResponseLike) -> Any:
        """The response body parsed from JSON, else its (truncated) text."""
        return error_body(response)

    def _classify(
        self, response: ResponseLike, method: str, url: str, safe: bool, policy: RetryPolicy
    ) -> Exception:
        """The typed exception for a non-2xx response, wrapped for retry where the policy allows."""
        if response.status_code == 429:
            self.count("throttled")
        body = self.error_body(response)
        return classify_response(
            self.conn_type,
            response,
            body,
            self.parse_error_body(body),
            method=method,
            url=url,
            safe=safe,
            policy=policy,
        )

    # ------------------------------------------------------------------ Airflow UI
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form for Airflow 3.0 and 3.1 (3.2+ reads it from the provider info)."""
        from airflow_provider_events.get_provider_info import ui_field_behaviour

        return ui_field_behaviour(cls.conn_type)

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test connection": the vendor's cheapest authenticated call, never raising."""
        try:
            return True, self.check_connection()
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
