"""Where rows come from: a streaming SQL cursor over any Airflow ``DbApiHook`` connection, or a list of dicts.

A :class:`RowSource` is iterated once; it yields each row as a ``dict`` (column name -> value) and knows its
:attr:`~RowSource.columns` after the first chunk (or up front for records). Memory does not grow with the row
count: rows are fetched ``chunk_size`` at a time with ``cursor.fetchmany``, and drivers that would otherwise
buffer the whole result client-side get a server-side cursor:

- psycopg2 / psycopg 3 (Postgres, Redshift): a *named* cursor, which PostgreSQL keeps open server-side;
- MySQLdb / PyMySQL: an unbuffered ``SSCursor``;
- everything else (SQLite, Snowflake, BigQuery, Trino, DuckDB ...) already streams through ``fetchmany``.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from functools import partial
from itertools import islice
from typing import Any

from airflow_provider_events.exceptions import ConfigurationError

#: rows per chunk of :meth:`RowSource.value_blocks` when the source does not fetch in chunks of its own.
BLOCK_ROWS = 1000


class RowSource(ABC):
    """Rows to deliver, read lazily."""

    #: column names, known once the first rows were read (or at once for in-memory records).
    columns: list[str] | None = None
    #: the number of rows when known in advance (for the progress ETA).
    total: int | None = None
    #: :meth:`value_rows` yields each row as its values (cheaper than a dict per row).
    yields_values: bool = False
    #: how many rows yielded so far may hold text with undecodable bytes (lone surrogates), counted before
    #: such a row is yielded (by :meth:`value_blocks`: in a chunk of its own, counted before that chunk);
    #: ``None``: any row may (the engine then looks at the text of every record).
    suspect_rows: int | None = None

    @abstractmethod
    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Yield each row as a dict, in source order."""

    def value_rows(self) -> Generator[Sequence[Any], None, None]:
        """Yield each row as its values in :attr:`columns` order (set before the first row is yielded).

        Only sources with :attr:`yields_values` implement it (or :meth:`value_blocks`).
        """
        blocks = self.value_blocks()
        try:
            for block in blocks:
                yield from block
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()

    def value_blocks(self) -> Iterator[Sequence[Sequence[Any]]]:
        """Yield the rows as :meth:`value_rows` does, a chunk of consecutive rows at a time (never empty).

        The engine validates a chunk at once where the adapter can (see ``BatchAdapter.block_preparer``).
        Default: :meth:`value_rows` cut into chunks of :data:`BLOCK_ROWS`.
        """
        if type(self).value_rows is RowSource.value_rows:
            raise NotImplementedError(f"{type(self).__name__} yields rows as dicts only")
        rows = self.value_rows()
        while block := list(islice(rows, BLOCK_ROWS)):
            yield block

    def describe(self) -> str:
        """A short, payload-free description for logs."""
        return type(self).__name__


class RecordsSource(RowSource):
    """Rows given in memory (a list of dicts, or its JSON text as a template renders it).

    :param records: the rows; each a mapping of column -> value.
    """

    def __init__(self, records: Sequence[Mapping[str, Any]] | str) -> None:
        if isinstance(records, str):
            try:
                records = json.loads(records)
            except ValueError:
                raise ConfigurationError("records is a string but not JSON; give a list of dicts") from None
        if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
            raise ConfigurationError(f"records must be a list of dicts, not {type(records).__name__}")
        for index, record in enumerate(records, start=1):
            if not isinstance(record, Mapping):
                raise ConfigurationError(f"records[{index - 1}] is a {type(record).__name__}, not a dict")
        self._records = records
        self.total = len(records)
        columns: dict[str, None] = {}
        for record in records:
            columns.update(dict.fromkeys(record))
        self.columns = list(columns)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for record in self._records:
            yield dict(record)

    def describe(self) -> str:
        return f"{self.total} in-memory records"


#: SQLite text that is not UTF-8, as str: the bytes survive as lone surrogates, so the engine rejects that
#: row (naming the field) instead of the driver failing the whole read. A partial of ``bytes.decode``, not a
#: Python function, so no Python frame runs per value. Only rows SQLite's own decoder refused are read so.
_decode_text = partial(bytes.decode, encoding="utf-8", errors="surrogateescape")


