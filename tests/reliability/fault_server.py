"""The vendor emulator in its own process, plus injected 429 answers carrying ``Retry-After``.

The emulator's own faults (``faults.py``) answer 429 only from its rate-limit bucket; the reliability suite
needs a *fraction* of 429s with ``Retry-After`` mixed with the other faults, so this wraps the emulator's app
in :class:`Throttle`. Run as ``python fault_server.py PORT``; configure with
``POST /_reliability/throttle {"vendor": ..., "rate": 0.05, "retry_after": "1"}``, read the count with
``GET /_reliability/throttle``. Everything else is the emulator's own admin API (``/_admin/...``).
"""

from __future__ import annotations

import json
import random
import sys
import threading
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from airflow_provider_events.testing.emulator import Emulator


class Throttle:
    """ASGI middleware: answer a fraction of a vendor's requests 429 + ``Retry-After`` before processing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.settings: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_reliability/throttle"):
            await self._admin(scope, receive, send)
            return
        if scope["type"] == "http":
            vendor = scope["path"].split("/", 2)[1]
            cfg = self.settings.get(vendor)
            if cfg and random.random() < cfg["rate"]:
                with self.lock:
                    self.counts[vendor] = self.counts.get(vendor, 0) + 1
                body = b'{"message":"Too many requests"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 429,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(cfg["retry_after"]).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST":
            raw = b""
            while True:
                message = await receive()
                raw += message.get("body", b"")
                if not message.get("more_body"):
                    break
            data = json.loads(raw or b"{}")
            if data.get("rate"):
                self.settings[data["vendor"]] = {
                    "rate": float(data["rate"]),
                    "retry_after": data["retry_after"],
                }
            else:
                self.settings.pop(data["vendor"], None)
        body = json.dumps(self.counts).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def main(port: int) -> None:
    import uvicorn

    emulator = Emulator()
    app = Throttle(emulator.app)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="critical",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        backlog=2048,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
