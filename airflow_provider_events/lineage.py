"""OpenLineage for the provider's operators: warehouse tables in, vendor destinations (or export files) out.

The operators' ``get_openlineage_facets_on_start`` / ``_on_complete`` only call the functions here. Every
function returns ``None`` when the OpenLineage provider (the ``openlineage`` extra) is not installed, and
never raises: lineage must not fail a delivery, so any problem is logged at debug level and the datasets
that could be named are still returned.

Naming:

- **inputs** of a SQL source come from common.sql's SQL parsing: through the source hook's
  ``get_openlineage_database_info`` where it has one (Postgres, Snowflake, ...), else the tables the
  ``SQLParser`` finds in the query under a ``<conn_type>://<host>`` namespace (SQLite: its file path).
- **outputs** are the vendor destinations: namespace ``<vendor>://<api host>[/<account>]`` (the account is
  the Gainsight PX product key, or a hash of the Act-On user, never a credential), name the Act-On listing,
  the CareCloud event type, the ExpertSender CDP custom event id or the Gainsight PX event name.
- files written or read are ``file`` datasets (name: the absolute path), object storage URIs
  ``<scheme>://<bucket>`` with the key as name.
- on completion, the outputs carry ``outputStatistics.rowCount``: the events the vendor accepted (or the
  records written), from the result the operator kept (:func:`remember_result`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

T = TypeVar("T")

log = logging.getLogger(__name__)

#: URI schemes of the vendors' namespaces (a scheme cannot hold ``_``).
VENDOR_SCHEMES = {
    "acton": "acton",
    "carecloud": "carecloud",
    "expertsender_cdp": "expertsender-cdp",
    "gainsight_px": "gainsight-px",
}
#: which destination option names the destination, per vendor (first one set wins).
_DESTINATION_KEYS = {
    "acton": ("destination",),
    "carecloud": ("event_type_id", "event_type"),
    "expertsender_cdp": ("custom_event_id",),
    "gainsight_px": ("event_name",),
}
#: the dataset name when the operator does not name one destination (e.g. an event name per row).
_ALL_DESTINATIONS = {
    "acton": "custom_event_listings",
    "carecloud": "events",
    "expertsender_cdp": "custom_events",
    "gainsight_px": "custom_events",
}


@dataclass(frozen=True)
class DatasetName:
    """An OpenLineage dataset identity, built without the OpenLineage packages."""

    namespace: str
    name: str


def openlineage_available() -> bool:
    """Whether the OpenLineage provider is installed (the ``openlineage`` extra)."""
    try:
        import airflow.providers.openlineage.extractors  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------ naming
def vendor_dataset(conn_id: str, options: Mapping[str, Any] | None = None) -> DatasetName:
    """The dataset of a vendor destination: the connection's vendor and account, the destination's name.

    :param conn_id: the vendor connection.
    :param options: destination options (``destination``, ``event_type_id``, ``event_name`` ...).
    """
    from airflow.sdk import BaseHook

    from airflow_provider_events.sync.runner import _hook_class_by_module

    conn = BaseHook.get_connection(conn_id)
    vendor = str(conn.conn_type or "")
    hook = _hook_class_by_module(vendor)(conn_id)
    namespace = f"{VENDOR_SCHEMES.get(vendor, vendor.replace('_', '-'))}://{urlsplit(hook.base_url).netloc}"
    account = _account(vendor, hook, options or {})
    if account:
        namespace = f"{namespace}/{account}"
    return DatasetName(namespace, destination_name(vendor, options or {}))


def destination_name(vendor: str, options: Mapping[str, Any]) -> str:
    """The destination's name among ``options``, else the vendor's name for all its destinations."""
    for key in _DESTINATION_KEYS.get(vendor, ()):
        value = options.get(key)
        if value not in (None, "") and "{{" not in str(value):
            return str(value)
    return _ALL_DESTINATIONS.get(vendor, "events")


def _account(vendor: str, hook: Any, options: Mapping[str, Any]) -> str | None:
    if vendor == "gainsight_px":
        key = options.get("property_key") or hook.property_key
        return str(key) if key else None
    if vendor == "acton":
        return str(hook.account)[:16]  # a hash of base URL, user and client id: names no one
    return None  # CareCloud and ExpertSender CDP hosts are per account already


def file_dataset(path: str) -> DatasetName:
    """The dataset of a local path (``file``) or an object-storage URI (``<scheme>://<bucket>``)."""
    import os

    if "://" in path and not path.startswith("file://"):
        parts = urlsplit(path)
        return DatasetName(f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/"))
    return DatasetName("file", os.path.abspath(path.removeprefix("file://")))


def sql_input_datasets(conn_id: str, sql: str | Sequence[str]) -> list[Dataset]:
    """The tables ``sql`` reads, as OpenLineage datasets (empty when they cannot be told)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.sqlparser import SQLParser
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    hook: Any = conn.get_hook()  # type: ignore[no-untyped-call]
    statements = [sql] if isinstance(sql, str) else list(sql)
    database_info = None
    try:
        database_info = hook.get_openlineage_database_info(conn)
    except AttributeError:
        database_info = None
    if database_info is not None:
        try:
            from airflow.providers.openlineage.utils.utils import should_use_external_connection

            use_connection = bool(should_use_external_connection(hook))
        except ImportError:
            use_connection = False
        parser = SQLParser(
            dialect=hook.get_openlineage_database_dialect(conn),
            default_schema=hook.get_openlineage_default_schema(),
        )
        lineage = parser.generate_openlineage_metadata_from_sql(
            sql=statements, hook=hook, database_info=database_info, use_connection=use_connection
        )
        return list(lineage.inputs)
    # no database info (SQLite and other hooks without OpenLineage support): parse the SQL alone
    conn_type = str(conn.conn_type or "sql")
    meta = SQLParser(dialect=conn_type if conn_type in ("sqlite", "mysql", "postgres") else None).parse(
        statements
    )
    if meta is None:
        return []
    namespace = f"{conn_type}://{conn.host or ''}"
    return [Dataset(namespace=namespace, name=table.qualified_name) for table in meta.in_tables]


# ------------------------------------------------------------------------------------------ lineage
#: the operator attribute holding the task's result for ``get_openlineage_facets_on_complete``.
RESULT_ATTRIBUTE = "_events_lineage_result"


def remember_result(operator: object, result: Mapping[str, Any]) -> None:
    """Keep the task's result (counts only) on the operator for the completion facets.

    Not read back from XCom: the OpenLineage listener builds the completion event in a forked process,
    where a call to the task's supervisor can hang; the fork has the operator's memory.
    """
    setattr(operator, RESULT_ATTRIBUTE, result)


def task_result(operator: object) -> Mapping[str, Any] | None:
    """The result :func:`remember_result` kept (the delivery report or ``{"count", "path"}``), if any."""
    value = getattr(operator, RESULT_ATTRIBUTE, None)
    return value if isinstance(value, Mapping) else None


def build_lineage(
    *,
    inputs: Sequence[DatasetName | Dataset] = (),
    outputs: Sequence[DatasetName] = (),
    row_count: int | None = None,
) -> OperatorLineage[Dataset, Any] | None:
    """An ``OperatorLineage``; outputs carry ``outputStatistics`` when ``row_count`` is known.

    :returns: ``None`` without the OpenLineage provider.
    """
    try:
        from airflow.providers.common.compat.openlineage.facet import (
            Dataset,
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
        )
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    ol_inputs = [
        Dataset(namespace=d.namespace, name=d.name) if isinstance(d, DatasetName) else d for d in inputs
    ]
    ol_outputs: list[Any] = []
    for dataset in outputs:
        facets: dict[str, Any] = {}
        if row_count is not None:
            facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=int(row_count))
        ol_outputs.append(OutputDataset(namespace=dataset.namespace, name=dataset.name, outputFacets=facets))
    return OperatorLineage(inputs=ol_inputs, outputs=ol_outputs)


def _safely(what: str, build: Callable[[], T]) -> T | None:
    """``build()``, or what could be named before a problem (lineage never fails a task)."""
    try:
        return build()
    except Exception:
        log.debug("OpenLineage: could not name the %s", what, exc_info=True)
        return None


def sql_lineage_inputs(conn_id: str | None, sql: object) -> list[Dataset]:
    """The input datasets of a SQL source, or none (records given directly, unparsable SQL, no provider)."""
    if not conn_id or not isinstance(sql, (str, list)) or not sql:
        return []
    return _safely("SQL inputs", lambda: sql_input_datasets(conn_id, sql)) or []


def delivery_lineage(
    *,
    destination_conn_id: str,
    destination_options: Mapping[str, Any],
    inputs: Sequence[DatasetName | Dataset] = (),
    result: Mapping[str, Any] | None = None,
    count_key: str = "accepted",
    row_count: int | None = None,
) -> OperatorLineage[Dataset, Any] | None:
    """Lineage of a delivery: ``inputs`` -> the vendor destination, with the accepted count on completion.

    :param destination_conn_id: the vendor connection.
    :param destination_options: what names the destination (see :func:`destination_name`).
    :param inputs: the source datasets.
    :param result: on completion, the task's result (see :func:`task_result`): the row count is read from it.
    :param count_key: the result's key of the delivered count.
    :param row_count: on completion, the delivered count when the result does not hold one.
    """
    if not openlineage_available():
        return None
    output = _safely("vendor destination", lambda: vendor_dataset(destination_conn_id, destination_options))
    count = result.get(count_key, row_count) if result else row_count
    return build_lineage(
        inputs=inputs,
        outputs=[output] if output is not None else [],
        row_count=int(count) if isinstance(count, (int, float)) else None,
    )


def listing_lineage(
    *,
    vendor_conn_id: str,
    options: Mapping[str, Any],
    output_path: str,
    result: Mapping[str, Any] | None = None,
) -> OperatorLineage[Dataset, Any] | None:
    """Lineage of a list operator: the vendor's events (or listings) -> the export file, with its count."""
    if not openlineage_available():
        return None
    source = _safely("vendor source", lambda: vendor_dataset(vendor_conn_id, options))
    target = _safely("export file", lambda: file_dataset(str(output_path)))
    count = result.get("count") if result else None
    return build_lineage(
        inputs=[source] if source is not None else [],
        outputs=[target] if target is not None else [],
        row_count=int(count) if isinstance(count, (int, float)) else None,
    )


def operator_options(operator: object, names: Sequence[str]) -> dict[str, Any]:
    """``destination_options`` merged with the operator's own arguments of these ``names`` that are set."""
    options = dict(getattr(operator, "destination_options", None) or {})
    for name in names:
        value = getattr(operator, name, None)
        if value not in (None, ""):
            options[name] = value
    return options


#: the operator arguments that name a destination or an account, on any vendor.
DESTINATION_ARGUMENTS = (
    "destination",
    "event_type_id",
    "event_type",
    "custom_event_id",
    "event_name",
    "property_key",
)


def sync_operator_lineage(operator: Any, *, complete: bool = False) -> OperatorLineage[Dataset, Any] | None:
    """Lineage of :class:`~airflow_provider_events.operators.sync.SqlToEventsOperator` and its subclasses.

    :param complete: the task finished: add the accepted count kept by :func:`remember_result`.
    """
    if not openlineage_available():
        return None
    return delivery_lineage(
        destination_conn_id=operator.destination_conn_id,
        destination_options=operator_options(operator, DESTINATION_ARGUMENTS),
        inputs=sql_lineage_inputs(operator.conn_id, operator.sql),
        result=task_result(operator) if complete else None,
    )
