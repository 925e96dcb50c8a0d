"""ExpertSender CDP hook: scenario custom events for one customer or for whole segments.

Also the vocabulary shared by the hook, the delivery adapter and the operators:

- :class:`CustomerIdentifier`: the six ways the API identifies a customer, with their wire field and limit;
- :class:`CustomerRef`: one customer, identified by exactly one kind, validated (and hashed) before sending;
- :class:`DataFieldType` and :class:`DataField`: ``dataFields`` items, with one stable string format per type;
- :class:`ProblemDetails`: the vendor's problem-details error body.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError, VendorApiError
from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.hooks.security import mask
from airflow_provider_events.utils.values import parse_bool_word

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

CUSTOMER_EVENT_PATH = "/scenariocustomevents"
SEGMENT_EVENT_PATH = "/scenariocustomevents/withsegments"
#: a syntactically valid address on a reserved domain: no real customer can match it.
CONNECTION_PROBE_EMAIL = "airflow-connection-test@example.invalid"

_HEX = re.compile(r"^[0-9a-f]+$")


# ---------------------------------------------------------------------------------------------- identifiers
class CustomerIdentifier(str, Enum):
    """How a customer is identified in a scenario custom event. One kind per customer, chosen by the user."""

    #: ECDP's internal customer id (``customerId``).
    ID = "id"
    #: the e-mail address (``customerEmail``, at most 320 characters).
    EMAIL = "email"
    #: lower-case hex MD5 of the trimmed, lower-cased e-mail (``customerEmailMd5``, 32 characters).
    EMAIL_MD5 = "email_md5"
    #: lower-case hex SHA-256 of the trimmed, lower-cased e-mail (``customerEmailSha256``, 64 characters).
    EMAIL_SHA256 = "email_sha256"
    #: the phone number (``customerPhone``, at most 20 characters).
    PHONE = "phone"
    #: the customer's id in the user's CRM (``customerCrmId``, at most 128 characters).
    CRM_ID = "crm_id"

    @property
    def wire_field(self) -> str:
        """The request body field that carries this identifier."""
        return _WIRE_FIELDS[self]

    @property
    def max_length(self) -> int | None:
        """The documented maximum length in characters (``None``: not documented)."""
        return _MAX_LENGTHS[self]

    @property
    def is_email_hash(self) -> bool:
        return self in (CustomerIdentifier.EMAIL_MD5, CustomerIdentifier.EMAIL_SHA256)

    @classmethod
    def parse(cls, value: CustomerIdentifier | str) -> CustomerIdentifier:
        """The kind named by its value (``email_sha256``), enum name or wire field (``customerEmailSha256``).

        :raises ConfigurationError: for any other name.
        """
        if isinstance(value, CustomerIdentifier):
            return value
        text = str(value).strip()
        lowered = text.lower()
        for kind in cls:
            if lowered in (kind.value, kind.name.lower(), kind.wire_field.lower()):
                return kind
        raise ConfigurationError(
            f"unknown customer identifier {text!r}; use one of {', '.join(k.value for k in cls)}"
        )


_WIRE_FIELDS = {
    CustomerIdentifier.ID: "customerId",
    CustomerIdentifier.EMAIL: "customerEmail",
    CustomerIdentifier.EMAIL_MD5: "customerEmailMd5",
    CustomerIdentifier.EMAIL_SHA256: "customerEmailSha256",
    CustomerIdentifier.PHONE: "customerPhone",
    CustomerIdentifier.CRM_ID: "customerCrmId",
}
_MAX_LENGTHS: dict[CustomerIdentifier, int | None] = {
    CustomerIdentifier.ID: None,
    CustomerIdentifier.EMAIL: 320,
    CustomerIdentifier.EMAIL_MD5: 32,
    CustomerIdentifier.EMAIL_SHA256: 64,
    CustomerIdentifier.PHONE: 20,
    CustomerIdentifier.CRM_ID: 128,
}


def normalize_email(email: str) -> str:
    """The e-mail as hashed by the vendor: trimmed and lower-cased."""
    return email.strip().lower()


def hash_email(email: str, kind: CustomerIdentifier) -> str:
    """Lower-case hex MD5 or SHA-256 of the normalised e-mail, so the raw address never leaves the warehouse.

    :raises ConfigurationError: when ``kind`` is not an e-mail hash kind.
    """
    data = normalize_email(email).encode("utf-8")
    if kind is CustomerIdentifier.EMAIL_MD5:
        return hashlib.md5(data, usedforsecurity=False).hexdigest()
    if kind is CustomerIdentifier.EMAIL_SHA256:
        return hashlib.sha256(data).hexdigest()
    raise ConfigurationError(f"{kind.value} is not an e-mail hash identifier")


@dataclass(frozen=True)
class CustomerRef:
    """One customer, identified by exactly one kind.

    Build it with :meth:`of`, which validates the value (and hashes a raw e-mail when asked); the
    constructor trusts its arguments.

    :param kind: the identifier kind.
    :param value: the identifier as sent (``customerId`` may stay an ``int``; every other kind is a string).
    """

    kind: CustomerIdentifier
    value: str | int

    @classmethod
    def of(cls, kind: CustomerIdentifier | str, value: Any, *, hash_emails: bool = False) -> CustomerRef:
        """Validate ``value`` as a ``kind`` identifier.

        :param kind: the identifier kind (enum, value, name or wire field).
        :param value: the identifier. With ``hash_emails`` and an e-mail hash kind, a raw e-mail address
            that is normalised and hashed here; without it, for hash kinds, an existing hex digest.
        :param hash_emails: hash raw e-mail addresses locally (only with ``email_md5`` / ``email_sha256``).
        :raises ConfigurationError: ``hash_emails`` with a kind that is not an e-mail hash.
        :raises InvalidRecordError: empty, too long or malformed value (the message never holds the value).
        """
        kind = CustomerIdentifier.parse(kind)
        where = kind.wire_field
        if hash_emails and not kind.is_email_hash:
            raise ConfigurationError(
                f"hash_emails needs the identifier email_md5 or email_sha256, not {kind.value}"
            )
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InvalidRecordError(where, "the customer identifier is empty")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidRecordError(where, f"expected a string, got {type(value).__name__}")
        if kind is CustomerIdentifier.ID:
            if isinstance(value, int):
                if value < 0:
                    raise InvalidRecordError(where, "the customer id must not be negative")
                return cls(kind, value)
            return cls(kind, value.strip())
        text = str(value).strip()
        if kind.is_email_hash:
            if hash_emails:
                _check_email(text, where)
                text = hash_email(text, kind)
            else:
                text = text.lower()
                expected = 32 if kind is CustomerIdentifier.EMAIL_MD5 else 64
                if len(text) != expected or not _HEX.match(text):
                    hint = "; set hash_emails to hash raw addresses locally" if "@" in text else ""
                    raise InvalidRecordError(where, f"expected a {expected}-character hex digest{hint}")
        elif kind is CustomerIdentifier.EMAIL:
            _check_email(text, where)
        elif kind is CustomerIdentifier.PHONE and any(c.isspace() for c in text):
            raise InvalidRecordError(where, "the phone number must not contain spaces")
        limit = kind.max_length
        if limit is not None and len(text) > limit:
            raise InvalidRecordError(where, f"{len(text)} characters, more than the limit of {limit}")
        return cls(kind, text)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, hash_emails: bool = False) -> CustomerRef:
        """A reference from a one-key mapping such as ``{"email": "a@b.c"}`` or ``{"customerCrmId": "7"}``."""
        present = {k: v for k, v in data.items() if v is not None}
        if len(present) != 1:
            raise ConfigurationError(
                f"a customer needs exactly one identifier, got {len(present)}: {sorted(present)}"
            )
        ((name, value),) = present.items()
        return cls.of(name, value, hash_emails=hash_emails)

    def to_wire(self) -> dict[str, str | int]:
        """The identifier's part of the request body."""
        return {self.kind.wire_field: self.value}


