"""Gainsight PX hook: custom events through the Aptrinsic REST API."""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.hooks.security import mask

#: Documented data-centre hosts.
REGION_BASE_URLS = {
    "us": "https://api.aptrinsic.com/v1",
    "eu": "https://api-eu.aptrinsic.com/v1",
    "us2": "https://api-us2.aptrinsic.com/v1",
}


class GainsightPXHook(BaseEventsHook):
    """Talks to the Gainsight PX REST API with an ``X-APTRINSIC-API-KEY`` header.

    Connection: ``password`` = REST API key (not the product tag key), extra ``region`` (US / EU / US2) or
    ``host`` as a base URL, extra ``property_key`` = default product tag key of events.

    :param conn_id: the ``gainsight_px`` connection id.
    """

    default_conn_name: ClassVar[str] = "gainsight_px_default"
    conn_type: ClassVar[str] = "gainsight_px"
    hook_name: ClassVar[str] = "Gainsight PX"
    default_base_url: ClassVar[str] = REGION_BASE_URLS["us"]
    default_path: ClassVar[str] = "/v1"

    def region_base_url(self) -> str | None:
        region = str(self.extra("region", "us")).strip().lower()
        if region not in REGION_BASE_URLS:
            raise ConfigurationError(
                f"connection {self.conn_id!r}: unknown region {region!r}; use one of US, EU, US2"
            )
        return REGION_BASE_URLS[region]

    def auth_headers(self) -> dict[str, str]:
        key = self.connection.password
        if not key:
            raise ConfigurationError(f"connection {self.conn_id!r}: the REST API key (password field) is empty")
        mask(key)
        return {"X-APTRINSIC-API-KEY": key}
