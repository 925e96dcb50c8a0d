"""CRM CareCloud hook: events with property records on the enterprise interface."""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_events.hooks.base import BaseEventsHook

DEFAULT_PATH = "/webservice/rest-api/enterprise-interface/v1.0"


class CareCloudHook(BaseEventsHook):
    """Talks to a CareCloud project's enterprise interface with a bearer token from the login action.

    Connection: ``host`` = the project domain (the default path is appended) or a full base URL,
    ``login`` / ``password`` = the webservice user, extras ``external_application_id``, ``timezone``,
    ``accept_language``.

    :param conn_id: the ``carecloud`` connection id.
    """

    default_conn_name: ClassVar[str] = "carecloud_default"
    conn_type: ClassVar[str] = "carecloud"
    hook_name: ClassVar[str] = "CRM CareCloud"
    default_path: ClassVar[str] = DEFAULT_PATH
