"""Split one large sync across workers with Airflow dynamic task mapping.

Each mapped task instance reads one disjoint slice of the source and has its own checkpoint (the checkpoint
is keyed by ``map_index``), its own rejects file and its own report; a retried slice resumes on its own.

Slices by SQL clause (expand over ``sql``)::

    from airflow_provider_events.operators.sync import SqlToEventsOperator
    from airflow_provider_events.sync.partitions import partition_clauses

    SqlToEventsOperator.partial(
        task_id="purchases_to_px",
        conn_id="warehouse",
        destination_conn_id="gainsight_px_default",
        mapping={"identifyId": "user_id", "eventName": "{{ 'purchase' }}"},
        key_columns=["order_id"],
        max_requests_per_second=40,  # per mapped task: 4 tasks x 40 = 160 rps against the vendor
    ).expand(sql=[f"SELECT * FROM purchases WHERE {c}" for c in partition_clauses("order_id", 4)])

or by bind parameters (expand over ``parameters``; the SQL text stays one string)::

    SqlToEventsOperator.partial(
        task_id="purchases_to_px",
        conn_id="warehouse",
        sql="SELECT * FROM purchases WHERE MOD(order_id, %(partitions)s) = %(partition)s",
        ...,
    ).expand(parameters=partition_parameters(4))

The partition expression must be an integer that spreads evenly: an integer key as is, or a hash of a text
key in the warehouse's dialect (``ABS(HASHTEXT(email))`` on Postgres, ``ABS(HASH(email))`` on Snowflake,
``ABS(FARM_FINGERPRINT(email))`` on BigQuery). Keep each task's ``max_requests_per_second`` at the vendor's
limit divided by the number of partitions that run at once.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_events.exceptions import ConfigurationError


def partition_clauses(expression: str, partitions: int, *, modulo: str = "MOD") -> list[str]:
    """``partitions`` disjoint SQL conditions covering every row with a non-null ``expression``.

    :param expression: an integer column or expression (see the module docstring for text keys).
    :param partitions: how many slices (one mapped task each).
    :param modulo: ``"MOD"`` (``MOD(x, n) = i``: Postgres, MySQL, Snowflake, BigQuery, Oracle) or ``"%"``
        (``x % n = i``: SQLite, SQL Server, Postgres, MySQL).
    """
    if partitions < 1:
        raise ConfigurationError(f"partitions must be at least 1, got {partitions}")
    if not expression.strip():
        raise ConfigurationError("partition expression is empty")
    if modulo.upper() == "MOD":
        return [f"MOD({expression}, {partitions}) = {i}" for i in range(partitions)]
    if modulo == "%":
        return [f"({expression}) % {partitions} = {i}" for i in range(partitions)]
    raise ConfigurationError(f"modulo must be 'MOD' or '%', not {modulo!r}")


def partition_parameters(partitions: int, **extra: Any) -> list[dict[str, Any]]:
    """``[{"partition": 0, "partitions": n, **extra}, ...]``, to ``.expand(parameters=...)``.

    :param partitions: how many slices.
    :param extra: bind parameters every slice shares.
    """
    if partitions < 1:
        raise ConfigurationError(f"partitions must be at least 1, got {partitions}")
    return [{**extra, "partition": i, "partitions": partitions} for i in range(partitions)]
