"""The ExpertSender CDP problem-details error body (ASP.NET style)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_events.exceptions import VendorApiError


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
