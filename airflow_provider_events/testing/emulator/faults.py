"""Faults and limits on demand: latency, rate limits, 5xx, resets, slow answers, accept-then-drop.

Applied by :class:`FaultMiddleware`, a pure ASGI middleware (no per-request overhead beyond a dict lookup
when a vendor has no faults), to every vendor route; the admin routes are never faulted.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import struct
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COUNTER_NAMES = (
    "requests",
    "delayed",
    "rate_limited",
    "server_errors",
    "resets",
    "slow",
    "dropped_after_accept",
    "throttled_share",
)


@dataclass
class FaultConfig:
    """Faults of one vendor. Fractions are per request, drawn independently.

    :param latency_ms: fixed delay added to every answer.
    :param jitter_ms: extra uniform random delay in ``[0, jitter_ms]``.
    :param rate_limit: requests per second allowed (token bucket, burst = one second); more get 429.
    :param retry_after: ``Retry-After`` seconds sent with a 429 (``None``: computed from the bucket).
    :param error_rate: fraction answered with one of ``error_statuses`` *before* the request is processed.
    :param error_statuses: the 5xx statuses ``error_rate`` picks from (default 500, 502, 503).
    :param reset_rate: fraction whose connection is reset before the request is processed.
    :param slow_rate: fraction processed, then answered only after ``slow_seconds`` (beyond a client timeout).
    :param slow_seconds: delay of a slow answer.
    :param drop_after_accept: the next N requests are processed, then their connection is dropped unanswered.
    :param drop_rate: fraction processed, then their connection is dropped unanswered (a fault *after*
        processing: the client cannot tell whether the vendor took the request).
    :param throttle_rate: fraction answered 429 with ``Retry-After: throttle_retry_after`` before processing,
        independently of ``rate_limit``.
    :param throttle_retry_after: the ``Retry-After`` seconds of ``throttle_rate`` answers.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit: float | None = None
    retry_after: float | None = None
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    reset_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    drop_after_accept: int = 0
    drop_rate: float = 0.0
    throttle_rate: float = 0.0
    throttle_retry_after: float = 1.0

    def update(self, **changes: Any) -> None:
        names = {f.name for f in fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}; known: {sorted(names)}")
        for key, value in changes.items():
            setattr(self, key, tuple(value) if key == "error_statuses" else value)

    def active(self) -> bool:
        return self != FaultConfig()


@dataclass
class VendorFaults:
    """Fault settings, rate-limit bucket and counters of one vendor."""

    config: FaultConfig = field(default_factory=FaultConfig)
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTER_NAMES, 0))
    _tokens: float = 0.0
    _updated: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def take_rate_token(self) -> float | None:
        """``None`` when the request is within the rate limit, else the seconds until a token is free."""
        rate = self.config.rate_limit
        if not rate:
            return None
        with self._lock:
            now = time.monotonic()
            if self._updated == 0.0:
                self._tokens, self._updated = rate, now
            self._tokens = min(rate, self._tokens + (now - self._updated) * rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return (1 - self._tokens) / rate

    def take_drop(self) -> bool:
        with self._lock:
            if self.config.drop_after_accept > 0:
                self.config.drop_after_accept -= 1
                return True
            return False

    def snapshot(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "counters": dict(self.counters)}

    def reset(self) -> None:
        with self._lock:
            self.config = FaultConfig()
            self.counters = dict.fromkeys(COUNTER_NAMES, 0)
            self._tokens = self._updated = 0.0


def _abort_connection(send: Send, *, rst: bool) -> None:
    """Close the client connection without an answer (uvicorn keeps the transport on the send callable)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("connection faults need uvicorn's h11 or httptools protocol")
    if rst:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _Dropped(Exception):
    pass


class FaultMiddleware:
    """ASGI middleware applying each vendor's faults to the routes under ``/<vendor>/``.

    :param app: the wrapped ASGI app.
    :param faults: vendor name -> its :class:`VendorFaults` (mutable at run time).
    """

    def __init__(self, app: ASGIApp, faults: dict[str, VendorFaults]) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        vendor = scope["path"].split("/", 2)[1] if scope["path"].count("/") >= 1 else ""
        state = self.faults.get(vendor)
        if state is None:
            await self.app(scope, receive, send)
            return
        state.count("requests")
        cfg = state.config
        if not cfg.active():
            await self.app(scope, receive, send)
            return
        delay = cfg.latency_ms / 1000 + (random.uniform(0, cfg.jitter_ms) / 1000 if cfg.jitter_ms else 0.0)
        if delay > 0:
            state.count("delayed")
            await asyncio.sleep(delay)
        wait = state.take_rate_token()
        if wait is not None:
            state.count("rate_limited")
            retry_after = cfg.retry_after if cfg.retry_after is not None else max(1, math.ceil(wait))
            await _respond(send, 429, b'{"message":"Rate limit exceeded"}', {"retry-after": str(retry_after)})
            return
        if cfg.throttle_rate and random.random() < cfg.throttle_rate:
            state.count("throttled_share")
            await _respond(
                send,
                429,
                b'{"message":"Too many requests"}',
                {"retry-after": f"{cfg.throttle_retry_after:g}"},
            )
            return
        if cfg.reset_rate and random.random() < cfg.reset_rate:
            state.count("resets")
            _abort_connection(send, rst=True)
            return
        if cfg.error_rate and random.random() < cfg.error_rate:
            state.count("server_errors")
            status = random.choice(cfg.error_statuses)
            await _respond(send, status, b'{"message":"injected server error"}', {})
            return
        if state.take_drop() or (cfg.drop_rate and random.random() < cfg.drop_rate):
            state.count("dropped_after_accept")
            await self._run_then(scope, receive, send, drop=True)
            return
        if cfg.slow_rate and random.random() < cfg.slow_rate:
            state.count("slow")
            await self._run_then(scope, receive, send, delay=cfg.slow_seconds)
            return
        await self.app(scope, receive, send)

    async def _run_then(
        self, scope: Scope, receive: Receive, send: Send, *, drop: bool = False, delay: float = 0.0
    ) -> None:
        """Process the request fully, then drop the connection or answer late."""
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        if drop:
            _abort_connection(send, rst=False)
            return
        await asyncio.sleep(delay)
        for message in messages:
            await send(message)


async def _respond(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
