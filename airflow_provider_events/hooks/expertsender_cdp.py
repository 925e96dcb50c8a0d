"""ExpertSender CDP hook: scenario custom events for one customer or for whole segments."""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.hooks.security import mask


class ExpertSenderCdpHook(BaseEventsHook):
    """Talks to the ExpertSender CDP API (``https://api.ecdp.app``) with the business unit's ``x-api-key``.

    Connection: ``host`` = base URL (optional), ``password`` = API key.

    :param conn_id: the ``expertsender_cdp`` connection id.
    """

    default_conn_name: ClassVar[str] = "expertsender_cdp_default"
    conn_type: ClassVar[str] = "expertsender_cdp"
    hook_name: ClassVar[str] = "ExpertSender CDP"
    default_base_url: ClassVar[str] = "https://api.ecdp.app"

    def auth_headers(self) -> dict[str, str]:
        key = self.connection.password
        if not key:
            raise ConfigurationError(f"connection {self.conn_id!r}: the API key (password field) is empty")
        mask(key)
        return {"x-api-key": key}
