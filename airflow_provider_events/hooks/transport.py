"""A lean keep-alive JSON transport for the per-event hot path, built on the standard library.

``requests`` costs about 600-700 us of client CPU per JSON POST (request preparation, hooks, adapters, cookie
jar, ``urllib3`` pool bookkeeping, response wrapping); ``http.client`` on a kept-alive connection costs about
a third of that. The delivery engine sends one request per event, so this difference decides how many events
one worker core can drive. :class:`JsonTransport` is what :meth:`BaseEventsHook.request_json` uses for JSON
requests when no proxy is configured; every other call, and every call a user makes through
:meth:`BaseEventsHook.request`, goes through the hook's ``requests.Session``. Retries, pacing, auth, error
classification and secret handling stay in the hook: this module only moves bytes.

Failure semantics match the ``requests`` path exactly, because the engine's exactly-once accounting depends
on them: a failure to *establish* a connection is :class:`ConnectFailed` (the request cannot have been
processed); any failure after the request started to go out (reset, drop, read timeout) is
:class:`SendFailed` (the vendor may have processed it). An idle pooled connection that the server already
closed is detected before reuse (a zero-timeout poll, as ``urllib3`` does) and replaced, so a keep-alive race
does not turn into a false "maybe processed".
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlencode, urlsplit


class TransportError(Exception):
    """Base of the transport's failures."""


class ConnectFailed(TransportError):
    """The connection could not be established: the request was never sent."""


class SendFailed(TransportError):
    """The request started to go out and then failed: the vendor may have processed it.

    :param timed_out: the failure was the read timeout (no answer in time), not a dropped connection.
    """

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass
class LeanResponse:
    """What the hook's error handling reads of a response: status, headers, body, URL."""

    status_code: int
    headers: Message
    content: bytes
    url: str

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def _is_dropped(sock: socket.socket | None) -> bool:
    """True when an idle kept-alive socket was closed by the peer (readable at once means EOF or junk)."""
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class JsonTransport:
    """A thread-safe pool of kept-alive ``http.client`` connections to one origin (scheme, host, port).

    :param base_url: the origin (and base path) requests go to; only its scheme, host and port are used here.
    :param pool_maxsize: idle connections kept for reuse (one per concurrent sender is enough).
    :param verify: TLS verification: True, False, or a CA bundle file or directory.
    :param user_agent: the ``User-Agent`` header.
    """

    def __init__(self, base_url: str, *, pool_maxsize: int, verify: bool | str, user_agent: str) -> None:
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.netloc = parts.netloc
        self._pool_maxsize = pool_maxsize
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._base_headers = {
            "User-Agent": user_agent,
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "Connection": "keep-alive",
        }
        self._ssl_context = self._make_ssl_context(verify) if self.scheme == "https" else None
        self._closed = False

    @staticmethod
    def _make_ssl_context(verify: bool | str) -> ssl.SSLContext:
        if verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        if isinstance(verify, str):
            import os

            if os.path.isdir(verify):
                return ssl.create_default_context(capath=verify)
            return ssl.create_default_context(cafile=verify)
        return ssl.create_default_context()

    def handles(self, url: str) -> bool:
        """True when ``url`` is on this transport's origin."""
        return url.startswith(f"{self.scheme}://{self.netloc}/") or url == f"{self.scheme}://{self.netloc}"

    def _checkout(self, connect_timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            while self._idle:
                idle = self._idle.pop()
                if _is_dropped(idle.sock):
                    idle.close()
                    continue
                return idle, True
        conn: http.client.HTTPConnection
        if self._ssl_context is not None:
            conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=connect_timeout, context=self._ssl_context
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=connect_timeout)
        return conn, False

    def _checkin(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._pool_maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
    ) -> LeanResponse:
        """Send one request and read the whole answer.

        :raises ConnectFailed: the connection could not be established (nothing was sent).
        :raises SendFailed: the request failed after it started to go out (the vendor may have it).
        """
        parts = urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        all_headers = dict(self._base_headers)
        all_headers.update(headers)
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        conn, reused = self._checkout(timeout[0])
        if not reused:
            try:
                conn.connect()
            except OSError as exc:
                conn.close()
                raise ConnectFailed(f"{type(exc).__name__}: {exc}") from None
        if conn.sock is not None:
            conn.sock.settimeout(timeout[1])
        try:
            conn.request(method, target, body=body, headers=all_headers)
            answer = conn.getresponse()
            content = answer.read()
        except TimeoutError as exc:
            conn.close()
            raise SendFailed(f"ReadTimeout: {exc}", timed_out=True) from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise SendFailed(f"{type(exc).__name__}: {exc}", timed_out=False) from None
        if answer.will_close:
            conn.close()
        else:
            self._checkin(conn)
        return LeanResponse(answer.status, answer.msg, content, url)

    def close(self) -> None:
        """Close every idle connection; connections in use close when their request ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def with_query(url: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None) -> str:
    """``url`` with the query parameters that are not ``None`` appended (a list may repeat a name)."""
    if not params:
        return url
    items = params.items() if isinstance(params, Mapping) else params
    query = urlencode([(k, v) for k, v in items if v is not None], doseq=True)
    return f"{url}{'&' if '?' in url else '?'}{query}" if query else url


def encode_json(value: Any) -> bytes:
    """The request body ``requests`` would send for ``json=value`` (NaN refused), compact."""
    import json

    return json.dumps(value, allow_nan=False, separators=(",", ":")).encode("utf-8")
