"""Act-On hook: OAuth2 tokens, CSV custom-event uploads that run as jobs, and single custom events.

The Act-On vocabulary the hook shares with the delivery adapter, the operators, the sensor and the trigger
lives in its own modules and is re-exported here for existing imports:

- :mod:`~airflow_provider_events.hooks.acton_jobs`: :class:`ActOnJobStatus`, :class:`ActOnCustomEventJob`,
  :func:`classify_job_status`, :func:`summarize_jobs` and the job errors;
- :mod:`~airflow_provider_events.hooks.acton_dates`: the date patterns (:func:`format_acton_date`,
  :func:`parse_acton_date`, :func:`validate_dateformat`);
- :mod:`~airflow_provider_events.hooks.acton_csv`: :class:`CsvLayout`, record-exact reading, title counting
  and splitting into parts;
- :mod:`~airflow_provider_events.utils.multipart`: the streamed upload body.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any, ClassVar

from airflow_provider_events.exceptions import (
    VendorApiError,
    VendorAuthError,
)
from airflow_provider_events.hooks.acton_csv import (
    DEFAULT_MAX_UPLOAD_BYTES,
    FIELD_SEPARATORS,
    QUOTE_CHARACTERS,
    CsvLayout,
    count_distinct_titles,
    iter_csv_records,
    split_csv_file,
)
from airflow_provider_events.hooks.acton_dates import format_acton_date, parse_acton_date, validate_dateformat
from airflow_provider_events.hooks.acton_jobs import (
    EXPIRED_JOB_ERROR_CODE,
    ActOnCustomEventJob,
    ActOnJobFailedError,
    ActOnJobStatus,
    ActOnJobTimeoutError,
    JobsSummary,
    classify_job_status,
    is_expired_job_error,
    summarize_jobs,
)
from airflow_provider_events.hooks.acton_jobs import as_int as _as_int
from airflow_provider_events.hooks.acton_uploads import (
    CUSTOM_EVENT_ACTIONS,
    ActOnCustomEventUploads,
    check_custom_event_action,
)
from airflow_provider_events.hooks.base import REFRESH_MARGIN_EXTRAS
from airflow_provider_events.hooks.pagination import paginate_offset
from airflow_provider_events.hooks.security import mask
from airflow_provider_events.hooks.token_auth import TokenAuthHook
from airflow_provider_events.hooks.token_keeper import TokenKeeper
from airflow_provider_events.hooks.token_store import (
    CachedToken,
    account_key,
)
from airflow_provider_events.utils.multipart import MultipartFileBody
from airflow_provider_events.utils.ratelimit import RateLimiter, SlidingWindowLimiter

__all__ = [
    "CUSTOM_EVENT_ACTIONS",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "EXPIRED_JOB_ERROR_CODE",
    "FIELD_SEPARATORS",
    "QUOTE_CHARACTERS",
    "REGION_BASE_URLS",
    "ActOnCustomEventJob",
    "ActOnHook",
    "ActOnJobFailedError",
    "ActOnJobStatus",
    "ActOnJobTimeoutError",
    "CsvLayout",
    "JobsSummary",
    "MultipartFileBody",
    "classify_job_status",
    "count_distinct_titles",
    "format_acton_date",
    "is_expired_job_error",
    "iter_csv_records",
    "parse_acton_date",
    "shared_rate_limiter",
    "split_csv_file",
    "summarize_jobs",
    "validate_dateformat",
]

REGION_BASE_URLS = {
    "us": "https://api.actonsoftware.com",
    "eu": "https://api-eu.actonsoftware.com",
}

# ------------------------------------------------------------------------------- pacing
_LIMITERS: dict[tuple[str, float], SlidingWindowLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_rate_limiter(account: str, rate: float | None) -> SlidingWindowLimiter:
    """One sliding-window limiter per account and rate in this process, shared by every hook instance.

    Act-On counts calls per second per account: a sliding window keeps any one second at ``rate`` calls
    (a token bucket would let a full bucket's burst and the next second's refill land together).
    """
    if not rate:
        return SlidingWindowLimiter(None)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get((account, float(rate)))
        if limiter is None:
            limiter = _LIMITERS[(account, float(rate))] = SlidingWindowLimiter(float(rate))
        return limiter


# ------------------------------------------------------------------------------- hook
class ActOnHook(TokenAuthHook, ActOnCustomEventUploads):
    """Talks to the Act-On REST API (US or EU gateway) with OAuth2 bearer tokens.

    Connection: ``host`` = base URL (default the US gateway, or extra ``region: eu``), ``login`` /
    ``password`` = the Act-On user, extras ``client_id`` and ``client_secret``, optionally
    ``refresh_token`` (an existing refresh token, used instead of a first password login),
    ``refresh_margin`` (older name ``token_refresh_margin``; seconds before ``expires_in`` at which a cached
    access token is renewed, default 120), ``token_store`` (``auto`` default, ``variable`` or ``local``:
    where tokens are shared, see :func:`~airflow_provider_events.hooks.token_store.resolve_token_store_kind`),
    ``max_requests_per_second`` (default 5) and the HTTP core's extras.

    Tokens are kept in a token store keyed by the account (base URL, user, client id): an Airflow Variable
    read by every worker, pod, the triggerer and the API server, or a file shared by the processes of one
    host (``$AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR``). A password login happens only when there is neither a
    usable access token nor a working refresh token; each refresh rotates the single-use refresh token and
    persists it at once (:class:`~airflow_provider_events.hooks.token_keeper.TokenKeeper`), so two tasks
    refreshing together do not burn each other's token or a password login.

    :param conn_id: the ``acton`` connection id.
    :param token_store: where tokens are shared (default: from the ``token_store`` extra).
    :param kwargs: the HTTP core's options (``timeout``, ``retry_policy``, ``max_requests_per_second``,
        ``rate_limiter``: a limiter that replaces the shared account limiter for this hook ...).
    """

    default_conn_name: ClassVar[str] = "acton_default"
    conn_type: ClassVar[str] = "acton"
    hook_name: ClassVar[str] = "Act-On"
    default_base_url: ClassVar[str] = REGION_BASE_URLS["us"]
    region_base_urls: ClassVar[Mapping[str, str]] = REGION_BASE_URLS
    default_requests_per_second: ClassVar[float | None] = 5.0
    #: seconds before expiry at which a cached access token is no longer used.
    default_token_refresh_margin: ClassVar[float] = 120.0

    # ------------------------------------------------------------------ account, pacing

    def new_token_keeper(self) -> TokenKeeper:
        """The "peek, lock, renew" flow of this hook's account: password login and refresh grant."""
        return TokenKeeper(
            self.token_store,
            self.account,
            margin=self.token_refresh_margin,
            login=self._password_login,
            refresh=self._refresh_grant,
            logger=self.log,
        )

    @property
    def token_stats(self) -> dict[str, int]:
        """What this hook instance did about tokens: ``password_grants``, ``refresh_grants``,
        ``store_hits`` and ``peer_tokens`` (tokens another worker renewed)."""
        return self.token_keeper.stats

    @property
    def username(self) -> str:
        return str(self.connection.login or "")

    @property
    def client_id(self) -> str:
        return str(self.extra("client_id", ""))

    @property
    def account(self) -> str:
        """The token-store key of this connection's account (a hash; never reveals the user)."""
        return account_key("acton", self.base_url, self.username, self.client_id)

    @property
    def token_refresh_margin(self) -> float:
        return self.number_extra(REFRESH_MARGIN_EXTRAS, self.default_token_refresh_margin)

    def default_rate_limiter(self) -> RateLimiter:
        """Paces requests at 5 per second per Act-On account, shared by every hook instance of the process.

        No one-second window holds more than ``max_requests_per_second`` calls from this process. Several
        worker processes each pace on their own: cap the account across workers with an Airflow pool per
        account (see ``docs/tokens-and-pacing.md``). A ``rate_limiter`` given to the hook replaces it for
        this hook only.
        """
        return shared_rate_limiter(self.account, self.requests_per_second)

    # ------------------------------------------------------------------ OAuth2
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.get_access_token()}"}

    def on_unauthorized(self) -> bool:
        """A 401 on an API call: never send that access token again, renew, and retry.

        A request may renew twice (:attr:`max_reauthentications`): a refreshed token can be revoked before
        its first use, and then only a password login helps.
        """
        self.token_keeper.reject()
        self.log.info("Act-On refused the access token; renewing it")
        return True

    def get_access_token(self) -> str:
        """A usable access token: from this hook, else the shared store, else refreshed or logged in."""
        return self.token_keeper.access_token()

    def _refresh_grant(self, stored: CachedToken | None) -> CachedToken | None:
        """Renew with the stored refresh token (rotating it), then the bootstrap one; ``None`` if all refused.

        Called by the token keeper under the store's lock; the keeper saves what this returns.
        """
        candidates: list[str] = []
        if stored is not None and stored.refresh_token:
            candidates.append(stored.refresh_token)
        bootstrap = self.extra("refresh_token")
        if bootstrap:
            mask(bootstrap)
            used = stored.extra.get("bootstrap_used") if stored is not None else None
            fingerprint = account_key(str(bootstrap))
            if used != fingerprint and bootstrap not in candidates:
                candidates.append(str(bootstrap))
        for refresh_token in candidates:
            try:
                body = self._token_request(
                    {"grant_type": "refresh_token", "refresh_token": refresh_token}, grant="refresh_token"
                )
            except VendorApiError as exc:
                if _is_invalid_grant(exc):
                    self.log.info(
                        "Act-On refresh token no longer valid (%s); trying the next way in", exc.message
                    )
                    continue
                raise
            return self._token_from(body, bootstrap_fingerprint=_bootstrap_mark(bootstrap))
        return None

    def _password_login(self) -> CachedToken:
        """A password grant (5 per hour per account): called by the token keeper as the last resort."""
        if not self.username or not self.connection.password:
            raise VendorAuthError(
                "acton",
                401,
                "no usable token and no login/password on the connection to log in with "
                "(set login and password, or a fresh refresh_token extra)",
            )
        body = self._token_request(
            {"grant_type": "password", "username": self.username, "password": self.connection.password},
            grant="password",
        )
        self.log.info("Act-On password login done for connection %s", self.conn_id)
        return self._token_from(body, bootstrap_fingerprint=_bootstrap_mark(self.extra("refresh_token")))

    def _token_request(self, form: dict[str, str], *, grant: str) -> Mapping[str, Any]:
        client_secret = self.extra("client_secret")
        mask(client_secret)
        fields = {**form, "client_id": self.client_id, "client_secret": str(client_secret or "")}
        # A password grant refused with 429 means the 5-logins-per-hour budget is spent: waiting out its
        # Retry-After (up to an hour) while holding the account's token lock would stall every task.
        policy = self.retry_policy
        if grant == "password":
            policy = dataclasses.replace(policy, retry_statuses=policy.retry_statuses - {429})
        body = self.request_json(
            "POST",
            "token",
            data=fields,
            authenticated=False,
            idempotent=False,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            retry_policy=policy,
        )
        if not isinstance(body, Mapping) or not body.get("access_token"):
            raise VendorApiError("acton", 200, f"token endpoint ({grant} grant) returned no access_token")
        mask(body.get("access_token"))
        mask(body.get("refresh_token"))
        return body

    @staticmethod
    def _token_from(body: Mapping[str, Any], *, bootstrap_fingerprint: str | None) -> CachedToken:
        expires_in = _as_int(body.get("expires_in")) or 3600
        extra: dict[str, Any] = {"obtained_at": time.time(), "expires_in": expires_in}
        if bootstrap_fingerprint:
            extra["bootstrap_used"] = bootstrap_fingerprint
        return CachedToken(
            access_token=str(body["access_token"]),
            expires_at=time.time() + expires_in,
            refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
            extra=extra,
        )

    def parse_error_body(self, body: Any) -> str:
        """One line from Act-On's three error families.

        ``{"errorCode", "message"}`` (API), ``{"httpCode", "httpMessage", "moreInformation"}`` (gateway) and
        ``{"error", "error_description"}`` (token endpoint).
        """
        if isinstance(body, Mapping):
            if body.get("errorCode") not in (None, "") or (body.get("message") and "httpCode" not in body):
                message = str(body.get("message") or "error")
                code = body.get("errorCode")
                return f"{message} (errorCode {code})" if code not in (None, "") else message
            if any(body.get(k) for k in ("httpCode", "httpMessage", "moreInformation")):
                head = str(body.get("httpMessage") or f"HTTP {body.get('httpCode')}")
                more = body.get("moreInformation")
                return f"{head}: {more}" if more else head
            if body.get("error") or body.get("error_description"):
                error = str(body.get("error") or "")
                description = str(body.get("error_description") or "")
                return f"{error}: {description}" if error and description else (error or description)
        return super().parse_error_body(body)

    # ------------------------------------------------------------------ single events, listings
    def send_custom_event_fact(
        self,
        *,
        destination: str,
        customeventaction: str,
        email: str,
        when: str | date | datetime,
        title: str,
        note: str | None = None,
        dateformat: str = "yyyy-MM-dd",
        createlistingentry: bool | None = None,
    ) -> dict[str, Any]:
        """Record one custom event synchronously (``POST /api/1/customevents/fact``).

        Not retried once it may have reached Act-On (it is not idempotent).

        :param destination: custom-event listing name.
        :param customeventaction: one of :data:`CUSTOM_EVENT_ACTIONS`.
        :param email: the contact's e-mail.
        :param when: the event date: a date/datetime (formatted with ``dateformat``) or an already formatted
            string.
        :param title: the event title.
        :param note: optional note.
        :param dateformat: Java-style pattern of ``when``.
        :param createlistingentry: create the destination when missing (sent only when given).
        :returns: the decoded answer (``{}`` when Act-On answers without a JSON body).
        """
        action = check_custom_event_action(customeventaction)
        validate_dateformat(dateformat)
        when_text = format_acton_date(when, dateformat) if isinstance(when, (date, datetime)) else str(when)
        form: dict[str, str] = {
            "destination": str(destination),
            "customeventaction": action,
            "email": str(email),
            "when": when_text,
            "title": str(title),
            "dateformat": dateformat,
        }
        if note not in (None, ""):
            form["note"] = str(note)
        if createlistingentry is not None:
            form["createlistingentry"] = "true" if createlistingentry else "false"
        response = self.request("POST", "api/1/customevents/fact", data=form, idempotent=False)
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        return dict(body) if isinstance(body, Mapping) else {"result": body}

    def list_custom_event_destinations(self, *, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every custom-event listing (``GET /api/1/list?listingtype=custom_events``), one page at a time."""

        def fetch(offset: int, count: int) -> tuple[list[dict[str, Any]], int | None]:
            body = self.request_json(
                "GET", "api/1/list", params={"listingtype": "custom_events", "count": count, "offset": offset}
            )
            if not isinstance(body, Mapping):
                return [], 0
            items = [dict(item) for item in body.get("result") or [] if isinstance(item, Mapping)]
            return items, _as_int(body.get("totalCount"))

        return paginate_offset(fetch, page_size=min(max(1, page_size), 1000))

    def check_connection(self) -> str:
        """Log in (or reuse the shared token) and list one custom-event listing."""
        body = self.request_json(
            "GET", "api/1/list", params={"listingtype": "custom_events", "count": 1, "offset": 0}
        )
        total = _as_int(body.get("totalCount")) if isinstance(body, Mapping) else None
        found = f"{total} custom-event destination(s)" if total is not None else "list endpoint answered"
        return f"Connected to Act-On at {self.base_url}: {found}"


def _is_invalid_grant(exc: VendorApiError) -> bool:
    body = exc.body
    if isinstance(body, Mapping) and str(body.get("error") or "").lower() == "invalid_grant":
        return True
    return exc.status_code in (400, 401, 403) and "invalid_grant" in str(exc.message).lower()


def _bootstrap_mark(bootstrap: Any) -> str | None:
    """The fingerprint recorded once a token was obtained: any new token kills the bootstrap refresh token."""
    return account_key(str(bootstrap)) if bootstrap else None
