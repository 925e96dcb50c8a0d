"""How the HTTP core turns a failed request into a typed error, and which failures it may retry.

- :func:`classify_response`: a non-2xx answer -> :class:`~airflow_provider_events.exceptions.VendorApiError`
  subclass per status, wrapped in :class:`RetryableFailure` where the retry policy allows;
- :func:`unreachable` / :func:`no_answer`: a request that never reached the vendor (safe to resend) vs. one
  sent but unanswered (its outcome is unknown);
- :func:`error_body` and :func:`generic_error_message`: the vendor's error body, and one line of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from airflow_provider_events.exceptions import (
    EventsProviderError,
    VendorApiError,
    VendorAuthError,
    VendorBadRequestError,
    VendorNotFoundError,
    VendorRateLimitedError,
    VendorServerError,
    VendorUnavailableError,
)
from airflow_provider_events.hooks.retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    import requests

#: the longest error body kept (as text) on an error
MAX_BODY_CHARS = 4000

#: what a ``requests.ConnectionError`` says when no connection was ever made
_NEVER_CONNECTED = ("NewConnectionError", "Connection refused", "Name or service not known", "NameResolution")
#: where vendors put their one-line error message, most specific first
_MESSAGE_PATHS: tuple[tuple[str, ...], ...] = (
    ("message",),
    ("detail",),
    ("title",),
    ("error_description",),
    ("moreInformation",),
    ("httpMessage",),
    ("error", "detail"),
    ("error", "title"),
    ("error",),
)


class ResponseLike(Protocol):
    """What the retry loop and the error classification read of a response, whichever transport sent it."""

    @property
    def status_code(self) -> int: ...
    @property
    def ok(self) -> bool: ...
    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> Any: ...


ResponseT = TypeVar("ResponseT", bound=ResponseLike)


class RetryableFailure(Exception):
    """One attempt failed in a way the policy may retry (internal to the HTTP core's retry loop).

    :param error: the error raised when no retry is left or allowed.
    :param processed_maybe: the vendor may have processed the request, so only an idempotent one is resent.
    :param retry_after: the seconds the vendor asked to wait, when it said.
    """

    def __init__(
        self, error: EventsProviderError, *, processed_maybe: bool, retry_after: float | None = None
    ):
        super().__init__(str(error))
        self.error = error
        self.processed_maybe = processed_maybe
        self.retry_after = retry_after


def unreachable(vendor: str, netloc: str, detail: object) -> RetryableFailure:
    """The connection was never established: the request cannot have been processed."""
    return RetryableFailure(
        VendorUnavailableError(f"{vendor}: cannot reach {netloc}: {detail}", ambiguous=False),
        processed_maybe=False,
    )


def no_answer(vendor: str, message: str) -> RetryableFailure:
    """The request may have reached the vendor but no answer came: its outcome is unknown."""
    return RetryableFailure(
        VendorUnavailableError(f"{vendor}: {message}", ambiguous=True), processed_maybe=True
    )


def is_connect_failure(exc: requests.ConnectionError) -> bool:
    """True when the connection was never established, so the request cannot have been processed."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    return any(
        marker in text
        for marker in (
            "NewConnectionError",
            "Connection refused",
            "Name or service not known",
            "NameResolution",
        )
    )


def error_body(response: ResponseLike) -> Any:
    """The response body parsed from JSON, else its (truncated) text."""
    text = response.text[:MAX_BODY_CHARS] if response.content else ""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def generic_error_message(body: Any) -> str:
    """One-line message from an error body of a common shape (``message``, ``detail``, ``error`` ...)."""
    if isinstance(body, Mapping):
        for path in _MESSAGE_PATHS:
            value: Any = body
            for key in path:
                value = value.get(key) if isinstance(value, Mapping) else None
            if isinstance(value, (str, int)) and value != "":
                return str(value)
    if isinstance(body, str) and body.strip():
        return body.strip().splitlines()[0][:300]
    return "no error message in the response"


def classify_response(
    vendor: str,
    response: ResponseLike,
    body: Any,
    message: str,
    *,
    method: str,
    url: str,
    safe: bool,
    policy: RetryPolicy,
) -> VendorApiError | RetryableFailure:
    """The typed exception for a non-2xx response, wrapped for retry where the policy allows.

    :param vendor: the hook's connection type.
    :param body: the parsed error body; ``message``: one line of it.
    :param safe: the request may be repeated (idempotent): a 5xx on an unsafe one is ambiguous.
    """
    status = response.status_code
    kwargs: dict[str, Any] = {"body": body, "method": method, "path": urlsplit(url).path}
    unprocessed = status in policy.unprocessed_statuses
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        error: VendorApiError = VendorRateLimitedError(
            vendor, status, message, retry_after=retry_after, **kwargs
        )
        if status in policy.retry_statuses:
            return RetryableFailure(error, processed_maybe=not unprocessed, retry_after=retry_after)
        return error
    if status >= 500:
        error = VendorServerError(vendor, status, message, **kwargs)
        error.ambiguous = not safe and not unprocessed
        if status in policy.retry_statuses:
            return RetryableFailure(
                error,
                processed_maybe=not unprocessed,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        return error
    if status in (401, 403):
        return VendorAuthError(vendor, status, message, **kwargs)
    if status == 404:
        return VendorNotFoundError(vendor, status, message, **kwargs)
    if status in (400, 409, 410, 413, 415, 422):
        return VendorBadRequestError(vendor, status, message, **kwargs)
    return VendorApiError(vendor, status, message, **kwargs)