def _check_email(text: str, where: str) -> None:
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in text):
        raise InvalidRecordError(where, "not an e-mail address")
    if len(text) > 320:
        raise InvalidRecordError(where, f"{len(text)} characters, more than the limit of 320")


# ---------------------------------------------------------------------------------------------- data fields
class DataFieldType(str, Enum):
    """The documented ``dataFields`` types. Every value travels as a string in the format given here."""

    #: any text; non-strings are written in the format of their inferred type.
    STRING = "String"
    #: long text; same format as String.
    TEXT = "Text"
    #: a plain decimal without exponent: ``12``, ``-3.25``.
    NUMBER = "Number"
    #: a decimal with at least two decimals (more are kept, never rounded): ``19.90``, ``0.125``.
    MONEY = "Money"
    #: ``YYYY-MM-DD``.
    DATE = "Date"
    #: ISO-8601 in UTC: ``YYYY-MM-DDTHH:MM:SSZ`` (``.ffffff`` before the ``Z`` when there are microseconds).
    DATETIME = "DateTime"
    #: ``true`` or ``false``.
    BOOLEAN = "Boolean"
    #: an absolute ``http``/``https`` URL.
    URL = "URL"

    @classmethod
    def parse(cls, value: DataFieldType | str) -> DataFieldType:
        """The type named ``value`` (case-insensitive).

        :raises ConfigurationError: for a type the vendor does not document.
        """
        if isinstance(value, DataFieldType):
            return value
        lowered = str(value).strip().lower()
        for kind in cls:
            if lowered in (kind.value.lower(), kind.name.lower()):
                return kind
        raise ConfigurationError(
            f"unknown data field type {value!r}; use one of {', '.join(k.value for k in cls)}"
        )

    @classmethod
    def infer(cls, value: Any) -> DataFieldType:
        """The type of a Python value: bool -> Boolean, int/float/Decimal -> Number, datetime -> DateTime,
        date -> Date, str -> String.

        :raises ValueError: for any other Python type.
        """
        if isinstance(value, bool):
            return cls.BOOLEAN
        if isinstance(value, (int, float, Decimal)):
            return cls.NUMBER
        if isinstance(value, datetime):
            return cls.DATETIME
        if isinstance(value, date):
            return cls.DATE
        if isinstance(value, str):
            return cls.STRING
        raise ValueError(f"cannot infer a data field type for a {type(value).__name__}; give the type")

    def render(self, value: Any) -> str:
        """``value`` in this type's stable string format.

        :raises ValueError: when the value cannot be represented as this type (payload-free message).
        """
        return _FORMATTERS[self](value)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        number = Decimal(repr(value))
    elif isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("not a decimal number") from None
    else:
        raise ValueError(f"a {type(value).__name__} is not a number")
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def _plain(number: Decimal) -> str:
    if number.is_zero():
        number = number.copy_abs()
    return format(number, "f")


