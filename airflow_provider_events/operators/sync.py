"""``SqlToEventsOperator``: deliver warehouse rows (or given records) to a marketing vendor as events.

See ``docs/sync.md`` for the guide. In short::

    SqlToEventsOperator(
        task_id="purchases_to_px",
        conn_id="warehouse",                      # any common.sql connection
        sql="sql/purchases.sql",                  # or inline SQL; templated, with parameters
        parameters={"since": "{{ data_interval_start }}"},
        destination_conn_id="gainsight_px_default",
        mapping={
            "identifyId": "user_id",              # a column, copied as is
            "eventName": "{{ 'purchase' }}",      # a constant
            "date": "{{ row.ts_ms }}",             # a template keeps its type
            "attributes": {"amount": "amount", "sku": "{{ row.sku | upper }}"},
        },
        key_columns=["order_id"],
        max_rejected_ratio=0.01,
    )

Templates in ``mapping`` that use ``row`` are rendered per row by the delivery engine in a sandbox; the
others (``"{{ params.event }}"``, ``"{{ ds }}"``) are rendered once by Airflow when the task starts and
become constants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, Context

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.lineage import remember_result
from airflow_provider_events.operators._common import context_value, task_identity, task_state_store
from airflow_provider_events.utils.coerce import as_bool, as_float, as_int, as_str_list
from airflow_provider_events.utils.templating import is_template

if TYPE_CHECKING:
    # The engine is imported when a task runs, not when a DAG file is parsed (which pays every import).
    from airflow_provider_events.sync.engine import SyncOptions
    from airflow_provider_events.sync.ledger import LedgerOptions
    from airflow_provider_events.sync.source import RowSource


_CONTEXT_GLOBALS = ("ds", "ts", "run_id", "dag_id", "task_id", "map_index")


def row_template_globals(context: Context) -> dict[str, Any]:
    """Read-only names row templates may use besides ``row``: ``params`` and ``ds``, ``ts``, ``run_id`` ...

    Shared by every operator whose ``mapping`` is rendered per row (the sync operators, Act-On's upload).
    """
    values: dict[str, Any] = {}
    params = context.get("params")
    values["params"] = {k: params[k] for k in params} if params else {}
    ti = context.get("ti")
    for name in _CONTEXT_GLOBALS:
        value = context_value(context, name)
        if value is None and ti is not None:
            value = getattr(ti, name, None)
        values[name] = value if value is None or isinstance(value, (str, int)) else str(value)
    return values


def _row_templates(mapping: Any, path: str = "") -> dict[str, str]:
    """The mapping's templates left for the engine, by field path, marked so in *Rendered Templates*."""
    found: dict[str, str] = {}
    if isinstance(mapping, Mapping):
        for key, value in mapping.items():
            found.update(_row_templates(value, f"{path}.{key}" if path else str(key)))
    elif isinstance(mapping, (list, tuple)):
        for i, value in enumerate(mapping):
            found.update(_row_templates(value, f"{path}[{i}]"))
    elif type(mapping) is str and is_template(mapping):
        found[path] = f"rendered per row by the delivery engine (see docs/report.md): {mapping}"
    return found


def source_hook_params(value: Any) -> dict[str, Any] | None:
    """``hook_params`` as a dict: a mapping, or its rendered JSON text; ``None`` when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigurationError(f"hook_params must be a mapping, got {value!r}") from None
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"hook_params must be a mapping, got {type(value).__name__}")
    return dict(value)


class RowMappingTemplating(BaseOperator):
    """Airflow templating of a ``mapping`` argument that leaves its per-row templates to the delivery engine.

    Templates without ``row`` (``"{{ params.event }}"``, ``"{{ ds }}"``, ``"{{ data_interval_start }}"``) are
    rendered once by Airflow with the whole task context and become constants; those using ``row`` are
    rendered per row by the engine (with ``params``, ``ds``, ``ts``, ``run_id`` ... see
    :func:`row_template_globals`). The base of the operators that have ``mapping`` in ``template_fields``.
    """

    mapping: Mapping[str, Any] | None
    #: shown in *Rendered Templates*: the templates the engine renders per row (set when rendering)
    mapping_per_row: dict[str, str]

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: Any,
        seen_oids: set[int],
    ) -> None:
        """Render every field as usual, except ``mapping``: row templates are left to the delivery engine."""
        fields = list(template_fields)
        if parent is not self or "mapping" not in fields:
            super()._do_render_template_fields(parent, fields, context, jinja_env, seen_oids)
            return
        super()._do_render_template_fields(
            parent, [f for f in fields if f != "mapping"], context, jinja_env, seen_oids
        )
        if self.mapping:
            self.mapping = self._render_mapping_value(self.mapping, context, jinja_env)
            self.mapping_per_row = _row_templates(self.mapping)

    def _render_mapping_value(self, value: Any, context: Context, jinja_env: Any) -> Any:
        from jinja2 import meta

        from airflow_provider_events.sync.mapping import ROW_VARIABLE, Constant, Literal

        if isinstance(value, (Literal, Constant)):
            return value
        if isinstance(value, str):
            if not is_template(value):
                return value  # a column name
            if ROW_VARIABLE in meta.find_undeclared_variables(jinja_env.parse(value)):
                return value  # rendered per row by the engine
            rendered = self.render_template(value, context, jinja_env)
            return Literal(rendered) if isinstance(rendered, str) else Constant(rendered)
        if isinstance(value, Mapping):
            return {k: self._render_mapping_value(v, context, jinja_env) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._render_mapping_value(v, context, jinja_env) for v in value]
        return value


class SqlToEventsOperator(RowMappingTemplating, BaseOperator):
    """Stream rows from a SQL connection (or ``records``) to a vendor as events, exactly once per key.

    :param destination_conn_id: the vendor connection (``acton``, ``expertsender_cdp``, ``carecloud`` or
        ``gainsight_px``); its type picks the delivery adapter.
    :param conn_id: the source SQL connection (any common.sql ``DbApiHook``: SQLite, Postgres, Snowflake ...).
    :param hook_params: keyword arguments of the source connection's hook, as common.sql operators take them
        (``conn.get_hook(hook_params=...)``), e.g. a BigQuery ``location`` or a Snowflake ``role`` /
        ``warehouse`` (templated).
    :param sql: the query, or a path to a ``.sql`` file (templated). Exactly one of ``sql`` / ``records``.
    :param parameters: bind parameters of ``sql``, in the driver's paramstyle (templated).
    :param records: rows given directly: a list of dicts, or its JSON (templated, e.g. from an XCom).
    :param destination_options: vendor-specific settings (documented by each vendor's adapter).
    :param mapping: vendor field -> column name, ``{{ row.* }}`` template, nested mapping or constant;
        ``None`` sends each row as is. See :mod:`airflow_provider_events.sync.mapping`.
    :param key_columns: columns forming each event's idempotency key; default: a hash of the rendered event
        (templated: a list, one name, ``"a,b"`` or a rendered list).
    :param max_concurrency: concurrent requests (per-event vendors); default: the vendor's (templated).
    :param max_requests_per_second: client-side pacing; default: the connection's ``max_requests_per_second``
        extra, else the vendor's (templated).
    :param chunk_size: rows fetched from the cursor at a time (templated).
    :param rejects_path: JSON Lines file of rejected rows (templated); default under
        ``$AIRFLOW_PROVIDER_EVENTS_STATE_DIR/rejects/<dag>/<run>/``.
    :param max_rejected: fail (after delivering the valid rows) when more rows are rejected (templated).
    :param max_rejected_ratio: fail (after delivering the valid rows) when rejected / read exceeds this
        (templated). Neither given: any reject fails the task; a ratio of 0 next to ``max_rejected`` is
        ignored. See :mod:`~airflow_provider_events.sync.thresholds`.
    :param dry_run: read, map and validate, write the rejects file, send nothing; the report says what would
        be sent (templated; the attribute is ``dry_run_only``, as ``dry_run`` is a ``BaseOperator`` method).
    :param checkpoint_path: root of the delivery checkpoint (templated): a local directory or an
        ``ObjectStoragePath`` URI (``s3://bucket/prefix``) shared by the workers; default: the task state
        store on Airflow >= 3.3 (follows the task to any worker), else the local state directory.
    :param retry_ambiguous: resend once an event whose outcome is unknown (at-least-once) instead of never
        (at-most-once, default) (templated). Applies to events the vendor cannot settle by read-back.
    :param max_in_doubt: fail (after delivering everything else) when more events than this are in doubt
        (may or may not have reached the vendor, not resent; listed in the rejects file) (templated).
    :param max_in_doubt_ratio: fail when in doubt / read exceeds this (templated). Neither given: any event
        in doubt fails the task; a ratio of 0 next to ``max_in_doubt`` is ignored.
    :param wait_for_completion: batch vendors (Act-On): wait for the vendor's jobs to finish (templated).
        Per-event vendors deliver synchronously and ignore it.
    :param max_consecutive_failures: stop when this many events in a row could not be delivered (templated).
    :param resend_delivered: send events again that an earlier DAG run delivered to this destination (the
        delivery ledger is not consulted; the report's ``resent_delivered`` counts them). Templated; default
        ``False``: such events are skipped and counted in ``delivered_earlier``.
    :param ledger_path: root of the delivery ledger shared by every run and worker (templated): a local
        directory or an ``ObjectStoragePath`` URI; default ``$AIRFLOW_PROVIDER_EVENTS_LEDGER_PATH``, else
        ``<checkpoint_path>/ledger`` for an object storage ``checkpoint_path``, else the local state dir.
    :param ledger_retention_days: how long the ledger remembers a delivered event (default 30 days, or
        ``$AIRFLOW_PROVIDER_EVENTS_LEDGER_RETENTION_DAYS``) (templated).
    :param use_ledger: ``False`` turns the delivery ledger off (only the task's checkpoint de-duplicates)
        (templated).

    Templated numbers and flags may render as text (``"5"``, ``"true"``): they are converted when the task
    runs, and a value that is not one fails with an error naming the argument.
    :return: the delivery report (``DeliveryReport.to_dict()``); also set as the extra of every Asset in
        ``outlets``.
    """

    template_fields: Sequence[str] = (
        "sql",
        "parameters",
        "records",
        "mapping",
        "destination_options",
        "rejects_path",
        "checkpoint_path",
        "destination_conn_id",
        "conn_id",
        "hook_params",
        "key_columns",
        "max_concurrency",
        "max_requests_per_second",
        "chunk_size",
        "max_rejected",
        "max_rejected_ratio",
        "dry_run_only",
        "retry_ambiguous",
        "wait_for_completion",
        "max_consecutive_failures",
        "max_in_doubt",
        "max_in_doubt_ratio",
        "resend_delivered",
        "ledger_path",
        "ledger_retention_days",
        "use_ledger",
        "mapping_per_row",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "sql": "sql",
        "parameters": "json",
        "records": "json",
        "mapping": "json",
        "mapping_per_row": "json",
        "destination_options": "json",
        "hook_params": "json",
    }
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        destination_conn_id: str,
        conn_id: str | None = None,
        sql: str | None = None,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        hook_params: Mapping[str, Any] | None = None,
        records: Sequence[Mapping[str, Any]] | str | None = None,
        destination_options: Mapping[str, Any] | None = None,
        mapping: Mapping[str, Any] | None = None,
        key_columns: Sequence[str] | str | None = None,
        max_concurrency: int | str | None = None,
        max_requests_per_second: float | str | None = None,
        chunk_size: int | str = 1000,
        rejects_path: str | None = None,
        max_rejected: int | str | None = None,
        max_rejected_ratio: float | str | None = None,
        dry_run: bool | str = False,
        checkpoint_path: str | None = None,
        retry_ambiguous: bool | str = False,
        wait_for_completion: bool | str = True,
        max_consecutive_failures: int | str = 25,
        max_in_doubt: int | str | None = None,
        max_in_doubt_ratio: float | str | None = None,
        resend_delivered: bool | str = False,
        ledger_path: str | None = None,
        ledger_retention_days: float | str | None = None,
        use_ledger: bool | str = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (sql is None) == (records is None):
            raise ConfigurationError("give exactly one of sql (with conn_id) or records")
        if sql is not None and not conn_id:
            raise ConfigurationError("sql needs conn_id, the source SQL connection")
        self.destination_conn_id = destination_conn_id
        self.conn_id = conn_id
        self.sql = sql
        self.parameters = parameters
        self.hook_params = hook_params
        self.records = records
        self.destination_options = destination_options
        self.mapping = mapping
        self.mapping_per_row: dict[str, str] = {}
        self.key_columns = key_columns  # a list, a name, "a,b" or a template; a list when the task runs
        self.max_concurrency = max_concurrency
        self.max_requests_per_second = max_requests_per_second
        self.chunk_size = chunk_size
        self.rejects_path = rejects_path
        self.max_rejected = max_rejected
        self.max_rejected_ratio = max_rejected_ratio
        self.dry_run_only = dry_run
        self.checkpoint_path = checkpoint_path
        self.retry_ambiguous = retry_ambiguous
        self.wait_for_completion = wait_for_completion
        self.max_consecutive_failures = max_consecutive_failures
        self.max_in_doubt = max_in_doubt
        self.max_in_doubt_ratio = max_in_doubt_ratio
        self.resend_delivered = resend_delivered
        self.ledger_path = ledger_path
        self.ledger_retention_days = ledger_retention_days
        self.use_ledger = use_ledger

    # ------------------------------------------------------------------ extension points (vendor subclasses)
    def _destination_options(self, context: Context) -> dict[str, Any]:
        """The adapter's options; vendor operators override this to add their own arguments."""
        return dict(self.destination_options or {})

    def _mapping(self, context: Context) -> Mapping[str, Any] | None:
        """The mapping; vendor operators may override this to supply a default one."""
        return self.mapping

    def _template_globals(self, context: Context) -> dict[str, Any]:
        """Read-only names row templates may use besides ``row``."""
        return row_template_globals(context)

    def _source(self, context: Context) -> RowSource:
        from airflow_provider_events.sync.source import RecordsSource, SqlSource

        if self.records is not None:
            return RecordsSource(self.records)
        if not self.conn_id or self.sql is None:
            raise ConfigurationError("sql needs conn_id, the source SQL connection")
        return SqlSource(
            self.conn_id,
            self.sql,
            self.parameters,
            int(as_int("chunk_size", self.chunk_size, minimum=1) or 1000),
            hook_params=source_hook_params(self.hook_params),
        )

    def _options(self) -> SyncOptions:
        """The engine's options, from the (rendered, possibly textual) arguments, converted and checked."""
        from airflow_provider_events.sync.engine import SyncOptions

        return SyncOptions(
            key_columns=as_str_list("key_columns", self.key_columns),
            max_concurrency=as_int("max_concurrency", self.max_concurrency, minimum=1, optional=True),
            max_requests_per_second=as_float(
                "max_requests_per_second", self.max_requests_per_second, minimum=0, optional=True
            ),
            dry_run=as_bool("dry_run", self.dry_run_only),
            retry_ambiguous=as_bool("retry_ambiguous", self.retry_ambiguous),
            wait_for_completion=as_bool("wait_for_completion", self.wait_for_completion),
            max_rejected=as_int("max_rejected", self.max_rejected, minimum=0, optional=True),
            max_rejected_ratio=as_float(
                "max_rejected_ratio", self.max_rejected_ratio, minimum=0, maximum=1, optional=True
            ),
            max_consecutive_failures=int(
                as_int("max_consecutive_failures", self.max_consecutive_failures, minimum=1) or 25
            ),
            max_in_doubt=as_int("max_in_doubt", self.max_in_doubt, minimum=0, optional=True),
            max_in_doubt_ratio=as_float(
                "max_in_doubt_ratio", self.max_in_doubt_ratio, minimum=0, maximum=1, optional=True
            ),
        )

    def _ledger_options(self, context: Context) -> LedgerOptions:
        """The delivery ledger's options; warns when a scheduled sync has no stable key."""
        from airflow_provider_events.sync.ledger import LedgerOptions, warn_unstable_keys

        key_columns = as_str_list("key_columns", self.key_columns)
        warn_unstable_keys(self.log, key_columns, getattr(context.get("dag_run"), "run_type", None))
        return LedgerOptions(
            enabled=as_bool("use_ledger", self.use_ledger),
            resend_delivered=as_bool("resend_delivered", self.resend_delivered),
            path=self.ledger_path or None,
            retention_days=as_float(
                "ledger_retention_days", self.ledger_retention_days, minimum=0, optional=True
            ),
        )

    # ------------------------------------------------------------------ run
    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_events.sync.mapping import RowMapping
        from airflow_provider_events.sync.runner import sync_rows

        identity = task_identity(context)
        mapping = self._mapping(context)
        report = sync_rows(
            destination_conn_id=self.destination_conn_id,
            source=self._source(context),
            mapping=RowMapping(mapping, template_globals=self._template_globals(context)),
            identity=identity,
            destination_options=self._destination_options(context),
            options=self._options(),
            rejects_path=self.rejects_path,
            checkpoint_path=self.checkpoint_path,
            log=self.log,
            task_state_store=task_state_store(context),
            ledger=self._ledger_options(context),
        )
        result = report.to_dict()
        self._emit_asset_extras(context, result)
        remember_result(self, result)
        return result

    def _emit_asset_extras(self, context: Context, result: dict[str, Any]) -> None:
        from airflow.sdk import Asset

        outlets = [o for o in (self.outlets or []) if isinstance(o, Asset)]
        if not outlets:
            return
        events = context["outlet_events"]
        for asset in outlets:
            events[asset].extra = dict(result)

    # ------------------------------------------------------------------ OpenLineage
    def get_openlineage_facets_on_start(self) -> Any:
        """OpenLineage: the source SQL's tables in, the vendor destination out (see ``lineage``)."""
        from airflow_provider_events.lineage import sync_operator_lineage

        return sync_operator_lineage(self)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """As on start, with the accepted events as the output's ``rowCount``."""
        from airflow_provider_events.lineage import sync_operator_lineage

        return sync_operator_lineage(self, complete=True)
