"""The Act-On emulator's memory: accounts, clients, tokens, upload jobs, facts and destinations."""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_events.testing.emulator.acton.contract import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    DOCUMENTED_DATE_FORMATS,
)
from airflow_provider_events.testing.emulator.acton.dates import java_date_candidates
from airflow_provider_events.testing.emulator.acton.upload_csv import ParsedUpload
from airflow_provider_events.testing.emulator.base import VendorEmulator


@dataclass
class Token:
    """An access or refresh token: whose, for which client, until when (monotonic seconds)."""

    username: str
    client_id: str
    expires_at: float


@dataclass
class Job:
    """One upload job: what was sent, what the parser found, and its pending -> running -> done clock."""

    job_id: str
    username: str
    destination: str
    action: str
    form: dict[str, str]
    filename: str | None
    file_bytes: int
    created: float
    pending_seconds: float
    running_seconds: float
    parsed: ParsedUpload
    new_titles: int
    fail_reason: str | None = None
    expired: bool = False
    committed: bool = False

    def state(self, now: float, ttl: float | None) -> str:
        """``pending``, ``running``, ``done``, ``failed`` or ``expired`` at ``now``."""
        if self.expired:
            return "expired"
        elapsed = now - self.created
        if elapsed < self.pending_seconds:
            return "pending"
        if elapsed < self.pending_seconds + self.running_seconds:
            return "running"
        if ttl is not None and elapsed > self.pending_seconds + self.running_seconds + ttl:
            return "expired"
        return "failed" if self.fail_reason is not None else "done"


