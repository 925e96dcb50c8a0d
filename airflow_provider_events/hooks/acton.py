"""Act-On hook: OAuth2 tokens, CSV custom-event uploads that run as jobs, and single custom events."""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.base import BaseEventsHook

REGION_BASE_URLS = {
    "us": "https://api.actonsoftware.com",
    "eu": "https://api-eu.actonsoftware.com",
}


class ActOnHook(BaseEventsHook):
    """Talks to the Act-On REST API (US or EU gateway) with OAuth2 bearer tokens.

    Connection: ``host`` = base URL (default the US gateway, or extra ``region: eu``), ``login`` /
    ``password`` = the Act-On user, extras ``client_id`` and ``client_secret``.

    :param conn_id: the ``acton`` connection id.
    """

    default_conn_name: ClassVar[str] = "acton_default"
    conn_type: ClassVar[str] = "acton"
    hook_name: ClassVar[str] = "Act-On"
    default_base_url: ClassVar[str] = REGION_BASE_URLS["us"]
    default_requests_per_second: ClassVar[float | None] = 5.0

    def region_base_url(self) -> str | None:
        region = str(self.extra("region", "us")).strip().lower()
        if region not in REGION_BASE_URLS:
            raise ConfigurationError(f"connection {self.conn_id!r}: unknown region {region!r}; use US or EU")
        return REGION_BASE_URLS[region]
