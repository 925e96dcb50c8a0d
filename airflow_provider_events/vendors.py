"""The one registry of vendors: per connection type, where its hook, adapter and Airflow modules live.

Everything that needs to know which vendors exist reads this module: the provider metadata Airflow reads
(:mod:`airflow_provider_events.get_provider_info`), the per-vendor configuration options
(:mod:`airflow_provider_events.config`), the delivery engine's adapter lookup
(:func:`airflow_provider_events.sync.adapter.adapter_class_for`), the runner's hook lookup
(:mod:`airflow_provider_events.sync.runner`) and the documentation's vendor table (checked by a test).

Entries name classes by dotted path (``"package.module:Class"``) and are imported only when a task needs
them, so importing this module (which every DAG parse and ``get_provider_info`` call may do) imports no
vendor code. A vendor outside this package plugs in with :func:`register_vendor`::

    from airflow_provider_events.vendors import VendorSpec, register_vendor

    register_vendor(
        VendorSpec(
            conn_type="acme",
            display_name="Acme Events",
            hook_class="acme_events.hook:AcmeHook",
            adapter_class="acme_events.adapter:AcmeAdapter",
        )
    )

after which ``SqlToEventsOperator(destination_conn_id=<an acme connection>, ...)`` delivers to it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

_PKG = "airflow_provider_events"


class VendorSpec(NamedTuple):
    """What the provider knows about one vendor (immutable; ``spec._replace(...)`` makes a changed copy).

    A named tuple rather than a dataclass: this module is imported at DAG parse, and a tuple class is
    several times cheaper to create.

    :param conn_type: the Airflow connection type (also the vendor's short name in errors and reports).
    :param display_name: the vendor's name as people write it (integration name in Airflow's UI).
    :param hook_class: ``"module:Class"`` of its :class:`~airflow_provider_events.hooks.base.BaseEventsHook`.
    :param adapter_class: ``"module:Class"`` of its delivery
        :class:`~airflow_provider_events.sync.adapter.EventAdapter` (``None``: not a sync destination).
    :param docs_url: the vendor's API documentation.
    :param operator_modules: modules holding its operators.
    :param sensor_modules: modules holding its sensors.
    :param trigger_modules: modules holding its triggers.
    """

    conn_type: str
    display_name: str
    hook_class: str
    adapter_class: str | None = None
    docs_url: str = ""
    operator_modules: tuple[str, ...] = ()
    sensor_modules: tuple[str, ...] = ()
    trigger_modules: tuple[str, ...] = ()

    @property
    def hook_class_name(self) -> str:
        """The hook as Airflow's providers manager wants it: ``package.module.Class``."""
        return self.hook_class.replace(":", ".")


def _builtin(
    conn_type: str,
    display_name: str,
    hook: str,
    adapter: str,
    docs_url: str,
    *,
    sensors: bool = False,
) -> VendorSpec:
    return VendorSpec(
        conn_type=conn_type,
        display_name=display_name,
        hook_class=f"{_PKG}.hooks.{conn_type}:{hook}",
        adapter_class=f"{_PKG}.adapters.{conn_type}:{adapter}",
        docs_url=docs_url,
        operator_modules=(f"{_PKG}.operators.{conn_type}",),
        sensor_modules=(f"{_PKG}.sensors.{conn_type}",) if sensors else (),
        trigger_modules=(f"{_PKG}.triggers.{conn_type}",) if sensors else (),
    )


#: the vendors this package ships, in the order the provider lists them.
BUILTIN_VENDORS: tuple[VendorSpec, ...] = (
    _builtin("acton", "Act-On", "ActOnHook", "ActOnAdapter", "https://developer.act-on.com", sensors=True),
    _builtin(
        "expertsender_cdp",
        "ExpertSender CDP",
        "ExpertSenderCdpHook",
        "ExpertSenderCdpAdapter",
        "https://help.expertsender.com/ecdp",
    ),
    _builtin(
        "carecloud",
        "CRM CareCloud",
        "CareCloudHook",
        "CareCloudAdapter",
        "https://carecloud.readme.io/reference",
    ),
    _builtin(
        "gainsight_px",
        "Gainsight PX",
        "GainsightPXHook",
        "GainsightPXAdapter",
        "https://px-apidocs.gainsight.com",
    ),
)

_REGISTRY: dict[str, VendorSpec] = {spec.conn_type: spec for spec in BUILTIN_VENDORS}
_LOCK = threading.Lock()


def register_vendor(spec: VendorSpec, *, replace: bool = False) -> VendorSpec:
    """Add a vendor to the registry of this process (a plug-in calls it when imported).

    :param spec: the vendor.
    :param replace: allow replacing a vendor already registered under ``spec.conn_type``.
    :raises ValueError: when the connection type is taken and ``replace`` is False.
    """
    with _LOCK:
        if spec.conn_type in _REGISTRY and not replace:
            raise ValueError(f"a vendor is already registered for connection type {spec.conn_type!r}")
        _REGISTRY[spec.conn_type] = spec
    return spec


def unregister_vendor(conn_type: str) -> None:
    """Remove a vendor registered with :func:`register_vendor` (built-in vendors are restored instead)."""
    builtin = {spec.conn_type: spec for spec in BUILTIN_VENDORS}
    with _LOCK:
        if conn_type in builtin:
            _REGISTRY[conn_type] = builtin[conn_type]
        else:
            _REGISTRY.pop(conn_type, None)


def vendors() -> list[VendorSpec]:
    """Every registered vendor, built-in ones first, in registration order."""
    with _LOCK:
        return list(_REGISTRY.values())


def vendor(conn_type: str) -> VendorSpec:
    """The vendor registered for a connection type.

    :raises KeyError: when none is.
    """
    with _LOCK:
        return _REGISTRY[conn_type]


def import_class(path: str) -> Any:
    """The class named by ``"package.module:Class"`` (imported now)."""
    module_name, _, class_name = path.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


class AdapterPaths(Mapping[str, str]):
    """A live, read-only view: connection type -> adapter class path, of the vendors that have an adapter."""

    def _paths(self) -> dict[str, str]:
        return {spec.conn_type: spec.adapter_class for spec in vendors() if spec.adapter_class}

    def __getitem__(self, conn_type: str) -> str:
        return self._paths()[conn_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths())

    def __len__(self) -> int:
        return len(self._paths())