class ActOnState(VendorEmulator):
    """Act-On's state and the Python helpers tests use; :class:`ActOnEmulator` adds the HTTP routes."""

    name: ClassVar[str] = "acton"
    base_path: ClassVar[str] = ""

    # ------------------------------------------------------------------------------------ lifecycle

    def reset(self) -> None:
        self.accounts: dict[str, dict[str, str]] = {
            DEFAULT_USERNAME.lower(): {"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD}
        }
        self.default_username = DEFAULT_USERNAME
        self.clients: dict[str, str] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self.default_client_id = DEFAULT_CLIENT_ID
        self.token_lifetime = 3600.0
        self.refresh_lifetime = 30 * 24 * 3600.0
        self.password_grants_per_hour = 5
        self.password_grant_window = 3600.0
        self.auth_budget_status = 429
        self.api_calls_per_second = 5
        self.api_rate_window = 1.0
        self.revoke_next_refresh = False
        self._call_times: dict[str, deque[float]] = {}
        self.pending_seconds = 0.2
        self.running_seconds = 0.2
        self.next_job_delays: dict[str, float] | None = None
        self.job_ttl_seconds: float | None = None
        self.fail_next_job: str | None = None
        self.fail_destinations: dict[str, str] = {}
        self.max_upload_bytes = 400 * 1024 * 1024
        self.fact_create_default = False
        self.extra_dateformats: set[str] = set()

        self._access: dict[str, Token] = {}
        self._refresh: dict[str, Token] = {}
        self._live_refresh: dict[tuple[str, str], str] = {}
        self._grant_times: dict[str, deque[float]] = {}
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "password_grants",
                "password_grants_failed",
                "password_grants_over_budget",
                "refresh_grants",
                "refresh_grants_failed",
                "bad_client",
                "tokens_issued",
                "api_calls",
                "unauthorized",
                "uploads",
                "uploads_rejected",
                "status_polls",
                "facts",
                "list_calls",
                "rate_limited",
            ),
            0,
        )
        self.logins: dict[str, dict[str, int]] = {}
        self.jobs: dict[str, Job] = {}
        self._uncommitted: list[Job] = []
        self._events: list[tuple[Any, ...]] = []
        self.facts: list[dict[str, Any]] = []
        self.destinations: dict[str, dict[str, Any]] = {}
        self._dest_seq = 0

    def seed(self, data: dict[str, Any]) -> None:
        for account in data.get("accounts", []):
            self.accounts[account["username"].lower()] = {
                "username": account["username"],
                "password": account["password"],
            }
        for client in data.get("clients", []):
            self.clients[client["client_id"]] = client["client_secret"]
        for key in ("token_lifetime", "refresh_lifetime", "password_grant_window", "job_ttl_seconds"):
            if key in data:
                setattr(self, key, None if data[key] is None else float(data[key]))
        for key in ("api_calls_per_second", "api_rate_window"):
            if key in data:
                setattr(self, key, float(data[key] or 0))
        if "revoke_next_refresh" in data:
            self.revoke_next_refresh = bool(data["revoke_next_refresh"])
        for key in ("password_grants_per_hour", "auth_budget_status", "max_upload_bytes"):
            if key in data:
                setattr(self, key, int(data[key]))
        if "job_delays" in data:
            self.pending_seconds = float(data["job_delays"].get("pending", self.pending_seconds))
            self.running_seconds = float(data["job_delays"].get("running", self.running_seconds))
        if "next_job_delays" in data:
            self.next_job_delays = data["next_job_delays"]
        for entry in data.get("destinations", []):
            name, folder = (
                (entry, None) if isinstance(entry, str) else (entry["name"], entry.get("folderName"))
            )
            self._destination(name, folder=folder)
        if "fail_next_job" in data:
            self.fail_next_job = data["fail_next_job"]
        self.fail_destinations.update(data.get("fail_destinations", {}))
        for job_id in data.get("expire_jobs", []):
            self.expire_job(str(job_id))
        if data.get("revoke_tokens"):
            self.revoke_tokens()
        if data.get("expire_access_tokens"):
            self.expire_access_tokens()
        if "fact_create_default" in data:
            self.fact_create_default = bool(data["fact_create_default"])
        self.extra_dateformats.update(data.get("extra_dateformats", []))

    def connection(self, base_url: str) -> dict[str, Any]:
        account = self.accounts[self.default_username.lower()]
        return {
            "conn_type": "acton",
            "host": base_url,
            "login": account["username"],
            "password": account["password"],
            "extra": {
                "client_id": self.default_client_id,
                "client_secret": self.clients[self.default_client_id],
            },
        }

    # -------------------------------------------------------------------------------- python helpers

    def revoke_tokens(self) -> None:
        """Every access and refresh token dies (a revoked grant: the client must log in again)."""
        with self.lock:
            self._access.clear()
            self._refresh.clear()
            self._live_refresh.clear()

    def expire_access_tokens(self) -> None:
        """Every access token expires now; refresh tokens stay valid."""
        with self.lock:
            self._access.clear()

    def expire_job(self, job_id: str) -> None:
        """The job answers 10017 from now on."""
        with self.lock:
            self._advance()  # a job that already finished keeps the rows it appended
            if job_id in self.jobs:
                self.jobs[job_id].expired = True

    def finish_job(self, job_id: str) -> None:
        """The job (however long its delays) is done from now on (tests that hold a job open)."""
        with self.lock:
            job = self.jobs[job_id]
            job.pending_seconds = job.running_seconds = 0.0

    def fail_job(self, job_id: str, reason: str = "The job failed") -> None:
        """The job ends failed (if not finished yet, it still goes through pending and running)."""
        with self.lock:
            self.jobs[job_id].fail_reason = reason

    def events(self, destination: str | None = None) -> list[dict[str, Any]]:
        """The custom events appended by finished jobs (optionally of one destination)."""
        with self.lock:
            self._advance()
            return [self._event_dict(e) for e in self._events if destination is None or e[1] == destination]

    # ----------------------------------------------------------------------------------- state bits

    def _destination(self, name: str, *, folder: str | None = None) -> dict[str, Any]:
        dest = self.destinations.get(name)
        if dest is None:
            self._dest_seq += 1
            dest = {
                "id": f"ce-{self._dest_seq:04d}",
                "name": name,
                "folderName": folder or "Custom Events",
                "description": "Custom Events",
                "events": 0,
                "titles": set(),
                "tsLastModified": int(time.time() * 1000),
            }
            self.destinations[name] = dest
        return dest

    def _advance(self) -> None:
        """Commit the rows of jobs that finished successfully since the last look."""
        if not self._uncommitted:
            return
        now = time.monotonic()
        still: list[Job] = []
        for job in self._uncommitted:
            state = job.state(now, self.job_ttl_seconds)
            if state in ("pending", "running"):
                still.append(job)
                continue
            if state == "done" or (state == "expired" and job.fail_reason is None and not job.expired):
                dest = self.destinations[job.destination]
                for record, email, when, when_text, title, note in job.parsed.appended:
                    self._events.append(
                        (job.job_id, job.destination, job.action, email, when, when_text, title, note, record)
                    )
                    dest["titles"].add(title)
                dest["events"] += len(job.parsed.appended)
                dest["tsLastModified"] = int(time.time() * 1000)
            job.committed = True
        self._uncommitted = still

    @staticmethod
    def _event_dict(e: tuple[Any, ...]) -> dict[str, Any]:
        keys = ("job_id", "destination", "action", "email", "date", "date_text", "title", "note", "record")
        return dict(zip(keys, e, strict=True))

    def _issue(self, username: str, client_id: str) -> dict[str, Any]:
        now = time.monotonic()
        access, refresh = str(uuid.uuid4()), str(uuid.uuid4())
        self._access[access] = Token(username, client_id, now + self.token_lifetime)
        old = self._live_refresh.pop((username, client_id), None)
        if old is not None:
            self._refresh.pop(old, None)
        self._refresh[refresh] = Token(username, client_id, now + self.refresh_lifetime)
        self._live_refresh[(username, client_id)] = refresh
        self.counters["tokens_issued"] += 1
        return {
            "access_token": access,
            "refresh_token": refresh,
            "scope": "offline-access",
            "token_type": "Bearer",
            "expires_in": max(0, math.ceil(self.token_lifetime)),
        }

    def _login_counter(self, username: str) -> dict[str, int]:
        return self.logins.setdefault(
            username,
            {"password_grants": 0, "password_grants_failed": 0, "over_budget": 0, "refresh_grants": 0},
        )

    def _within_call_rate(self, username: str) -> bool:
        """Count one call of ``username`` if it fits in the sliding window (called under the lock)."""
        if not self.api_calls_per_second:
            return True
        now = time.monotonic()
        calls = self._call_times.setdefault(username, deque())
        while calls and calls[0] <= now - self.api_rate_window:
            calls.popleft()
        if len(calls) >= self.api_calls_per_second:  # N calls per window (1 s unless seeded otherwise)
            return False
        calls.append(now)
        return True

    def _dateformat_ok(self, pattern: str) -> bool:
        if pattern not in DOCUMENTED_DATE_FORMATS and pattern not in self.extra_dateformats:
            return False
        try:
            java_date_candidates(pattern)
        except ValueError:
            return False
        return True

    # ---------------------------------------------------------------------------------- snapshot

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            self._advance()
            now = time.monotonic()
            return {
                "accounts": sorted(a["username"] for a in self.accounts.values()),
                "counters": dict(self.counters),
                "logins": {k: dict(v) for k, v in self.logins.items()},
                "live_access_tokens": sum(1 for t in self._access.values() if t.expires_at > now),
                "live_refresh_tokens": len(self._refresh),
                "uploads": self.counters["uploads"],
                "jobs": [self._job_dict(job, now) for job in self.jobs.values()],
                "events": [self._event_dict(e) for e in self._events],
                "rejected": [
                    {"job_id": job.job_id, **row} for job in self.jobs.values() for row in job.parsed.rejected
                ],
                "facts": [dict(f) for f in self.facts],
                "destinations": [
                    {k: (sorted(v) if k == "titles" else v) for k, v in d.items()}
                    for d in self.destinations.values()
                ],
                "settings": {
                    "token_lifetime": self.token_lifetime,
                    "password_grants_per_hour": self.password_grants_per_hour,
                    "pending_seconds": self.pending_seconds,
                    "running_seconds": self.running_seconds,
                    "max_upload_bytes": self.max_upload_bytes,
                },
            }

    def _job_dict(self, job: Job, now: float) -> dict[str, Any]:
        return {
            "job_id": job.job_id,
            "state": job.state(now, self.job_ttl_seconds),
            "username": job.username,
            "destination": job.destination,
            "action": job.action,
            "form": dict(job.form),
            "filename": job.filename,
            "file_bytes": job.file_bytes,
            "width": job.parsed.width,
            "rows": job.parsed.rows,
            "appendCount": len(job.parsed.appended),
            "rejectedCount": len(job.parsed.rejected),
            "new_titles": job.new_titles,
            "fail_reason": job.fail_reason,
        }
