"""A light keep-alive HTTP/1.1 load generator (asyncio streams), so the client is never the bottleneck."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_events.testing.emulator import EmulatorProcess


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


#: builds the raw bytes of request number ``n`` (numbers are unique across the connections of one run).
RequestMaker = Callable[[int], bytes]


def raw_request(
    host: str, port: int, method: str, path: str, body: bytes, headers: Mapping[str, str]
) -> bytes:
    """One HTTP/1.1 request, ready to write on a keep-alive connection."""
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _worker(
    host: str,
    port: int,
    make: RequestMaker,
    numbers: itertools.count[int],
    deadline: float,
    result: LoadResult,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            writer.write(make(next(numbers)))
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


def request_load(host: str, port: int, make: RequestMaker, *, connections: int, seconds: float) -> LoadResult:
    """Send the requests ``make`` builds on ``connections`` keep-alive connections for ``seconds``."""
    result = LoadResult()
    numbers = itertools.count()

    async def main() -> None:
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        workers = (_worker(host, port, make, numbers, deadline, result) for _ in range(connections))
        await asyncio.gather(*workers)
        result.seconds = time.monotonic() - started

    asyncio.run(main())
    return result


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
    raw = raw_request(
        host, port, "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json", **headers}
    )
    return request_load(host, port, lambda _n: raw, connections=connections, seconds=seconds)


# ------------------------------------------------------------------------------ the emulator's hot endpoints
#: the endpoints a delivery benchmark drives hardest, each answered with its success status.
HOT_ENDPOINTS = {
    "gainsight_px": ("POST /gainsight_px/v1/events/custom", 201),
    "carecloud": ("POST /carecloud/.../events", 201),
    "acton": ("POST /acton/api/1/customevents (10-row CSV)", 200),
    "expertsender_cdp": ("POST /expertsender_cdp/scenariocustomevents", 201),
}
_ACTON_FORM = {
    "destination": "bench",
    "firstrow": "Y",
    "fieldseparator": "COMMA",
    "quotecharacter": "DOUBLE_QUOTE",
    "customeventaction": "CUSTOM_GENERAL1",
    "emailcolidx": "0",
    "datecolidx": "1",
    "titlecolidx": "2",
    "titlecount": "1",
    "dateformat": "yyyy-MM-dd",
}
_ACTON_CSV = "email,date,title\n" + "".join(
    f"u{i}@example.com,2024-01-{i + 1:02d},Webinar\n" for i in range(10)
)


def _post(url: str, data: bytes, content_type: str) -> Any:
    req = urllib.request.Request(url, data=data, method="POST", headers={"content-type": content_type})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def hot_endpoint(emu: EmulatorProcess, vendor: str) -> RequestMaker:
    """Requests for ``vendor``'s hot endpoint on ``emu`` that all succeed (logging in first where needed)."""
    host, port = "127.0.0.1", emu.port
    if vendor == "gainsight_px":
        from airflow_provider_events.testing.emulator.gainsight_px import (
            DEFAULT_PROPERTY_KEY,
            DEFAULT_WRITE_KEY,
        )

        event = {
            "identifyId": "user-1",
            "propertyKey": DEFAULT_PROPERTY_KEY,
            "eventName": "bench",
            "userType": "USER",
            "date": 1_763_000_000_000,
        }
        raw = raw_request(
            host,
            port,
            "POST",
            "/gainsight_px/v1/events/custom",
            json.dumps(event).encode(),
            {"Content-Type": "application/json", "X-APTRINSIC-API-KEY": DEFAULT_WRITE_KEY},
        )
        return lambda _n: raw
    if vendor == "expertsender_cdp":
        from airflow_provider_events.testing.emulator.expertsender_cdp import DEFAULT_API_KEY

        body = json.dumps({"customEventId": 1, "customerEmail": "anna@example.com"}).encode()
        raw = raw_request(
            host,
            port,
            "POST",
            "/expertsender_cdp/scenariocustomevents",
            body,
            {"Content-Type": "application/json", "X-Api-Key": DEFAULT_API_KEY},
        )
        return lambda _n: raw
    if vendor == "carecloud":
        from airflow_provider_events.testing.emulator.carecloud import (
            CUSTOMER_IDS,
            DEFAULT_APP_ID,
            DEFAULT_LOGIN,
            DEFAULT_PASSWORD,
            PURCHASE_TYPE_ID,
            CareCloudEmulator,
        )

        base = f"/carecloud{CareCloudEmulator.base_path}"
        login = {
            "user_external_application_id": DEFAULT_APP_ID,
            "login": DEFAULT_LOGIN,
            "password": DEFAULT_PASSWORD,
        }
        token = _post(f"{emu.url}{base}/users/actions/login", json.dumps(login).encode(), "application/json")
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token['data']['bearer_token']}",
        }
        run = uuid.uuid4().hex[:8]

        def carecloud_event(n: int) -> bytes:  # CareCloud refuses a resent external id: one per request
            event = {
                "event_type_id": PURCHASE_TYPE_ID,
                "customer_id": CUSTOMER_IDS[0],
                "external_id": f"{run}-{n}",
            }
            body = {"event": event, "property_records": [{"property_id": "visit_count", "property_value": n}]}
            return raw_request(host, port, "POST", f"{base}/events", json.dumps(body).encode(), headers)

        return carecloud_event
    if vendor == "acton":
        from airflow_provider_events.testing.emulator.acton import (
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_PASSWORD,
            DEFAULT_USERNAME,
        )

        emu.admin("POST", "acton/seed", {"api_calls_per_second": 0})  # the account's 5 calls/s would cap it
        form = urllib.parse.urlencode(
            {
                "grant_type": "password",
                "username": DEFAULT_USERNAME,
                "password": DEFAULT_PASSWORD,
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            }
        ).encode()
        token = _post(f"{emu.url}/acton/token", form, "application/x-www-form-urlencoded")["access_token"]
        boundary = "benchboundary"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in _ACTON_FORM.items()
        ]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="events.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n{_ACTON_CSV}\r\n--{boundary}--\r\n"
        )
        raw = raw_request(
            host,
            port,
            "POST",
            "/acton/api/1/customevents",
            "".join(parts).encode(),
            {"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Bearer {token}"},
        )
        return lambda _n: raw
    raise ValueError(f"no hot endpoint for {vendor!r}")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Capacity:
    """What the emulator served on one endpoint when a minimal load generator drove it flat out."""

    requests: int
    seconds: float
    cpu_seconds: float
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_request_ms(self) -> float:
        return 1000 * self.cpu_seconds / self.requests if self.requests else 0.0


def emulator_capacity(
    emu: EmulatorProcess, vendor: str, *, connections: int = 16, seconds: float = 3
) -> Capacity:
    """Drive ``vendor``'s hot endpoint flat out, the emulator's faults (latency ...) off for the duration."""
    assert emu.proc is not None
    saved = emu.admin("GET", f"{vendor}/faults")["config"]
    emu.admin("POST", f"{vendor}/faults", {"latency_ms": 0, "jitter_ms": 0})
    try:
        make = hot_endpoint(emu, vendor)
        cpu_before = process_cpu_seconds(emu.proc.pid)
        result = request_load("127.0.0.1", emu.port, make, connections=connections, seconds=seconds)
        cpu = process_cpu_seconds(emu.proc.pid) - cpu_before
    finally:
        emu.admin("POST", f"{vendor}/faults", {k: saved[k] for k in ("latency_ms", "jitter_ms")})
    return Capacity(result.requests, result.seconds, cpu, dict(result.statuses))
