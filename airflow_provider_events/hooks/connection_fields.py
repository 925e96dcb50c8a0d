"""The connection side of every hook: the Airflow connection, its extras, the region and the base URL.

:class:`ConnectionFields` is what :class:`~airflow_provider_events.hooks.base.BaseEventsHook` reads of an
Airflow connection. Extras saved by the connection form as ``extra__<conn_type>__<name>`` are folded to
``<name>``; empty values and ``***`` (Airflow's UI mask of keys that look secret) count as absent. Nothing
here does I/O until a property is first read.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk import BaseHook

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.security import ensure_secure_base_url, mask

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: the extra naming how long before expiry a cached token is renewed: ``refresh_margin`` (the form's name),
#: then the older ``token_refresh_margin``, which Airflow's UI masks (and saves as ``***``) for its "token"
REFRESH_MARGIN_EXTRAS = ("refresh_margin", "token_refresh_margin")
#: the extra choosing where tokens are shared (``auto``, ``variable``, ``local``): ``auth_store`` (the form's
#: name), then the older ``token_store``, which Airflow's UI masks for the same reason
AUTH_STORE_EXTRAS = ("auth_store", "token_store")

#: ports a URL need not name
_DEFAULT_PORTS = {"https": 443, "http": 80}


def raw_extras(conn: Connection) -> dict[str, Any]:
    """A connection's extras as saved (``{}`` when they are missing or not JSON)."""
    try:
        extra = conn.extra_dejson
    except (AttributeError, ValueError):
        extra = {}
    return dict(extra or {})


def connection_extras(conn: Connection, conn_type: str) -> dict[str, Any]:
    """A connection's extras, with the UI's ``extra__<conn_type>__<name>`` keys folded to ``<name>``."""
    raw = raw_extras(conn)
    prefix = f"extra__{conn_type}__"
    folded = {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}
    folded.update({k: v for k, v in raw.items() if not k.startswith(prefix)})
    return folded


class ConnectionFields(BaseHook):
    """An Airflow hook that reads its connection lazily: extras, region and base URL.

    Subclasses name the vendor (:attr:`conn_type`, :attr:`default_conn_name`) and its addresses
    (:attr:`default_base_url`, :attr:`default_path`, :attr:`region_base_urls`).
    """

    conn_name_attr: ClassVar[str] = "conn_id"
    default_conn_name: ClassVar[str] = ""
    conn_type: ClassVar[str] = ""
    hook_name: ClassVar[str] = ""
    #: base URL used when the connection has no host (and no region extra).
    default_base_url: ClassVar[str] = ""
    #: path appended to a host given without a path.
    default_path: ClassVar[str] = ""
    #: region (lower case) -> base URL, for vendors with regional gateways (picked by the ``region`` extra).
    region_base_urls: ClassVar[Mapping[str, str]] = {}
    #: the region used when the connection names none.
    default_region: ClassVar[str] = "us"

    conn_id: str

    @cached_property
    def connection(self) -> Connection:
        """The Airflow connection, looked up on first use."""
        conn = self.get_connection(self.conn_id)
        for secret in (conn.password, self.extras_raw(conn).get("client_secret")):
            mask(secret)
        return conn

    @staticmethod
    def extras_raw(conn: Connection) -> dict[str, Any]:
        """A connection's extras as saved (see :func:`raw_extras`)."""
        return raw_extras(conn)

    @cached_property
    def extras(self) -> dict[str, Any]:
        """Connection extras; the UI's ``extra__<conn_type>__<name>`` keys are folded to ``<name>``."""
        return connection_extras(self.connection, self.conn_type)

    def extra(self, name: str, default: Any = None) -> Any:
        """One extra, with empty strings treated as absent."""
        value = self.extras.get(name)
        return default if value in (None, "") else value

    def text_extra(self, names: tuple[str, ...]) -> str | None:
        """The first of the extras ``names`` that holds a value (``***``, a UI mask, counts as absent)."""
        for name in names:
            value = self.extra(name)
            if value is not None and value != "***":
                return str(value)
        return None

    def number_extra(self, names: tuple[str, ...], default: float) -> float:
        """The first of the extras ``names`` that holds a number, else ``default``.

        A value of ``***`` counts as absent: Airflow's UI masks extras whose key looks secret (any key with
        ``token`` in it) and a form saved there stores the mask instead of the number.
        """
        for name in names:
            value = self.extra(name)
            if value is not None and value != "***":
                return float(value)
        return default

    def region_base_url(self) -> str | None:
        """The base URL of the connection's ``region`` extra (case-insensitive) in :attr:`region_base_urls`.

        ``None`` for a vendor without regional gateways.

        :raises ConfigurationError: for a region the vendor does not have.
        """
        if not self.region_base_urls:
            return None
        region = str(self.extra("region", self.default_region)).strip().lower()
        if region not in self.region_base_urls:
            raise ConfigurationError(
                f"connection {self.conn_id!r}: unknown region {region!r}; "
                f"use one of {', '.join(self.region_base_urls)}"
            )
        return self.region_base_urls[region]

    @cached_property
    def base_url(self) -> str:
        """The base URL: ``host`` (scheme, port, path optional), else the region's or vendor's default.

        A host given without a path gets the vendor's default path; a host with a path is taken as the
        whole base URL, so a connection can point at a gateway, a proxy prefix or a local emulator.
        """
        conn = self.connection
        host = (conn.host or "").strip()
        if not host:
            url = self.region_base_url() or self.default_base_url
        else:
            if "://" not in host:
                scheme = conn.schema if conn.schema in ("http", "https") else "https"
                host = f"{scheme}://{host}"
            parts = urlsplit(host)
            netloc = parts.netloc
            # a stored port is added when the host has none, unless it is the scheme's default: connections
            # store 443 so that Airflow 3.3's Test Connection button works (see docs/troubleshooting.md)
            if conn.port and parts.port is None and conn.port != _DEFAULT_PORTS.get(parts.scheme):
                netloc = f"{netloc}:{conn.port}"
            path = parts.path.rstrip("/") or self.default_path
            url = urlunsplit((parts.scheme, netloc, path, "", ""))
        if not url:
            raise ConfigurationError(
                f"connection {self.conn_id!r} has no host and {self.conn_type} has no default"
            )
        url = url.rstrip("/")
        ensure_secure_base_url(url)
        return url

    def url(self, path: str) -> str:
        """Join the base URL and an endpoint path."""
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    @cached_property
    def verify(self) -> bool | str:
        """TLS verification: on by default; the ``verify`` extra may name a CA bundle, or be false."""
        value = self.extra("verify", True)
        if isinstance(value, str) and value.lower() in ("false", "0", "no"):
            value = False
        if value is False:
            self.log.warning("TLS certificate verification is disabled for connection %s", self.conn_id)
        return value if isinstance(value, (bool, str)) else True
