"""The pooled ``requests.Session`` of a hook, its timeouts, and the ``User-Agent`` every transport sends."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from airflow_provider_events import __version__
from airflow_provider_events.hooks.security import install_log_redaction

if TYPE_CHECKING:
    # requests is imported on first use, not at import: DAG parsing imports hooks but never sends a request.
    import requests

#: seconds for both, or a ``(connect, read)`` pair
Timeout = float | tuple[float, float]


def timeout_pair(timeout: Timeout) -> tuple[float, float]:
    """``(connect, read)`` seconds of a timeout given as one number or as a pair."""
    if isinstance(timeout, tuple):
        return (float(timeout[0]), float(timeout[1]))
    return (float(timeout), float(timeout))


def user_agent() -> str:
    """``airflow-provider-events/<version> python-requests/<version>``."""
    import requests

    return f"airflow-provider-events/{__version__} python-requests/{requests.__version__}"


def pooled_session(base_url: str, *, pool_maxsize: int, verify: bool | str) -> requests.Session:
    """A session keeping ``pool_maxsize`` connections alive, never retrying on its own (the core does).

    :param base_url: the proxies of this URL are read from the environment once, here.
    :param verify: TLS verification; ``True`` takes ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` when set.
    """
    import requests
    from requests.adapters import HTTPAdapter

    install_log_redaction()
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent()
    # Read the proxy and CA-bundle environment once here: with trust_env on, requests re-reads it on
    # every request, which halved the throughput of concurrent delivery.
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    if verify is True:
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.verify = verify
    return session
