"""Emulator of the Act-On REST API v1: OAuth token endpoint, CSV custom-event upload jobs, single facts.

Served under ``http://127.0.0.1:PORT/acton`` (the vendor's host root): ``POST /token``,
``POST /api/1/customevents``, ``GET /api/1/customevents/{jobId}/status``, ``POST /api/1/customevents/fact``
and ``GET /api/1/list?listingtype=custom_events``. Contract: ``shared/vendor-apis.md`` section 1, the
upload seed, and the vendor's OpenAPI documents (``acton-api-1.json``, ``acton-oauth.json``).

Documented behaviour reproduced
    * ``POST /token`` (form-urlencoded; ``grant_type`` may also come in the query string, as in the
      spec's ``/token?grant_type=password``): ``password`` and ``refresh_token`` grants; success body
      ``access_token``, ``refresh_token``, ``scope`` (``offline-access``), ``token_type`` ``Bearer``,
      ``expires_in``. Errors: 401 ``access_denied``/``Unauthorized`` (bad client id/secret), 403
      ``invalid_grant``/``Wrong email or password.``, 403 ``invalid_grant``/``Unknown or invalid refresh
      token.``. Refresh tokens are single-use: they die when used and when any new token is issued for the
      same client + username; they also die after ``refresh_lifetime`` (30 days). Access tokens live
      ``token_lifetime`` seconds (3600).
    * 5 password grants per hour per account.
    * 5 API calls per second per account (``/api/1``); above it the gateway answers **429** (inferred body
      below).
    * Every ``/api/1`` call needs ``Authorization: Bearer <token>``; otherwise 401 with the gateway body
      ``{"httpCode":"401","httpMessage":"Unauthorized","moreInformation":...}``.
    * Upload: multipart form fields ``destination``, ``firstrow`` (Y/N), ``fieldseparator`` (TAB, COMMA,
      SEMICOLON, SPACE), ``quotecharacter`` (NONE, SINGLE_QUOTE, DOUBLE_QUOTE), ``customeventaction``
      (CUSTOM_DOWNLOADED ... CUSTOM_GENERAL5), ``emailcolidx``, ``datecolidx``, ``titlecolidx``,
      ``notecolidx`` (optional), ``titlecount``, ``dateformat``, ``filename`` (optional) and the file part
      ``file``; answer ``{"jobId": "<digits>", "status": "success"}``; missing file is 400 errorCode 10003
      ``Input file missing``.
    * Job status: ``{"status":"The job is pending"}``, ``{"status":"The job is running"}``, then
      ``{"status":"success","jobDetails":"<JSON string>","details":{"status":"ok","customEventsId":...,
      "appendCount":N,"rejectedCount":M}}``; unknown or expired job: 400 ``{"errorCode":10017,
      "message":"Invalid or expired Job Id"}``.
    * List: ``{"offset","count","totalCount","result":[{"id","name","folderName",...}]}``; ``count`` at
      most 1000.

Inferred behaviour (the vendor does not document it; chosen as the most plausible, all configurable)
    * Call rate exceeded: a call that would be the sixth of the account in the last second (any sliding
      one-second window, counted on arrival) answers **429** with the gateway body ``{"httpCode":"429",
      "httpMessage":"Too Many Requests","moreInformation":"Rate limit exceeded: 5 calls per second"}`` and
      ``Retry-After: 1``. Refused calls do not count. Knobs: ``api_calls_per_second`` (calls allowed per
      window; 0 disables), ``api_rate_window`` (the window in seconds, 1 by default).
    * Password-grant budget exceeded: **429** ``{"error":"too_many_requests","error_description":
      "Authentication limit exceeded: 5 password grants per hour"}`` with ``Retry-After`` = seconds until
      the oldest counted attempt leaves the hour window. Every password attempt with a valid client counts,
      including wrong passwords; attempts refused by the budget itself do not (so a client that keeps
      retrying is not locked out forever). Refresh grants never count. Status: ``auth_budget_status``.
    * Missing ``grant_type`` or an unknown one: 400 ``unsupported_grant_type``; a missing username/password/
      refresh_token: 400 ``invalid_request``. A refresh token presented with another client is
      ``invalid_grant``. Issuing a new token does not revoke earlier *access* tokens (they simply expire).
      Usernames match case-insensitively, passwords exactly.
    * Upload validation errors: missing required field -> 400 ``{"errorCode":10121,"message":"Missing
      parameter - <name>"}`` (the code Act-On uses elsewhere for a missing parameter); a bad value ->
      400 ``{"errorCode":10001,"message":"Invalid parameter - <name>: <why>"}`` (code invented). Enums are
      matched exactly (upper case, as documented). Column indexes must be plain non-negative integers and
      must fall inside the width of the file's first row (header or first data row): an index outside it is
      a 400, not a per-row rejection. ``titlecount`` must be a non-negative integer; it is recorded, not
      enforced. An empty file (no row at all) -> 400 errorCode 10003 ``Input file is empty``. A CSV the
      parser cannot read -> 400 errorCode 10085. A body that is not multipart or urlencoded -> 415.
      Part name ``File`` is accepted like ``file``; a ``file`` sent as a plain field is accepted as text.
    * Too large: the file (or, early, the declared body) above ``max_upload_bytes`` (400 MiB) -> 413 with
      the gateway body ``{"httpCode":"413","httpMessage":"Request Entity Too Large",...}``.
    * ``dateformat`` must be one of the 15 patterns of the upload documentation (``DOCUMENTED_DATE_FORMATS``)
      or one seeded with ``extra_dateformats`` (letters ``y M d E H h m s S a``, quoted literals). Patterns
      are Java ``SimpleDateFormat``: parsing is
      case-insensitive for month/day names, ``MMM`` and ``MMMM`` both accept short and long month names (as
      Java's parser does), likewise ``EEE``/``EEEE``; ``yy`` takes exactly two digits in Java's century
      window (80 years back, 20 ahead) or a longer number literally (so ``MM/dd/yy`` parses ``01/25/2023``,
      as the documentation's example shows); numbers may omit the leading zero. Impossible dates (02/30,
      13/01 for ``MM/dd``) are unparsable (Java's lenient roll-over is *not* copied: it would hide swapped
      day/month bugs). A weekday name must be a real day name but is not checked against the date: Java
      resolves these patterns from day, month and year, and the documentation's own example
      ``Tue, 25 Jan 2023`` names the wrong weekday. Leading/trailing blanks around the date are ignored.
    * Rows: the file is decoded as UTF-8 (a BOM is dropped; undecodable bytes become U+FFFD, as a Java
      reader would); blank lines are skipped and not counted; with ``firstrow=Y`` the first non-blank row is
      skipped. Each row is appended when the e-mail (trimmed) is a plausible ASCII address, the date parses,
      and the title is not blank; otherwise it is rejected with one reason: ``row too short`` (any given
      column index, note included, beyond the row), ``invalid email``, ``unparsable date``,
      ``missing title``. Values are stored exactly as parsed (no trimming), so tests can compare them.
    * A job moves pending -> running -> done after ``pending_seconds`` then ``running_seconds`` (0.2 s each);
      its rows become visible in :meth:`snapshot` ``events`` only once it is done and not failed. A failed
      job answers 200 ``{"status":"failed","message":"<reason>"}``. Jobs never expire unless
      ``job_ttl_seconds`` is set or a job is expired explicitly.
    * The destination named in an upload is created when missing. Its ``customEventsId`` is ``ce-NNNN``.
      List entries carry ``id``, ``name``, ``folderName`` (``Custom Events``), ``description``,
      ``sourceSize`` and ``tsLastModified``. Other documented ``listingtype`` values answer an empty page;
      an unknown one is 400 errorCode 10001. ``count`` above 1000 is capped at 1000.
    * Fact: fields from the form (urlencoded or multipart); ``createlistingentry`` accepts true/false/Y/N/1/0
      (any case) and defaults to false (``fact_create_default``); unknown destination without it -> 400
      ``{"errorCode":10004,"message":"Invalid or missing list"}``; success 200 ``{"status":"success"}``.

Knobs (``seed()`` keys, also plain attributes): ``accounts`` ([{username, password}]), ``clients``
([{client_id, client_secret}]), ``token_lifetime``, ``refresh_lifetime``, ``password_grants_per_hour``,
``password_grant_window``, ``auth_budget_status``, ``api_calls_per_second``, ``api_rate_window``,
``revoke_next_refresh`` (one-shot: the next refresh grant answers tokens that are already revoked),
``job_delays`` ({pending, running}), ``next_job_delays``
(one-shot), ``job_ttl_seconds``, ``destinations`` (names or {name, folderName}), ``fail_next_job``
(reason, one-shot), ``fail_destinations`` ({name: reason}), ``expire_jobs`` ([ids]), ``revoke_tokens``
(true: every access and refresh token dies), ``expire_access_tokens`` (true: access tokens die, refresh
tokens stay), ``max_upload_bytes``, ``fact_create_default``, ``extra_dateformats``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import math
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import IO, Any, ClassVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from airflow_provider_events.testing.emulator.base import VendorEmulator

# strptime imports _strptime lazily, which is not thread-safe on first use: import it now.
datetime.strptime("2000", "%Y")

DEFAULT_USERNAME = "emulator@example.com"
DEFAULT_PASSWORD = "emulator-password"  # noqa: S105 - the emulator's fixture
DEFAULT_CLIENT_ID = "emulator-client-id"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"  # noqa: S105

SEPARATORS = {"TAB": "\t", "COMMA": ",", "SEMICOLON": ";", "SPACE": " "}
QUOTE_CHARACTERS: dict[str, str | None] = {"NONE": None, "SINGLE_QUOTE": "'", "DOUBLE_QUOTE": '"'}
FIRSTROW_VALUES = ("Y", "N")
CUSTOM_EVENT_ACTIONS = (
    "CUSTOM_DOWNLOADED",
    "CUSTOM_REGISTERED",
    "CUSTOM_ATTENDED",
    "CUSTOM_GENERAL",
    "CUSTOM_GENERAL1",
    "CUSTOM_GENERAL2",
    "CUSTOM_GENERAL3",
    "CUSTOM_GENERAL4",
    "CUSTOM_GENERAL5",
)
#: the date patterns listed by the upload documentation (slash, dash, textual month).
DOCUMENTED_DATE_FORMATS = (
    "MM/dd/yyyy",
    "dd/MM/yyyy",
    "MM/dd/yy",
    "dd/MM/yy",
    "yyyy/MM/dd",
    "MM-dd-yyyy",
    "dd-MM-yyyy",
    "MM-dd-yy",
    "dd-MM-yy",
    "yyyy-MM-dd",
    "dd MMM yyyy",
    "MMM dd yyyy",
    "dd MMMM yyyy",
    "EEE, dd MMM yyyy",
    "EEEE, dd MMMM yyyy",
)
LISTING_TYPES = (
    "contact_list",
    "header",
    "footer",
    "sender",
    "media",
    "pages",
    "custom_events",
    "template_message",
    "draft_message",
    "landing_page",
    "sent_message",
    "triggered_message",
    "test_message",
    "failed_message",
    "scheduled_message",
)
MAX_LIST_COUNT = 1000
#: room for the form fields and multipart framing around the file when checking the body size early.
FORM_SLACK_BYTES = 1024 * 1024
GATEWAY_401_INFO = (
    "Cannot pass the security checks that are required by the target API or operation, "
    "Enable debug headers for more details."
)
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$"
)
_UINT_RE = re.compile(r"^[0-9]+$")
_JOB_IDS = itertools.count(15_937_380)  # process-wide: a job id never comes back after a reset


def is_valid_email(value: str) -> bool:
    """A plausible ASCII e-mail address (surrounding blanks ignored, at most 254 characters)."""
    value = value.strip()
    return len(value) <= 254 and _EMAIL_RE.match(value) is not None


# --------------------------------------------------------------------------------------------- dates


@dataclass(frozen=True)
class _Candidate:
    fmt: str
    two_digit_year: bool
    has_time: bool


_JAVA_LETTERS: dict[str, Any] = {
    "d": lambda n: ["%d"],
    "H": lambda n: ["%H"],
    "h": lambda n: ["%I"],
    "m": lambda n: ["%M"],
    "s": lambda n: ["%S"],
    "a": lambda n: ["%p"],
    "S": lambda n: ["%f"],
    "y": lambda n: ["%y", "%Y"] if n == 2 else ["%Y"],
    "M": lambda n: ["%m"] if n <= 2 else (["%b", "%B"] if n == 3 else ["%B", "%b"]),
    "E": lambda n: ["%a", "%A"] if n <= 3 else ["%A", "%a"],
}


@lru_cache(maxsize=256)
def java_date_candidates(pattern: str) -> tuple[_Candidate, ...]:
    """Translate a Java ``SimpleDateFormat`` pattern to the ``strptime`` formats that parse like it.

    :raises ValueError: for a letter this emulator does not support.
    """
    pieces: list[list[str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            end = pattern.find("'", i + 1)
            if end == i + 1:  # '' is a literal quote
                pieces.append(["'"])
                i += 2
                continue
            if end < 0:
                raise ValueError("unterminated quote in date pattern")
            pieces.append([pattern[i + 1 : end].replace("%", "%%")])
            i = end + 1
        elif char.isalpha():
            run = 1
            while i + run < len(pattern) and pattern[i + run] == char:
                run += 1
            if char not in _JAVA_LETTERS:
                raise ValueError(f"unsupported date pattern letter {char!r}")
            pieces.append(_JAVA_LETTERS[char](run))
            i += run
        else:
            pieces.append(["%%" if char == "%" else char])
            i += 1
    candidates = []
    for combo in itertools.product(*pieces):
        fmt = "".join(combo)
        candidates.append(
            _Candidate(
                fmt=fmt,
                two_digit_year="%y" in combo,
                has_time=any(p in combo for p in ("%H", "%I", "%M", "%S", "%f")),
            )
        )
    return tuple(candidates)


def _java_two_digit_year(two_digits: int, today: date) -> int:
    """Java's default century window: the 100 years starting 80 years before today."""
    start = today.year - 80
    year = (start // 100) * 100 + two_digits
    return year + 100 if year < start else year


class JavaDateParser:
    """Parse date strings like Act-On does with a ``SimpleDateFormat`` pattern; results are cached.

    :param pattern: the Java pattern (``dd MMM yyyy`` ...).
    """

    def __init__(self, pattern: str) -> None:
        self.candidates = java_date_candidates(pattern)
        self.today = date.today()
        self._cache: dict[str, str | None] = {}

    def parse(self, text: str) -> str | None:
        """The ISO date (or date-time) of ``text``, or ``None`` when it does not parse."""
        hit = self._cache.get(text, "")
        if hit != "":
            return hit
        result = self._parse(text.strip())
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[text] = result
        return result

    def _parse(self, text: str) -> str | None:
        for cand in self.candidates:
            try:
                parsed = datetime.strptime(text, cand.fmt)
                if cand.two_digit_year:
                    parsed = parsed.replace(year=_java_two_digit_year(parsed.year % 100, self.today))
            except ValueError:
                continue
            return parsed.isoformat() if cand.has_time else parsed.date().isoformat()
        return None


# ------------------------------------------------------------------------------------------- parsing


class UploadRejected(Exception):
    """The whole upload is refused (a 400 with an Act-On error body)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ParsedUpload:
    """What the CSV parser found in one upload."""

    width: int
    rows: int = 0
    #: (record, email, date_iso, date_text, title, note)
    appended: list[tuple[int, str, str, str, str, str | None]] = field(default_factory=list)
    #: {"record", "line", "reason", "fields"}
    rejected: list[dict[str, Any]] = field(default_factory=list)


def parse_custom_events_csv(
    binary: IO[bytes],
    *,
    separator: str,
    quotechar: str | None,
    header: bool,
    email_idx: int,
    date_idx: int,
    title_idx: int,
    note_idx: int | None,
    dateformat: str,
) -> ParsedUpload:
    """Parse an uploaded custom-events CSV, row by row, as Act-On is described to.

    :raises UploadRejected: empty file, unreadable CSV, or a column index outside the first row.
    """
    buffer: Any = binary if hasattr(binary, "readable") else getattr(binary, "_file", binary)
    text = io.TextIOWrapper(buffer, encoding="utf-8-sig", errors="replace", newline="")
    try:
        reader = csv.reader(
            text,
            delimiter=separator,
            quotechar=quotechar,
            quoting=csv.QUOTE_NONE if quotechar is None else csv.QUOTE_MINIMAL,
            doublequote=True,
            strict=False,
        )
        dates = JavaDateParser(dateformat)
        result: ParsedUpload | None = None
        indexes = [email_idx, date_idx, title_idx] + ([note_idx] if note_idx is not None else [])
        need = max(indexes)
        record = 0
        try:
            for row in reader:
                if not row:
                    continue  # blank line
                if result is None:
                    result = ParsedUpload(width=len(row))
                    for name, idx in (
                        ("emailcolidx", email_idx),
                        ("datecolidx", date_idx),
                        ("titlecolidx", title_idx),
                        ("notecolidx", note_idx),
                    ):
                        if idx is not None and idx >= len(row):
                            raise UploadRejected(
                                10001,
                                f"Invalid parameter - {name}: column {idx} is outside the "
                                f"{len(row)} columns of the first row",
                            )
                    if header:
                        continue
                record += 1
                result.rows += 1
                reason = None
                if len(row) <= need:
                    reason = "row too short"
                elif not is_valid_email(row[email_idx]):
                    reason = "invalid email"
                else:
                    when = dates.parse(row[date_idx])
                    if when is None:
                        reason = "unparsable date"
                    elif not row[title_idx].strip():
                        reason = "missing title"
                    else:
                        note = row[note_idx] if note_idx is not None else None
                        result.appended.append(
                            (record, row[email_idx], when, row[date_idx], row[title_idx], note)
                        )
                        continue
                result.rejected.append(
                    {"record": record, "line": reader.line_num, "reason": reason, "fields": row}
                )
        except csv.Error as exc:
            raise UploadRejected(10085, f"Invalid file: {exc}") from exc
        if result is None:
            raise UploadRejected(10003, "Input file is empty")
        return result
    finally:
        text.detach()


# --------------------------------------------------------------------------------------------- state


@dataclass
class _Token:
    username: str
    client_id: str
    expires_at: float


@dataclass
class _Job:
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


class _TooLarge(Exception):
    pass


def _api_error(code: int, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


def _gateway_error(
    status: int, message: str, info: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"httpCode": str(status), "httpMessage": message, "moreInformation": info},
        status_code=status,
        headers=headers,
    )


def _oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _parse_bool(value: str) -> bool | None:
    low = value.strip().lower()
    if low in ("true", "y", "yes", "1"):
        return True
    if low in ("false", "n", "no", "0"):
        return False
    return None


class ActOnEmulator(VendorEmulator):
    """The Act-On API (see the module docstring for every documented and inferred behaviour)."""

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

        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}
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
        self.jobs: dict[str, _Job] = {}
        self._uncommitted: list[_Job] = []
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
        still: list[_Job] = []
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
        self._access[access] = _Token(username, client_id, now + self.token_lifetime)
        old = self._live_refresh.pop((username, client_id), None)
        if old is not None:
            self._refresh.pop(old, None)
        self._refresh[refresh] = _Token(username, client_id, now + self.refresh_lifetime)
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

    def _authorize(self, request: Request) -> str | JSONResponse:
        """The account behind the request's bearer token, or the gateway's 401."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        with self.lock:
            self.counters["api_calls"] += 1
            found = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
            if found is not None and found.expires_at <= time.monotonic():
                del self._access[token.strip()]
                found = None
            if found is None:
                self.counters["unauthorized"] += 1
                return _gateway_error(401, "Unauthorized", GATEWAY_401_INFO)
            if not self._within_call_rate(found.username):
                self.counters["rate_limited"] += 1
                return _gateway_error(
                    429,
                    "Too Many Requests",
                    f"Rate limit exceeded: {self.api_calls_per_second:g} calls per second",
                    headers={"Retry-After": "1"},
                )
            return found.username

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

    def _job_dict(self, job: _Job, now: float) -> dict[str, Any]:
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

    # ----------------------------------------------------------------------------------- routes

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/token", self._token, methods=["POST"])
        router.add_api_route("/api/1/customevents", self._upload, methods=["POST"])
        router.add_api_route("/api/1/customevents/fact", self._fact, methods=["POST"])
        router.add_api_route("/api/1/customevents/{jobId}/status", self._status, methods=["GET"])
        router.add_api_route("/api/1/list", self._list, methods=["GET"])
        return router

    async def _read_form(self, request: Request) -> FormData | None:
        """The request's form (urlencoded or multipart), or None for another content type."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return None
        return await request.form()

    # POST /token
    async def _token(self, request: Request) -> JSONResponse:
        try:
            form = await self._read_form(request)
        except Exception:
            form = None
        fields: dict[str, str] = {k: v for k, v in request.query_params.items()}
        if form is not None:
            fields.update({k: v for k, v in form.items() if isinstance(v, str)})
        grant = fields.get("grant_type", "")
        with self.lock:
            secret = self.clients.get(fields.get("client_id", ""))
            if secret is None or secret != fields.get("client_secret"):
                self.counters["bad_client"] += 1
                return _oauth_error(401, "access_denied", "Unauthorized")
            if grant == "password":
                return self._password_grant(fields)
            if grant == "refresh_token":
                return self._refresh_grant(fields)
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be password or refresh_token")

    def _password_grant(self, fields: dict[str, str]) -> JSONResponse:
        for name in ("username", "password"):
            if not fields.get(name):
                return _oauth_error(400, "invalid_request", f"Missing parameter: {name}")
        key = fields["username"].lower()
        counter = self._login_counter(key)
        now = time.monotonic()
        window = self._grant_times.setdefault(key, deque())
        while window and window[0] <= now - self.password_grant_window:
            window.popleft()
        if len(window) >= self.password_grants_per_hour:
            self.counters["password_grants_over_budget"] += 1
            counter["over_budget"] += 1
            retry = max(1, math.ceil(window[0] + self.password_grant_window - now))
            return _oauth_error(
                self.auth_budget_status,
                "too_many_requests",
                f"Authentication limit exceeded: {self.password_grants_per_hour} password grants per hour",
                headers={"Retry-After": str(retry)},
            )
        window.append(now)
        self.counters["password_grants"] += 1
        counter["password_grants"] += 1
        account = self.accounts.get(key)
        if account is None or account["password"] != fields["password"]:
            self.counters["password_grants_failed"] += 1
            counter["password_grants_failed"] += 1
            return _oauth_error(403, "invalid_grant", "Wrong email or password.")
        return JSONResponse(self._issue(key, fields["client_id"]))

    def _refresh_grant(self, fields: dict[str, str]) -> JSONResponse:
        self.counters["refresh_grants"] += 1
        presented = fields.get("refresh_token", "")
        if not presented:
            self.counters["refresh_grants_failed"] += 1
            return _oauth_error(400, "invalid_request", "Missing parameter: refresh_token")
        token = self._refresh.get(presented)
        if token is not None:
            self._login_counter(token.username)["refresh_grants"] += 1
        if token is None or token.client_id != fields["client_id"] or token.expires_at <= time.monotonic():
            self.counters["refresh_grants_failed"] += 1
            return _oauth_error(403, "invalid_grant", "Unknown or invalid refresh token.")
        del self._refresh[presented]
        self._live_refresh.pop((token.username, token.client_id), None)
        issued = self._issue(token.username, token.client_id)
        if self.revoke_next_refresh:  # the grant is revoked between this answer and the token's first use
            self.revoke_next_refresh = False
            self._access.pop(issued["access_token"], None)
            self._refresh.pop(issued["refresh_token"], None)
            self._live_refresh.pop((token.username, token.client_id), None)
        return JSONResponse(issued)

    # POST /api/1/customevents
    async def _upload(self, request: Request) -> JSONResponse:
        who = self._authorize(request)
        if isinstance(who, JSONResponse):
            return who
        limit = self.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit + FORM_SLACK_BYTES:
            return self._too_large()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if ctype == "multipart/form-data":
                form = await self._multipart(request, limit + FORM_SLACK_BYTES)
            elif ctype == "application/x-www-form-urlencoded":
                form = await request.form()
            else:
                return _api_error(10001, "Unsupported media type: use multipart/form-data", 415)
        except _TooLarge:
            return self._too_large()
        except MultiPartException as exc:
            return _api_error(10001, f"Invalid multipart body: {exc.message}")
        try:
            return await self._accept_upload(who, form, limit)
        finally:
            await form.close()

    def _too_large(self) -> JSONResponse:
        with self.lock:
            self.counters["uploads_rejected"] += 1
        return _gateway_error(
            413, "Request Entity Too Large", f"The file exceeds {self.max_upload_bytes} bytes"
        )

    @staticmethod
    async def _multipart(request: Request, limit: int) -> FormData:
        """Parse the multipart body, file parts spooled to temporary files, stopping past ``limit`` bytes."""

        async def counted() -> Any:
            seen = 0
            async for chunk in request.stream():
                seen += len(chunk)
                if seen > limit:
                    raise _TooLarge
                yield chunk

        parser = MultiPartParser(request.headers, counted(), max_part_size=1024 * 1024)
        return await parser.parse()

    async def _accept_upload(self, username: str, form: FormData, limit: int) -> JSONResponse:
        values: dict[str, str] = {}
        upload: UploadFile | str | None = None
        for key, value in form.multi_items():
            if key in ("file", "File"):
                upload = upload or value
            elif isinstance(value, str):
                values.setdefault(key, value)
        bad = self._validate_upload_fields(values)
        if bad is not None:
            return self._reject(bad)
        if upload is None:
            return self._reject(_api_error(10003, "Input file missing"))
        if isinstance(upload, str):
            binary: IO[bytes] = io.BytesIO(upload.encode("utf-8"))
            size, filename = len(upload.encode("utf-8")), values.get("filename")
        else:
            binary, size = upload.file, upload.size or 0
            filename = values.get("filename") or upload.filename
        if size > limit:
            return self._too_large()
        if size == 0:
            return self._reject(_api_error(10003, "Input file is empty"))
        note = values.get("notecolidx", "")
        try:
            parsed = await asyncio.to_thread(
                parse_custom_events_csv,
                binary,
                separator=SEPARATORS[values["fieldseparator"]],
                quotechar=QUOTE_CHARACTERS[values["quotecharacter"]],
                header=values["firstrow"] == "Y",
                email_idx=int(values["emailcolidx"]),
                date_idx=int(values["datecolidx"]),
                title_idx=int(values["titlecolidx"]),
                note_idx=int(note) if note else None,
                dateformat=values["dateformat"],
            )
        except UploadRejected as exc:
            return self._reject(_api_error(exc.code, exc.message))
        destination, action = values["destination"], values["customeventaction"]
        with self.lock:
            dest = self._destination(destination)
            known = dest["titles"]
            new_titles = len({row[4] for row in parsed.appended} - known)
            delays = self.next_job_delays or {}
            self.next_job_delays = None
            fail = self.fail_destinations.get(destination)
            if self.fail_next_job is not None:
                fail, self.fail_next_job = self.fail_next_job, None
            job = _Job(
                job_id=str(next(_JOB_IDS)),
                username=username,
                destination=destination,
                action=action,
                form={k: v for k, v in values.items() if k not in ("file", "File")},
                filename=filename,
                file_bytes=size,
                created=time.monotonic(),
                pending_seconds=float(delays.get("pending", self.pending_seconds)),
                running_seconds=float(delays.get("running", self.running_seconds)),
                parsed=parsed,
                new_titles=new_titles,
                fail_reason=fail,
            )
            self.jobs[job.job_id] = job
            self._uncommitted.append(job)
            self.counters["uploads"] += 1
        return JSONResponse({"jobId": job.job_id, "status": "success"})

    def _reject(self, response: JSONResponse) -> JSONResponse:
        with self.lock:
            self.counters["uploads_rejected"] += 1
        return response

    def _validate_upload_fields(self, values: dict[str, str]) -> JSONResponse | None:
        required = (
            "destination",
            "firstrow",
            "fieldseparator",
            "quotecharacter",
            "customeventaction",
            "emailcolidx",
            "datecolidx",
            "titlecolidx",
            "titlecount",
            "dateformat",
        )
        for name in required:
            if not values.get(name, "").strip():
                return _api_error(10121, f"Missing parameter - {name}")
        enums: dict[str, Any] = {
            "firstrow": FIRSTROW_VALUES,
            "fieldseparator": SEPARATORS,
            "quotecharacter": QUOTE_CHARACTERS,
            "customeventaction": CUSTOM_EVENT_ACTIONS,
        }
        for name, allowed in enums.items():
            if values[name] not in allowed:
                return _api_error(10001, f"Invalid parameter - {name}: must be one of {', '.join(allowed)}")
        for name in ("emailcolidx", "datecolidx", "titlecolidx", "notecolidx", "titlecount"):
            value = values.get(name, "")
            if (name != "notecolidx" or value) and not _UINT_RE.match(value):
                return _api_error(10001, f"Invalid parameter - {name}: must be a non-negative integer")
        if not self._dateformat_ok(values["dateformat"]):
            return _api_error(10001, "Invalid parameter - dateformat: unsupported date format")
        return None

    # GET /api/1/customevents/{jobId}/status
    async def _status(self, jobId: str, request: Request) -> JSONResponse:
        who = self._authorize(request)
        if isinstance(who, JSONResponse):
            return who
        with self.lock:
            self.counters["status_polls"] += 1
            self._advance()
            job = self.jobs.get(jobId)
            state = job.state(time.monotonic(), self.job_ttl_seconds) if job is not None else "expired"
            if job is None or state == "expired":
                return _api_error(10017, "Invalid or expired Job Id")
            if state in ("pending", "running"):
                return JSONResponse({"status": f"The job is {state}"})
            if state == "failed":
                return JSONResponse({"status": "failed", "message": job.fail_reason})
            details = {
                "status": "ok",
                "customEventsId": self.destinations[job.destination]["id"],
                "appendCount": len(job.parsed.appended),
                "rejectedCount": len(job.parsed.rejected),
            }
        return JSONResponse(
            {
                "status": "success",
                "jobDetails": json.dumps(details, separators=(",", ":")),
                "details": details,
            }
        )

    # POST /api/1/customevents/fact
    async def _fact(self, request: Request) -> JSONResponse:
        who = self._authorize(request)
        if isinstance(who, JSONResponse):
            return who
        try:
            form = await self._read_form(request)
        except Exception:
            return _api_error(10001, "Invalid form body")
        if form is None:
            return _api_error(10001, "Unsupported media type: send the fields as a form", 415)
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        await form.close()
        for name in ("destination", "customeventaction", "email", "when", "title", "dateformat"):
            if not values.get(name, "").strip():
                return _api_error(10121, f"Missing parameter - {name}")
        if values["customeventaction"] not in CUSTOM_EVENT_ACTIONS:
            return _api_error(
                10001,
                f"Invalid parameter - customeventaction: must be one of {', '.join(CUSTOM_EVENT_ACTIONS)}",
            )
        if not self._dateformat_ok(values["dateformat"]):
            return _api_error(10001, "Invalid parameter - dateformat: unsupported date format")
        if not is_valid_email(values["email"]):
            return _api_error(10001, "Invalid parameter - email: not a valid e-mail address")
        when = JavaDateParser(values["dateformat"]).parse(values["when"])
        if when is None:
            return _api_error(10001, "Invalid parameter - when: does not match dateformat")
        create = self.fact_create_default
        if values.get("createlistingentry", "").strip():
            parsed_bool = _parse_bool(values["createlistingentry"])
            if parsed_bool is None:
                return _api_error(10001, "Invalid parameter - createlistingentry: must be true or false")
            create = parsed_bool
        with self.lock:
            self.counters["facts"] += 1
            created = False
            if values["destination"] not in self.destinations:
                if not create:
                    return _api_error(10004, "Invalid or missing list")
                created = True
            dest = self._destination(values["destination"])
            dest["events"] += 1
            dest["titles"].add(values["title"])
            self.facts.append(
                {
                    "username": who,
                    "destination": values["destination"],
                    "action": values["customeventaction"],
                    "email": values["email"],
                    "date": when,
                    "date_text": values["when"],
                    "title": values["title"],
                    "note": values.get("note"),
                    "dateformat": values["dateformat"],
                    "created_destination": created,
                }
            )
        return JSONResponse({"status": "success"})

    # GET /api/1/list
    async def _list(self, request: Request) -> JSONResponse:
        who = self._authorize(request)
        if isinstance(who, JSONResponse):
            return who
        params = request.query_params
        listing = params.get("listingtype", "")
        if listing not in LISTING_TYPES:
            return _api_error(10001, "Invalid parameter - listingtype")
        try:
            count = int(params.get("count", MAX_LIST_COUNT))
            offset = int(params.get("offset", 0))
        except ValueError:
            return _api_error(10001, "Invalid parameter - count/offset: must be integers")
        if count < 0 or offset < 0:
            return _api_error(10001, "Invalid parameter - count/offset: must not be negative")
        count = min(count, MAX_LIST_COUNT)
        with self.lock:
            self.counters["list_calls"] += 1
            self._advance()
            items = list(self.destinations.values()) if listing == "custom_events" else []
            page = [
                {
                    "id": d["id"],
                    "name": d["name"],
                    "folderName": d["folderName"],
                    "description": d["description"],
                    "sourceSize": str(d["events"]),
                    "tsLastModified": d["tsLastModified"],
                }
                for d in items[offset : offset + count]
            ]
        return JSONResponse({"offset": offset, "count": len(page), "totalCount": len(items), "result": page})
