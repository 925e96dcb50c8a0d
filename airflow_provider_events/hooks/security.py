"""Security rules of the HTTP core: no credential over clear text, nothing secret in logs."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_events.exceptions import ConfigurationError

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback_host(hostname: str | None) -> bool:
    """True for ``localhost`` and any address in 127.0.0.0/8 or ``::1``."""
    if not hostname:
        return False
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def ensure_secure_base_url(base_url: str) -> None:
    """Refuse to send credentials over plain ``http://`` except to a loopback address (a local emulator).

    :raises ConfigurationError: when the URL is not https and not loopback, or has no host.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base URL must be http(s)://host[:port][/prefix], got scheme {parts.scheme!r}"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"refusing to send credentials over plain http to {parts.hostname}: use https "
            "(plain http is allowed only for loopback addresses such as a local emulator)"
        )


def mask(secret: Any, name: str | None = None) -> None:
    """Register a value with Airflow's secret masker so that it is redacted from task logs."""
    if secret in (None, ""):
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow 3.0 layout
        from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]
    mask_secret(secret, name)


class _DropQueryStringFilter(logging.Filter):
    """urllib3 logs each request line at DEBUG; query strings can hold identifiers, so cut them off."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 5 and isinstance(record.args[4], str):
            args = list(record.args)
            args[4] = str(args[4]).split("?", 1)[0]
            record.args = tuple(args)
        return True


_installed = False


def install_log_redaction() -> None:
    """Install, once per process, the filter that keeps query strings out of urllib3's debug log."""
    global _installed  # noqa: PLW0603
    if not _installed:
        logging.getLogger("urllib3.connectionpool").addFilter(_DropQueryStringFilter())
        _installed = True
