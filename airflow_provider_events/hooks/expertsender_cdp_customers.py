"""ExpertSender CDP customers: the six ways the API identifies one, validated (and hashed) before sending."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError

_HEX = re.compile(r"^[0-9a-f]+$")


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
