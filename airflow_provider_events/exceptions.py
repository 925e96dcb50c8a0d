"""The exception vocabulary shared by hooks, the delivery engine, operators, sensors and triggers.

Every error is rooted in :class:`AirflowException` so Airflow treats it as a task failure, and the tree lets a
caller tell *this record is bad* (:class:`InvalidRecordError`, :class:`VendorBadRequestError`) from *the
vendor or the credentials are broken for every record* (:class:`VendorAuthError`,
:class:`VendorNotFoundError` on a configured id) from *try again later* (:class:`VendorRateLimitedError`,
:class:`VendorServerError`, :class:`VendorUnavailableError`).

Exceptions never carry credentials. They carry the vendor's parsed error body, which vendors fill with
parameter names and reasons, not with the request payload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

if TYPE_CHECKING:
    from airflow_provider_events.sync.report import DeliveryReport


class EventsProviderError(AirflowException):
    """Root of every error raised by this provider."""

    #: True when trying the same thing again later may succeed (429, 5xx, vendor unreachable).
    retryable: bool = False
    #: True when the request may have been processed although it failed (its outcome is unknown).
    ambiguous: bool = False
    #: the delivery report up to the failure, when a sync raised this (set by the delivery engine).
    report: DeliveryReport | None = None


class ConfigurationError(EventsProviderError):
    """The connection or the operator arguments are unusable (missing field, insecure URL, bad option)."""


class InvalidRecordError(EventsProviderError, ValueError):
    """A record failed the vendor's rules before anything was sent.

    :param field: the vendor field (dotted for nested parts, e.g. ``dataFields.amount``) that is wrong.
    :param reason: a short, payload-free explanation.
    :param row_number: the 1-based number of the source row, when known.
    """

    def __init__(self, field: str, reason: str, *, row_number: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.row_number = row_number
        where = f"row {row_number}: " if row_number is not None else ""
        super().__init__(f"{where}field {field!r}: {reason}")


class VendorApiError(EventsProviderError):
    """The vendor answered with an error status.

    :param vendor: the vendor's short name (``acton``, ``expertsender_cdp``, ``carecloud``, ``gainsight_px``).
    :param status_code: the HTTP status code.
    :param message: a one-line summary extracted from the vendor's error body.
    :param body: the vendor's error body, parsed from JSON when it is JSON, else the text (truncated).
    :param method: the HTTP method of the request.
    :param path: the path of the request, without query string (query strings may hold identifiers).
    """

    #: the HTTP status the vendor answered (AirflowException types it as HTTPStatus; vendors send any int).
    status_code: int  # type: ignore[assignment]

    def __init__(
        self,
        vendor: str,
        status_code: int,
        message: str,
        *,
        body: Any = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.vendor = vendor
        self.status_code = status_code
        self.message = message
        self.body = body
        self.method = method
        self.path = path
        where = f" on {method} {path}" if method else ""
        super().__init__(f"{vendor} answered {status_code}{where}: {message}")


class VendorBadRequestError(VendorApiError):
    """400/409/422: the vendor refused this request's content. Retrying the same request will not help."""


class VendorAuthError(VendorApiError):
    """401/403: the credentials are missing, wrong, expired or lack a permission. Stops a run at once."""


class VendorNotFoundError(VendorApiError):
    """404: the resource (custom event, event type, job, event) does not exist."""


class VendorRateLimitedError(VendorApiError):
    """429 after every retry was spent.

    :param retry_after: the seconds the vendor asked us to wait, when it said.
    """

    retryable = True

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class VendorServerError(VendorApiError):
    """5xx after every retry was spent."""

    retryable = True


class VendorUnavailableError(EventsProviderError):
    """The vendor could not be reached (connection refused, reset, timeout) after every retry.

    :param ambiguous: True when the request may have reached the vendor (e.g. a read timeout after the body
        was sent), so its outcome is unknown.
    """

    retryable = True

    def __init__(self, message: str, *, ambiguous: bool = False) -> None:
        self.ambiguous = ambiguous
        super().__init__(message)


class DeliveryAbortedError(EventsProviderError):
    """The delivery stopped because every further record would fail the same way (bad key, unknown id)."""


class DeliveryIncompleteError(EventsProviderError):
    """Some events could not be delivered (vendor unavailable); a task retry resends exactly those."""


class RejectedThresholdExceededError(EventsProviderError):
    """More records were rejected than ``max_rejected`` / ``max_rejected_ratio`` allow."""


class InDoubtThresholdExceededError(EventsProviderError):
    """More events are in doubt (may or may not have reached the vendor) than ``max_in_doubt`` allow."""