def _format_number(value: Any) -> str:
    return _plain(_decimal(value))


def _format_money(value: Any) -> str:
    number = _decimal(value)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        try:
            number = number.quantize(Decimal("0.01"))
        except InvalidOperation:
            raise ValueError("too many digits for an amount") from None
    return _plain(number)


def _format_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) != 10:
                raise ValueError(text)
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text).date().isoformat()
        except ValueError:
            raise ValueError("not a date in the YYYY-MM-DD format") from None
    raise ValueError(f"a {type(value).__name__} is not a date")


def _format_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("not an ISO-8601 date-time") from None
    else:
        raise ValueError(f"a {type(value).__name__} is not a date-time")
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return moment.strftime(pattern)


def _format_boolean(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value in (0, 1):
        return "true" if value else "false"
    if isinstance(value, str):
        word = parse_bool_word(value)
        if word is not None:
            return "true" if word else "false"
    raise ValueError("not a boolean (true/false, 1/0, yes/no)")


def _format_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a {type(value).__name__} is not a URL")
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
        raise ValueError("not an absolute http(s) URL")
    return text


def _format_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    return DataFieldType.infer(value).render(value)


_FORMATTERS = {
    DataFieldType.STRING: _format_string,
    DataFieldType.TEXT: _format_string,
    DataFieldType.NUMBER: _format_number,
    DataFieldType.MONEY: _format_money,
    DataFieldType.DATE: _format_date,
    DataFieldType.DATETIME: _format_datetime,
    DataFieldType.BOOLEAN: _format_boolean,
    DataFieldType.URL: _format_url,
}


@dataclass(frozen=True)
class DataField:
    """One ``dataFields`` item, already in wire format.

    :param name: the data name used in the scenario.
    :param type: the documented type.
    :param value: the value in the type's string format.
    """

    name: str
    type: DataFieldType
    value: str

    @classmethod
    def of(cls, name: str, value: Any, type: DataFieldType | str | None = None) -> DataField:
        """Convert a Python value, with an explicit type or one inferred from the value.

        :raises InvalidRecordError: the value does not fit the type, or the type is unknown
            (``dataFields.<name>`` names the field).
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidRecordError("dataFields", "a data field needs a non-empty name")
        where = f"dataFields.{name}"
        try:
            kind = DataFieldType.parse(type) if type is not None else DataFieldType.infer(value)
            return cls(name, kind, kind.render(value))
        except (ValueError, ConfigurationError) as exc:
            raise InvalidRecordError(where, str(exc)) from None

    def to_wire(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type.value, "value": self.value}


def build_data_fields(
    data_fields: Mapping[str, Any] | Iterable[DataField] | None,
    types: Mapping[str, DataFieldType | str] | None = None,
) -> list[dict[str, str]]:
    """``dataFields`` for a request body.

    :param data_fields: ``name -> value``, or ``name -> {"value": ..., "type": ...}``, or ready
        :class:`DataField` items. ``None`` values are left out (a SQL NULL sends no field).
    :param types: ``name -> type`` for values whose type is not given inline (otherwise inferred).
    :raises InvalidRecordError: a value that does not fit its type.
    :raises ConfigurationError: an unknown type.
    """
    if data_fields is None:
        return []
    types = types or {}
    items: list[dict[str, str]] = []
    if isinstance(data_fields, Mapping):
        for name, raw in data_fields.items():
            value, explicit = raw, types.get(name)
            if isinstance(raw, Mapping):
                unknown = set(raw) - {"value", "type"}
                if "value" not in raw or unknown:
                    raise InvalidRecordError(
                        f"dataFields.{name}", 'expected a value or a {"value": ..., "type": ...} mapping'
                    )
                value, explicit = raw["value"], raw.get("type") or explicit
            if value is None:
                continue
            items.append(DataField.of(str(name), value, explicit).to_wire())
        return items
    for item in data_fields:
        if not isinstance(item, DataField):
            raise ConfigurationError("data_fields must be a mapping or DataField items")
        items.append(item.to_wire())
    return items


def check_custom_event_id(value: Any, name: str = "custom_event_id") -> int:
    """An int32 id from an int or a string of digits.

    :raises ConfigurationError: anything else.
    """
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be an integer, got a boolean")
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int) or not INT32_MIN <= value <= INT32_MAX:
        raise ConfigurationError(f"{name} must be a 32-bit integer, got {value!r}")
    return value


def build_customer_event(
    custom_event_id: int,
    customer: CustomerRef,
    data_fields: Mapping[str, Any] | Iterable[DataField] | None = None,
    data_field_types: Mapping[str, DataFieldType | str] | None = None,
) -> dict[str, Any]:
    """The body of ``POST /scenariocustomevents`` (validated; raises like :func:`build_data_fields`)."""
    body: dict[str, Any] = {"customEventId": check_custom_event_id(custom_event_id), **customer.to_wire()}
    fields = build_data_fields(data_fields, data_field_types)
    if fields:
        body["dataFields"] = fields
    return body


# ---------------------------------------------------------------------------------------------- errors
@dataclass(frozen=True)
class ProblemDetails:
    """The vendor's problem-details error body (ASP.NET style).

    :param title: short summary.
    :param status: HTTP status the body states.
    :param substatus: the vendor's reason code (e.g. ``CustomerInvalidModelState``).
    :param detail: longer explanation.
    :param instance: the path the error is about.
    :param type: a URI naming the error type.
    :param errors: validation messages (400 only).
    """

    title: str | None = None
    status: int | None = None
    substatus: str | None = None
    detail: str | None = None
    instance: str | None = None
    type: str | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_body(cls, body: Any) -> ProblemDetails | None:
        """Parse a problem-details body; ``None`` when the body is not one."""
        if not isinstance(body, Mapping):
            return None
        keys = ("title", "status", "substatus", "detail", "instance", "type", "errors")
        if not any(k in body for k in keys):
            return None
        raw_errors = body.get("errors")
        errors: list[str] = []
        if isinstance(raw_errors, list):
            errors = [str(e) for e in raw_errors]
        elif isinstance(raw_errors, Mapping):  # ASP.NET's default shape: field -> [messages]
            for name, messages in raw_errors.items():
                for message in messages if isinstance(messages, list) else [messages]:
                    errors.append(f"{name}: {message}")
        status = body.get("status")

        def text(key: str) -> str | None:
            value = body.get(key)
            return str(value) if value not in (None, "") else None

        return cls(
            title=text("title"),
            status=status if isinstance(status, int) and not isinstance(status, bool) else None,
            substatus=text("substatus"),
            detail=text("detail"),
            instance=text("instance"),
            type=text("type"),
            errors=tuple(errors),
        )

    @classmethod
    def from_error(cls, error: VendorApiError) -> ProblemDetails | None:
        """The problem details a hook's typed exception carries in its ``body``."""
        return cls.from_body(error.body)

    @property
    def is_customer_not_found(self) -> bool:
        """True when the error is about an unknown customer (a per-row problem), not a custom event."""
        words = " ".join(filter(None, (self.substatus, self.title, self.detail))).lower()
        if "customevent" in words.replace(" ", "") or "segment" in words:
            return False
        return "customer" in words and ("notfound" in words.replace(" ", "") or "not exist" in words)

    def summary(self) -> str:
        """One line: ``title (substatus): detail; errors: a; b``."""
        head = self.title or "error"
        if self.substatus:
            head += f" ({self.substatus})"
        parts = [head]
        if self.detail and self.detail != self.title:
            parts.append(self.detail)
        line = ": ".join(parts)
        if self.errors:
            line += "; errors: " + "; ".join(self.errors[:10])
            if len(self.errors) > 10:
                line += f"; ... {len(self.errors) - 10} more"
        return line[:1000]


# ---------------------------------------------------------------------------------------------- hook
class ExpertSenderCdpHook(BaseEventsHook):
    """Talks to the ExpertSender CDP API (``https://api.ecdp.app``) with the business unit's ``x-api-key``.

    Connection: ``host`` = base URL (optional), ``password`` = API key of the business unit.

    Scenario custom events are not idempotent (no idempotency key exists): the core never resends one whose
    outcome is unknown (read timeout after sending, 500); it raises with ``ambiguous=True`` instead.

    :param conn_id: the ``expertsender_cdp`` connection id.
    """

    default_conn_name: ClassVar[str] = "expertsender_cdp_default"
    conn_type: ClassVar[str] = "expertsender_cdp"
    hook_name: ClassVar[str] = "ExpertSender CDP"
    default_base_url: ClassVar[str] = "https://api.ecdp.app"

    @cached_property
    def _api_key(self) -> str:
        """The business unit's API key (the connection's password), registered with the secret masker once.

        Masking once matters: under a task runner each ``mask()`` is also a message to the supervisor.
        """
        key = self.connection.password
        if not key:
            raise ConfigurationError(f"connection {self.conn_id!r}: the API key (password field) is empty")
        mask(key)
        return str(key)

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self._api_key}

    def parse_error_body(self, body: Any) -> str:
        """``title (substatus): detail; errors: ...`` from a problem-details body, else the core's parsing."""
        problem = ProblemDetails.from_body(body)
        if problem is not None:
            return problem.summary()
        return super().parse_error_body(body)

    def check_connection(self) -> str:
        """Look up a customer by an e-mail on a reserved domain: 200 or 404 both prove the key works.

        :raises VendorAuthError: the key is missing, wrong or from another business unit.
        """
        response = self.request(
            "GET", f"/customers/email/{quote(CONNECTION_PROBE_EMAIL, safe='')}", ok_statuses=(404,)
        )
        return f"ExpertSender CDP accepted the API key (customer lookup answered {response.status_code})"

    def send_customer_event(self, body: Mapping[str, Any]) -> None:
        """``POST /scenariocustomevents`` with a body built by :func:`build_customer_event`.

        Not retried when its outcome is unknown (see the class docstring).
        """
        self.send("POST", CUSTOMER_EVENT_PATH, json_body=dict(body), idempotent=False)

    def add_customer_to_scenario(
        self,
        custom_event_id: int | str,
        *,
        customer: CustomerRef | Mapping[str, Any],
        data_fields: Mapping[str, Any] | Iterable[DataField] | None = None,
        data_field_types: Mapping[str, DataFieldType | str] | None = None,
        hash_emails: bool = False,
    ) -> None:
        """Fire a scenario custom event for one customer (``POST /scenariocustomevents``, 201 Created).

        :param custom_event_id: the custom event's id (Automation > Scenarios > Custom events), an int32.
        :param customer: a :class:`CustomerRef`, or a one-key mapping such as ``{"email_sha256": "..."}``.
        :param data_fields: ``name -> value`` (or ``name -> {"value", "type"}``) or :class:`DataField` items.
        :param data_field_types: ``name -> type`` for values given without one (otherwise inferred).
        :param hash_emails: with a mapping ``customer`` of kind email_md5/email_sha256, hash a raw address.
        :raises InvalidRecordError: an identifier or value that breaks the vendor's rules (nothing is sent).
        :raises VendorApiError: the vendor refused it (problem details in the message and ``body``).
        """
        ref = (
            customer
            if isinstance(customer, CustomerRef)
            else CustomerRef.from_mapping(customer, hash_emails=hash_emails)
        )
        body = build_customer_event(
            check_custom_event_id(custom_event_id), ref, data_fields, data_field_types
        )
        self.send_customer_event(body)
        self.log.info("Custom event %s fired for one customer (by %s)", body["customEventId"], ref.kind.value)

    def add_segments_to_scenario(
        self,
        custom_event_id: int | str,
        segments: Iterable[int | str],
        data_fields: Mapping[str, Any] | Iterable[DataField] | None = None,
        data_field_types: Mapping[str, DataFieldType | str] | None = None,
    ) -> None:
        """Fire a scenario custom event for every customer of the segments
        (``POST /scenariocustomevents/withsegments``, 201 Created).

        :param custom_event_id: the custom event's id, an int32.
        :param segments: segment ids (Customers > Segmentation, "ID" column), int32 each, at least one.
        :param data_fields: as for :meth:`add_customer_to_scenario`.
        :param data_field_types: as for :meth:`add_customer_to_scenario`.
        :raises ConfigurationError: a segment id that is not an integer, or no segment.
        :raises VendorNotFoundError: an unknown custom event or segment.
        """
        event_id = check_custom_event_id(custom_event_id)
        if isinstance(segments, (str, bytes, int)):
            segments = [segments]  # type: ignore[list-item]
        ids = [check_custom_event_id(s, "segment id") for s in segments]
        if not ids:
            raise ConfigurationError("at least one segment id is required")
        body: dict[str, Any] = {"customEventId": event_id, "segments": ids}
        fields = build_data_fields(data_fields, data_field_types)
        if fields:
            body["dataFields"] = fields
        self.send("POST", SEGMENT_EVENT_PATH, json_body=body, idempotent=False)
        self.log.info("Custom event %s fired for segments %s", event_id, ids)
