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

from airflow_provider_events.testing.emulator.acton.contract import (
    CUSTOM_EVENT_ACTIONS,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    DOCUMENTED_DATE_FORMATS,
    LISTING_TYPES,
    MAX_LIST_COUNT,
    QUOTE_CHARACTERS,
    SEPARATORS,
    is_valid_email,
)
from airflow_provider_events.testing.emulator.acton.dates import JavaDateParser, java_date_candidates
from airflow_provider_events.testing.emulator.acton.routes import ActOnEmulator
from airflow_provider_events.testing.emulator.acton.upload_csv import (
    ParsedUpload,
    UploadRejected,
    parse_custom_events_csv,
)

__all__ = [
    "CUSTOM_EVENT_ACTIONS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "DOCUMENTED_DATE_FORMATS",
    "LISTING_TYPES",
    "MAX_LIST_COUNT",
    "QUOTE_CHARACTERS",
    "SEPARATORS",
    "ActOnEmulator",
    "JavaDateParser",
    "ParsedUpload",
    "UploadRejected",
    "is_valid_email",
    "java_date_candidates",
    "parse_custom_events_csv",
]