def _sqlite_blocks(
    conn: Any, cursor: Any, size: int, on_suspect: Callable[[], None]
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of an executed SQLite cursor, ``size`` at a time; text decoded strictly, undecodable rows
    tolerantly.

    SQLite's built-in UTF-8 decoding (``text_factory=str``) is about half the cost of any Python callable
    there. A row holding bytes that are not UTF-8 makes the cursor raise *without* stepping past it, so that
    one row is read again with :data:`_decode_text` and the read goes on (no query is run twice);
    that row comes alone in its chunk, after the rows before it, and ``on_suspect`` is called just before
    that chunk is yielded. ``list.extend`` keeps the rows it took before the error (``fetchmany`` would drop
    them).
    """
    import sqlite3  # loaded already: the connection is one

    while True:
        block: list[tuple[Any, ...]] = []
        try:
            block.extend(islice(cursor, size))
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc):  # the message quotes the value: never logged, only matched
                raise
            conn.text_factory = _decode_text
            try:
                row = cursor.fetchone()
            finally:
                conn.text_factory = str
            if row is None:
                raise
            if block:
                yield block
            on_suspect()
            yield [row]
            continue
        if not block:
            return
        yield block


def _fetched_blocks(cursor: Any, chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of an executed cursor, ``chunk_size`` per ``fetchmany``."""
    rows = cursor.fetchmany(chunk_size)
    while rows:
        yield list(rows)
        rows = cursor.fetchmany(chunk_size)


def _driver(conn: Any) -> str:
    """The top-level module of a DB-API connection's class (``sqlite3``, ``psycopg2``, ...)."""
    return type(conn).__module__.split(".")[0]


def _server_side_cursor(conn: Any) -> tuple[Any, bool]:
    """A cursor that streams from the server where the driver needs one; ``(cursor, is_server_side)``."""
    module = _driver(conn)
    if module in ("psycopg2", "psycopg"):
        cursor = conn.cursor(name=f"ape_sync_{uuid.uuid4().hex[:12]}")
        return cursor, True
    if module == "sqlite3":
        conn.text_factory = str  # see _sqlite_rows
        return conn.cursor(), False
    if module == "MySQLdb":
        from MySQLdb.cursors import SSCursor  # type: ignore[import-not-found]

        return conn.cursor(SSCursor), True
    if module == "pymysql":
        from pymysql.cursors import SSCursor  # type: ignore[import-not-found]

        return conn.cursor(SSCursor), True
    return conn.cursor(), False


class SqlSource(RowSource):
    """Rows of a SQL query on an Airflow connection whose hook is a common.sql ``DbApiHook``.

    :param conn_id: the SQL connection id (SQLite, Postgres, MySQL, Snowflake, BigQuery ...).
    :param sql: one SELECT statement (already rendered; a ``.sql`` file is rendered by the operator).
    :param parameters: bind parameters, in the driver's paramstyle.
    :param chunk_size: rows fetched per ``fetchmany``.
    :param hook_params: keyword arguments of the connection's hook (``conn.get_hook(hook_params=...)``, as
        common.sql's operators pass them), e.g. a BigQuery ``location`` or a Snowflake ``role``.
    """

    def __init__(
        self,
        conn_id: str,
        sql: str,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        chunk_size: int = 1000,
        *,
        hook_params: Mapping[str, Any] | None = None,
    ) -> None:
        if not sql or not str(sql).strip():
            raise ConfigurationError("sql is empty")
        if chunk_size < 1:
            raise ConfigurationError(f"chunk_size must be at least 1, got {chunk_size}")
        self.conn_id = conn_id
        self.sql = str(sql)
        self.parameters = parameters
        self.chunk_size = int(chunk_size)
        self.hook_params = dict(hook_params) if hook_params else None
        self.server_side = False

    def hook(self) -> Any:
        """The connection's SQL hook (checked to be a ``DbApiHook``)."""
        from airflow.providers.common.sql.hooks.sql import DbApiHook
        from airflow.sdk import BaseHook

        connection = BaseHook.get_connection(self.conn_id)  # type: ignore[no-untyped-call]
        hook = connection.get_hook(hook_params=self.hook_params)  # type: ignore[no-untyped-call]
        if not isinstance(hook, DbApiHook):
            raise ConfigurationError(
                f"connection {self.conn_id!r} has hook {type(hook).__name__}, not a SQL (DbApiHook) hook"
            )
        return hook

    yields_values = True

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with contextlib.closing(self.value_rows()) as rows:
            first = next(rows, None)
            if first is None:
                return
            columns = self.columns or []
            yield dict(zip(columns, first, strict=True))
            for values in rows:
                yield dict(zip(columns, values, strict=True))

    def value_blocks(self) -> Generator[Sequence[Sequence[Any]], None, None]:
        hook = self.hook()
        conn = hook.get_conn()
        cursor = None
        try:
            cursor, self.server_side = _server_side_cursor(conn)
            if self.server_side and hasattr(cursor, "itersize"):
                cursor.itersize = self.chunk_size
            if self.parameters is None:
                cursor.execute(self.sql)
            else:
                cursor.execute(self.sql, self.parameters)
            if _driver(conn) == "sqlite3":
                self.suspect_rows = 0  # SQLite's own decoding is strict: only re-read rows can hold any
                blocks = _sqlite_blocks(conn, cursor, self.chunk_size, self._count_suspect)
            else:
                blocks = _fetched_blocks(cursor, self.chunk_size)
            first = next(blocks, None)
            # A named (server-side) cursor describes its columns only after the first fetch.
            if cursor.description is None:
                raise ConfigurationError("sql returned no result set (is it a SELECT?)")
            columns = [str(d[0]) for d in cursor.description]
            if len(set(columns)) != len(columns):
                dupes = sorted({c for c in columns if columns.count(c) > 1})
                raise ConfigurationError(f"sql returns duplicate column names {dupes}; alias them")
            self.columns = columns
            if first is None:
                return
            yield first
            yield from blocks
        finally:
            if cursor is not None:
                with contextlib.suppress(Exception):  # a broken cursor must not hide the real error
                    cursor.close()
            try:
                if self.server_side and hasattr(conn, "rollback"):
                    conn.rollback()  # ends the read transaction a named cursor needs
                conn.close()
            except Exception:  # noqa: S110
                pass

    def _count_suspect(self) -> None:
        self.suspect_rows = (self.suspect_rows or 0) + 1

    def describe(self) -> str:
        kind = "server-side cursor" if self.server_side else "cursor"
        return f"query on connection {self.conn_id!r} ({kind}, chunks of {self.chunk_size})"
