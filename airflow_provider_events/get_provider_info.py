"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Kept free of heavy imports: Airflow reads it in every process that lists providers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_events import __version__
from airflow_provider_events.config import CONFIG_DESCRIPTION
from airflow_provider_events.vendors import BUILTIN_VENDORS, VendorSpec

_PKG = "airflow_provider_events"


def _text(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


def _number(label: str, description: str, default: float) -> dict[str, Any]:
    """A number field whose default is shown in the form (and named in its help text)."""
    schema: dict[str, Any] = {"type": ["number", "null"], "minimum": 0, "default": default}
    shown = int(default) if float(default).is_integer() else default
    return {"label": label, "description": f"{description} Default {shown}.", "schema": schema}


def _token_store_field() -> dict[str, Any]:
    return _text(
        "Token store",
        "Where tokens are shared: auto (local on LocalExecutor, else variable), variable (an Airflow "
        "Variable every worker, pod, triggerer and API server reads) or local (a file per host).",
        enum=["auto", "variable", "local"],
        default="auto",
    )


def _secret(label: str, description: str) -> dict[str, Any]:
    return _text(label, description, format="password")


#: Port stored with every connection (issue 20): Airflow 3.3.x's Test Connection button sends ``port: 0``
#: for a connection without one and its API refuses the test ("host or port differs"); a stored port
#: avoids it.
#: The hooks ignore the port when the Base URL carries one, and drop the scheme's default port from URLs.
_PORT_PLACEHOLDER = "443"


def _api_key_form(key_label: str, *, host: str, key: str, **placeholders: str) -> dict[str, Any]:
    """The field behaviour of a vendor authenticated by an API key alone (no login, the key as password).

    :param key_label: what the vendor calls its key; ``host`` and ``key`` are the two fields' placeholders.
    """
    return {
        "hidden-fields": ["schema", "login"],
        "relabeling": {"host": "Base URL", "password": key_label},
        "placeholders": {"host": host, "password": key, **placeholders},
    }


def _http_fields(default_rate: float) -> dict[str, Any]:
    """Fields of the shared HTTP core, offered on every connection type.

    :param default_rate: the hook's default pacing; 0 means unpaced (the vendor publishes no limit).
    """
    return {
        "connect_timeout": _number("Connect timeout (s)", "Seconds to establish a connection.", 10),
        "read_timeout": _number("Read timeout (s)", "Seconds to wait for an answer.", 60),
        "max_retries": _number("Max retries", "Retries on connection errors, 429 and 5xx.", 5),
        "max_requests_per_second": _number(
            "Max requests per second",
            "Client-side pacing of every call on this connection; 0 = unpaced."
            if not default_rate
            else "Client-side pacing of every call on this connection.",
            default_rate,
        ),
    }


_CONNECTION_FORMS: dict[str, dict[str, Any]] = {
    "acton": {
        "conn-fields": {
            "region": _text(
                "Region", "Gateway used when Base URL is empty.", enum=["us", "eu"], default="us"
            ),
            "client_id": _text("Client ID", "API Access Keys > Client ID."),
            "client_secret": _secret("Client secret", "API Access Keys > Client Secret."),
            "refresh_token": _secret(
                "Refresh token", "Optional: an existing refresh token, used instead of a password login."
            ),
            "refresh_margin": _number(
                "Token refresh margin (s)", "Renew a cached access token this long before it expires.", 120
            ),
            "auth_store": _token_store_field(),
            "max_upload_bytes": _number(
                "Max upload bytes", "Size limit of one upload job; larger files are split.", 419430400
            ),
            **_http_fields(5),
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema"],
            "relabeling": {"host": "Base URL", "login": "Act-On username", "password": "Act-On password"},
            "placeholders": {
                "host": "https://api.actonsoftware.com (EU: api-eu)",
                "login": "user@example.com",
                "region": "us",
            },
        },
    },
    "expertsender_cdp": {
        "conn-fields": _http_fields(0),
        "ui-field-behaviour": _api_key_form(
            "API key", host="https://api.ecdp.app", key="Settings > API key of the business unit"
        ),
    },
    "carecloud": {
        "conn-fields": {
            # not a secret: an identifier of the integration, shown in CareCloud's admin UI next to the app's
            # name and useless without the webservice user's password (which stays masked)
            "external_application_id": _text(
                "External application ID", "System configuration > External applications > Encoded ID."
            ),
            "timezone": _text(
                "Project time zone",
                "IANA zone the project speaks (e.g. Europe/Prague). Empty: UTC is assumed, with a warning.",
            ),
            "accept_language": _text(
                "Accept-Language",
                "Optional: language of names in responses (e.g. en); empty: the project's default.",
            ),
            "refresh_margin": _number(
                "Token refresh margin (s)", "Renew a cached token this long before its valid_to.", 60
            ),
            "auth_store": _token_store_field(),
            "auth_scheme": _text(
                "Auth scheme",
                "bearer (login action) or the deprecated basic scheme.",
                enum=["bearer", "basic"],
                default="bearer",
            ),
            **_http_fields(0),
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema"],
            "relabeling": {"host": "Project domain or base URL", "login": "Webservice user"},
            "placeholders": {
                "host": "yourproject.crmcarecloud.com",
                "timezone": "Europe/Prague",
            },
        },
    },
    "gainsight_px": {
        "conn-fields": {
            "region": _text(
                "Region", "Data centre used when Base URL is empty.", enum=["us", "eu", "us2"], default="us"
            ),
            "property_key": _text("Product key", "Default propertyKey (product tag key, AP-XXXXXXXXXX-2)."),
            **_http_fields(150),
        },
        "ui-field-behaviour": _api_key_form(
            "REST API key",
            host="https://api.aptrinsic.com/v1 (EU: api-eu, US2: api-us2)",
            key="Administration > REST API key (not the tag key)",
            property_key="AP-XXXXXXXXXX-2",
        ),
    },
}

for _form in _CONNECTION_FORMS.values():
    _form["ui-field-behaviour"]["relabeling"]["port"] = "Port (443)"
    _form["ui-field-behaviour"]["placeholders"]["port"] = _PORT_PLACEHOLDER


def _integration_modules(modules_of: Callable[[VendorSpec], tuple[str, ...]]) -> list[dict[str, Any]]:
    """One ``{integration-name, python-modules}`` entry per built-in vendor that has such modules."""
    return [
        {"integration-name": spec.display_name, "python-modules": list(modules_of(spec))}
        for spec in BUILTIN_VENDORS
        if modules_of(spec)
    ]


def ui_field_behaviour(conn_type: str) -> dict[str, Any]:
    """The connection form's field behaviour in the hook-classmethod form Airflow < 3.2 reads."""
    behaviour = _CONNECTION_FORMS[conn_type]["ui-field-behaviour"]
    return {
        "hidden_fields": list(behaviour["hidden-fields"]),
        "relabeling": dict(behaviour["relabeling"]),
        "placeholders": dict(behaviour["placeholders"]),
    }


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata for Airflow's providers manager.

    The vendors come from :data:`~airflow_provider_events.vendors.BUILTIN_VENDORS` (the vendor registry);
    the connection forms from :data:`_CONNECTION_FORMS`. Vendors registered at run time by a plug-in are not
    listed: Airflow reads this in processes that never import the plug-in.
    """
    return {
        "package-name": "airflow-provider-events",
        "name": "Marketing events (Act-On, ExpertSender CDP, CRM CareCloud, Gainsight PX)",
        "description": "Sync warehouse events into marketing-automation tools.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": spec.display_name, "external-doc-url": spec.docs_url, "tags": ["service"]}
            for spec in BUILTIN_VENDORS
        ],
        "hooks": [
            {"integration-name": spec.display_name, "python-modules": [spec.hook_class.partition(":")[0]]}
            for spec in BUILTIN_VENDORS
        ],
        "operators": [
            *_integration_modules(lambda spec: spec.operator_modules),
            # the generic operator is listed under the first vendor: Airflow wants an integration per module
            {
                "integration-name": BUILTIN_VENDORS[0].display_name,
                "python-modules": [f"{_PKG}.operators.sync"],
            },
        ],
        "sensors": _integration_modules(lambda spec: spec.sensor_modules),
        "triggers": _integration_modules(lambda spec: spec.trigger_modules),
        "extra-links": [f"{_PKG}.links.ActOnListingLink", f"{_PKG}.links.GainsightPXEventLink"],
        "connection-types": [
            {
                "connection-type": spec.conn_type,
                "hook-class-name": spec.hook_class_name,
                "hook-name": spec.display_name,
                **_CONNECTION_FORMS[spec.conn_type],
            }
            for spec in BUILTIN_VENDORS
        ],
        "config": CONFIG_DESCRIPTION,
    }
