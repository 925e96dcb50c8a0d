"""Act-On's HTTP routes: the OAuth token endpoint, uploads and their status, single facts, the listing."""

import asyncio
import io
import json
import math
import time
from collections import deque
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from airflow_provider_events.testing.emulator.acton.contract import (
    CUSTOM_EVENT_ACTIONS,
    FIRSTROW_VALUES,
    FORM_SLACK_BYTES,
    GATEWAY_401_INFO,
    JOB_IDS,
    LISTING_TYPES,
    MAX_LIST_COUNT,
    QUOTE_CHARACTERS,
    SEPARATORS,
    UINT_RE,
    api_error,
    gateway_error,
    is_valid_email,
    oauth_error,
    parse_bool,
)
from airflow_provider_events.testing.emulator.acton.dates import JavaDateParser
from airflow_provider_events.testing.emulator.acton.state import ActOnState, Job
from airflow_provider_events.testing.emulator.acton.upload_csv import UploadRejected, parse_custom_events_csv
from airflow_provider_events.testing.emulator.dependencies import Refused, authorization


class TooLarge(Exception):
    """The upload's body went past the size limit while it was read."""


class ActOnEmulator(ActOnState):
    """The Act-On API (see the package docstring for every documented and inferred behaviour)."""

    # ----------------------------------------------------------------------------------- routes

    def router(self) -> APIRouter:
        # the alias is local: FastAPI reads it from the signature, so each router binds its own emulator
        account = Annotated[str, Depends(self.bearer_account)]

        async def upload(request: Request, who: account) -> JSONResponse:
            return await self._upload(request, who)

        async def status(jobId: str, who: account) -> JSONResponse:
            return self._status(jobId)

        async def fact(request: Request, who: account) -> JSONResponse:
            return await self._fact(request, who)

        async def listing(request: Request, who: account) -> JSONResponse:
            return self._list(request)

        router = APIRouter()
        router.add_api_route("/token", self._token, methods=["POST"])
        router.add_api_route("/api/1/customevents", upload, methods=["POST"])
        router.add_api_route("/api/1/customevents/fact", fact, methods=["POST"])
        router.add_api_route("/api/1/customevents/{jobId}/status", status, methods=["GET"])
        router.add_api_route("/api/1/list", listing, methods=["GET"])
        return router

    async def bearer_account(self, request: Request) -> str:
        """The account behind the request's bearer token; refused with the gateway's 401 or 429.

        :raises Refused: no valid token, or the account's call rate is exceeded.
        """
        scheme, token = authorization(request)
        with self.lock:
            self.counters["api_calls"] += 1
            found = self._access.get(token) if scheme == "bearer" else None
            if found is not None and found.expires_at <= time.monotonic():
                del self._access[token]
                found = None
            if found is None:
                self.counters["unauthorized"] += 1
                raise Refused(gateway_error(401, "Unauthorized", GATEWAY_401_INFO))
            if not self._within_call_rate(found.username):
                self.counters["rate_limited"] += 1
                raise Refused(
                    gateway_error(
                        429,
                        "Too Many Requests",
                        f"Rate limit exceeded: {self.api_calls_per_second:g} calls per second",
                        headers={"Retry-After": "1"},
                    )
                )
            return found.username

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
                return oauth_error(401, "access_denied", "Unauthorized")
            if grant == "password":
                return self._password_grant(fields)
            if grant == "refresh_token":
                return self._refresh_grant(fields)
        return oauth_error(400, "unsupported_grant_type", "grant_type must be password or refresh_token")

    def _password_grant(self, fields: dict[str, str]) -> JSONResponse:
        for name in ("username", "password"):
            if not fields.get(name):
                return oauth_error(400, "invalid_request", f"Missing parameter: {name}")
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
            return oauth_error(
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
            return oauth_error(403, "invalid_grant", "Wrong email or password.")
        return JSONResponse(self._issue(key, fields["client_id"]))

    def _refresh_grant(self, fields: dict[str, str]) -> JSONResponse:
        self.counters["refresh_grants"] += 1
        presented = fields.get("refresh_token", "")
        if not presented:
            self.counters["refresh_grants_failed"] += 1
            return oauth_error(400, "invalid_request", "Missing parameter: refresh_token")
        token = self._refresh.get(presented)
        if token is not None:
            self._login_counter(token.username)["refresh_grants"] += 1
        if token is None or token.client_id != fields["client_id"] or token.expires_at <= time.monotonic():
            self.counters["refresh_grants_failed"] += 1
            return oauth_error(403, "invalid_grant", "Unknown or invalid refresh token.")
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
    async def _upload(self, request: Request, who: str) -> JSONResponse:
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
                return api_error(10001, "Unsupported media type: use multipart/form-data", 415)
        except TooLarge:
            return self._too_large()
        except MultiPartException as exc:
            return api_error(10001, f"Invalid multipart body: {exc.message}")
        try:
            return await self._accept_upload(who, form, limit)
        finally:
            await form.close()

    def _too_large(self) -> JSONResponse:
        with self.lock:
            self.counters["uploads_rejected"] += 1
        return gateway_error(
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
                    raise TooLarge
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
            return self._reject(api_error(10003, "Input file missing"))
        if isinstance(upload, str):
            binary: IO[bytes] = io.BytesIO(upload.encode("utf-8"))
            size, filename = len(upload.encode("utf-8")), values.get("filename")
        else:
            binary, size = upload.file, upload.size or 0
            filename = values.get("filename") or upload.filename
        if size > limit:
            return self._too_large()
        if size == 0:
            return self._reject(api_error(10003, "Input file is empty"))
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
            return self._reject(api_error(exc.code, exc.message))
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
            job = Job(
                job_id=str(next(JOB_IDS)),
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
                return api_error(10121, f"Missing parameter - {name}")
        enums: dict[str, Any] = {
            "firstrow": FIRSTROW_VALUES,
            "fieldseparator": SEPARATORS,
            "quotecharacter": QUOTE_CHARACTERS,
            "customeventaction": CUSTOM_EVENT_ACTIONS,
        }
        for name, allowed in enums.items():
            if values[name] not in allowed:
                return api_error(10001, f"Invalid parameter - {name}: must be one of {', '.join(allowed)}")
        for name in ("emailcolidx", "datecolidx", "titlecolidx", "notecolidx", "titlecount"):
            value = values.get(name, "")
            if (name != "notecolidx" or value) and not UINT_RE.match(value):
                return api_error(10001, f"Invalid parameter - {name}: must be a non-negative integer")
        if not self._dateformat_ok(values["dateformat"]):
            return api_error(10001, "Invalid parameter - dateformat: unsupported date format")
        return None

    # GET /api/1/customevents/{jobId}/status
    def _status(self, jobId: str) -> JSONResponse:
        with self.lock:
            self.counters["status_polls"] += 1
            self._advance()
            job = self.jobs.get(jobId)
            state = job.state(time.monotonic(), self.job_ttl_seconds) if job is not None else "expired"
            if job is None or state == "expired":
                return api_error(10017, "Invalid or expired Job Id")
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
    async def _fact(self, request: Request, who: str) -> JSONResponse:
        try:
            form = await self._read_form(request)
        except Exception:
            return api_error(10001, "Invalid form body")
        if form is None:
            return api_error(10001, "Unsupported media type: send the fields as a form", 415)
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        await form.close()
        for name in ("destination", "customeventaction", "email", "when", "title", "dateformat"):
            if not values.get(name, "").strip():
                return api_error(10121, f"Missing parameter - {name}")
        if values["customeventaction"] not in CUSTOM_EVENT_ACTIONS:
            return api_error(
                10001,
                f"Invalid parameter - customeventaction: must be one of {', '.join(CUSTOM_EVENT_ACTIONS)}",
            )
        if not self._dateformat_ok(values["dateformat"]):
            return api_error(10001, "Invalid parameter - dateformat: unsupported date format")
        if not is_valid_email(values["email"]):
            return api_error(10001, "Invalid parameter - email: not a valid e-mail address")
        when = JavaDateParser(values["dateformat"]).parse(values["when"])
        if when is None:
            return api_error(10001, "Invalid parameter - when: does not match dateformat")
        create = self.fact_create_default
        if values.get("createlistingentry", "").strip():
            parsed_bool = parse_bool(values["createlistingentry"])
            if parsed_bool is None:
                return api_error(10001, "Invalid parameter - createlistingentry: must be true or false")
            create = parsed_bool
        with self.lock:
            self.counters["facts"] += 1
            created = False
            if values["destination"] not in self.destinations:
                if not create:
                    return api_error(10004, "Invalid or missing list")
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
    def _list(self, request: Request) -> JSONResponse:
        params = request.query_params
        listing = params.get("listingtype", "")
        if listing not in LISTING_TYPES:
            return api_error(10001, "Invalid parameter - listingtype")
        try:
            count = int(params.get("count", MAX_LIST_COUNT))
            offset = int(params.get("offset", 0))
        except ValueError:
            return api_error(10001, "Invalid parameter - count/offset: must be integers")
        if count < 0 or offset < 0:
            return api_error(10001, "Invalid parameter - count/offset: must not be negative")
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
