"""A light keep-alive HTTP/1.1 load generator (asyncio streams), so the client is never the bottleneck."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _worker(host: str, port: int, raw: bytes, deadline: float, result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            writer.write(raw)
            status_line = await reader.readline()
            status = int(status_line.split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await reader.readexactly(length)
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
    finally:
        writer.close()


def post_json_load(
    host: str,
    port: int,
    path: str,
    body: object,
    headers: dict[str, str],
    *,
    connections: int,
    seconds: float,
) -> LoadResult:
    """POST ``body`` as JSON on ``connections`` keep-alive connections for ``seconds``."""
    payload = json.dumps(body).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
    ] + [f"{k}: {v}" for k, v in headers.items()]
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
    result = LoadResult()

    async def main() -> None:
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        await asyncio.gather(*(_worker(host, port, raw, deadline, result) for _ in range(connections)))
        result.seconds = time.monotonic() - started

    asyncio.run(main())
    return result
