"""Delivery adapter of ExpertSender CDP: one ``POST /scenariocustomevents`` per customer event."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from airflow_provider_events.exceptions import (
    ConfigurationError,
    InvalidRecordError,
    VendorApiError,
    VendorAuthError,
    VendorNotFoundError,
)
from airflow_provider_events.hooks.expertsender_cdp import (
    CustomerIdentifier,
    CustomerRef,
    DataFieldType,
    ExpertSenderCdpHook,
    ProblemDetails,
    build_customer_event,
    check_custom_event_id,
)
from airflow_provider_events.sync.adapter import ErrorScope, PerEventAdapter, SendOutcome
from airflow_provider_events.utils.values import parse_bool_word

DATA_FIELDS_KEY = "dataFields"


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = parse_bool_word(str(value)) if str(value).strip() else False
    if word is not None:
        return word
    raise ConfigurationError(f"destination_options {name} must be true or false, got {value!r}")


class ExpertSenderCdpAdapter(PerEventAdapter[ExpertSenderCdpHook, dict[str, Any]]):
    """Fires the configured scenario custom event once per mapped record.

    A record holds the customer's identifier and the event's data, in either form:

    - nested: ``{"customerEmail": "...", "dataFields": {"amount": 12.5}}``
      (a data value may be a plain value or ``{"value": ..., "type": ...}``);
    - flat: ``{"email": "...", "amount": 12.5, "sku": "A1"}``: every key other than the identifier is a data
      field (handy with ``mapping=None``, where the row itself is the record).

    The identifier field is the kind's wire name (``customerEmailSha256``) or its short name
    (``email_sha256``), or ``identifier_field``. A record that also holds another identifier kind is rejected:
    one customer, one identifier. A ``None`` data value sends no field.

    ``destination_options``:

    - ``custom_event_id`` (required): the custom event to fire (int32; Automation > Scenarios > Custom
      events);
    - ``identifier`` (required): ``id``, ``email``, ``email_md5``, ``email_sha256``, ``phone`` or ``crm_id``;
    - ``identifier_field``: the record field holding the identifier, when it is named otherwise;
    - ``hash_emails``: the identifier field holds raw e-mails, hashed here (with ``email_md5`` /
      ``email_sha256``) so raw addresses never leave the warehouse;
    - ``data_field_types``: ``name -> type`` (String, Text, Number, Money, Date, DateTime, Boolean, URL) for
      values given without an inline type; otherwise the type is inferred from the Python value.

    Errors: 401 and a 404 about the custom event stop the run at once (every row would fail the same way);
    a 404 about an unknown customer and every 400 reject the row. So that a wrong key or custom event id
    costs one request and not one per worker, the first request of a run is sent alone (the other workers
    wait for its answer), and once a run-stopping error is seen every later :meth:`send` raises it again
    without calling the vendor.
    """

    conn_type = "expertsender_cdp"
    #: no idempotency key exists: a resent event fires the scenario twice.
    vendor_deduplicates = False
    #: no limit is published; 50 rps keeps a large run gentle on a shared business unit (10,000 customers
    #: in under 4 minutes) and a 429 with ``Retry-After`` is honoured by the hook if the vendor sends one.
    default_max_requests_per_second = 50.0
    #: 50 rps at ~100 ms per request needs 5 requests in flight; 8 leaves room for slower answers.
    default_max_concurrency = 8
    option_names = frozenset(
        {"custom_event_id", "identifier", "identifier_field", "hash_emails", "data_field_types"}
    )

    def __init__(self, hook: ExpertSenderCdpHook, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(hook, options)
        if self.options.get("custom_event_id") in (None, ""):
            raise ConfigurationError("destination_options custom_event_id is required for expertsender_cdp")
        self.custom_event_id = check_custom_event_id(self.options["custom_event_id"])
        if self.options.get("identifier") in (None, ""):
            raise ConfigurationError(
                "destination_options identifier is required for expertsender_cdp: one of "
                + ", ".join(k.value for k in CustomerIdentifier)
            )
        self.identifier = CustomerIdentifier.parse(self.options["identifier"])
        self.hash_emails = _as_bool("hash_emails", self.options.get("hash_emails", False))
        if self.hash_emails and not self.identifier.is_email_hash:
            raise ConfigurationError(
                "destination_options hash_emails needs identifier email_md5 or email_sha256, "
                f"not {self.identifier.value}"
            )
        types = self.options.get("data_field_types") or {}
        if not isinstance(types, Mapping):
            raise ConfigurationError("destination_options data_field_types must be a mapping name -> type")
        self.data_field_types = {str(k): DataFieldType.parse(v) for k, v in types.items()}
        field = self.options.get("identifier_field")
        self.identifier_fields = (
            (str(field),) if field else (self.identifier.wire_field, self.identifier.value)
        )
        self._first_lock = threading.Lock()
        self._first_claimed = False
        self._first_done = threading.Event()
        self._fatal: VendorApiError | None = None
        #: record keys naming other identifier kinds (refused: one identifier per customer).
        self._other_identifiers = frozenset(
            name
            for kind in CustomerIdentifier
            if kind is not self.identifier
            for name in (kind.wire_field, kind.value)
        ) - set(self.identifier_fields)

    def destination_object(self) -> str:
        """The custom event (the delivery ledger's destination)."""
        return f"custom_event={self.custom_event_id}"

    def prepare(self, record: dict[str, Any], key: str) -> dict[str, Any]:
        present = [name for name in self.identifier_fields if name in record]
        if not present:
            raise InvalidRecordError(
                self.identifier.wire_field,
                f"missing: the record needs {' or '.join(self.identifier_fields)} ({self.identifier.value})",
            )
        if len(present) > 1:
            raise InvalidRecordError(present[1], f"the identifier is given twice (also as {present[0]})")
        others = sorted(self._other_identifiers.intersection(record))
        if others:
            raise InvalidRecordError(
                others[0],
                f"one identifier per customer: the run identifies customers by {self.identifier.value}; "
                f"leave {others[0]} out of the record or put it under {DATA_FIELDS_KEY}",
            )
        customer = CustomerRef.of(self.identifier, record[present[0]], hash_emails=self.hash_emails)
        data: dict[str, Any] = {}
        nested = record.get(DATA_FIELDS_KEY)
        if nested is not None:
            if not isinstance(nested, Mapping):
                raise InvalidRecordError(DATA_FIELDS_KEY, "expected a mapping of name -> value")
            data.update(nested)
        for name, value in record.items():
            if name in (present[0], DATA_FIELDS_KEY):
                continue
            if name in data:
                raise InvalidRecordError(f"{DATA_FIELDS_KEY}.{name}", "given both flat and under dataFields")
            data[name] = value
        return build_customer_event(self.custom_event_id, customer, data, self.data_field_types)

    def send(self, payload: dict[str, Any]) -> SendOutcome:
        first = False
        if not self._first_done.is_set():
            with self._first_lock:
                first, self._first_claimed = not self._first_claimed, True
            if not first:
                self._first_done.wait()
        try:
            if self._fatal is not None:
                raise _copy(self._fatal)
            try:
                self.hook.send_customer_event(payload)
            except VendorApiError as exc:
                if self.error_scope(exc) is ErrorScope.RUN:
                    self._fatal = exc
                raise
            return SendOutcome.ACCEPTED
        finally:
            if first:
                self._first_done.set()

    def error_scope(self, error: VendorApiError) -> ErrorScope:
        """401/403 and a 404 about the custom event stop the run; a 404 about a customer and 400s are per row.

        A 404 whose body cannot be recognised as "customer not found" stops the run: failing loudly once is
        better than rejecting every row of a run whose custom event id is wrong.
        """
        if isinstance(error, VendorAuthError):
            return ErrorScope.RUN
        if isinstance(error, VendorNotFoundError):
            problem = ProblemDetails.from_error(error)
            if problem is not None and problem.is_customer_not_found:
                return ErrorScope.ROW
            return ErrorScope.RUN
        return ErrorScope.ROW


def _copy(error: VendorApiError) -> VendorApiError:
    """A fresh instance of a run-stopping error, to raise again from another thread."""
    return type(error)(
        error.vendor, error.status_code, error.message, body=error.body, method=error.method, path=error.path
    )
