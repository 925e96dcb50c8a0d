"""Act-On from a real PostgreSQL server: psycopg hands ``date`` and ``timestamp`` values (not text), and the
engine validates each fetched chunk a block at a time. The result must be what the row loop gives for the
same rows given as dicts: the same CSV rows in the same order and the same rejects, row and field."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_events.sync.source import RecordsSource, SqlSource
from airflow_provider_events.testing.postgres import PostgresCluster
from tests.helpers.acton import rows_validated_in_blocks, sync_to_acton_listing

pytestmark = pytest.mark.usefixtures("tmp_state")

SQL = "SELECT id, email, day, seen_at, title FROM attendance ORDER BY id NULLS LAST"


@pytest.fixture
def attendance(postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> PostgresCluster:
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS attendance")
        cur.execute("CREATE TABLE attendance (id int, email text, day date, seen_at timestamp, title text)")
        cur.execute(
            """
            INSERT INTO attendance
            SELECT i, 'user' || i || '@example.com', DATE '2026-01-01' + (i % 40),
                   TIMESTAMP '2026-01-01 08:00' + i * INTERVAL '1 minute', 'Intro, part ' || (i % 3)
            FROM generate_series(1, 2400) AS i
            """
        )
        cur.execute("UPDATE attendance SET email = 'nobody' WHERE id IN (17, 1500)")
        cur.execute("UPDATE attendance SET day = NULL WHERE id = 901")
        cur.execute("UPDATE attendance SET id = NULL WHERE id = 2222")
    conn.close()
    for key, value in postgres.connection_env("pg_attendance").items():
        monkeypatch.setenv(key, value)
    return postgres


@pytest.mark.parametrize("date_column", ["day", "seen_at"])
def test_postgres_rows_validated_in_blocks_give_what_row_by_row_gives(  # type: ignore[no-untyped-def]
    acton, attendance, tmp_path, caplog, date_column
) -> None:
    mapping = {"email": "email", "date": date_column, "title": "title"}

    caplog.set_level(logging.INFO, logger="airflow_provider_events")
    source = SqlSource("pg_attendance", SQL, chunk_size=300)
    blocks, block_rejects, block_rows = sync_to_acton_listing(
        acton, tmp_path, f"Blocks-{date_column}", source, mapping
    )
    # 4 of the 8 chunks hold a row to decide: those go row by row
    assert rows_validated_in_blocks(caplog.text, 2_400) >= 1_200

    with attendance.connect() as conn, conn.cursor() as cur:
        cur.execute(SQL)
        names = [d[0] for d in cur.description]
        dict_rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    conn.close()
    rows, row_rejects, row_rows = sync_to_acton_listing(
        acton, tmp_path, f"Rows-{date_column}", RecordsSource(dict_rows), mapping
    )

    # the row whose id was made NULL comes last
    expected_rejects = [(17, "email", "validation"), (1500, "email", "validation"), (2400, "id", "mapping")]
    if date_column == "day":
        expected_rejects.insert(1, (901, "date", "validation"))
    assert block_rejects == row_rejects == expected_rejects
    assert block_rows == row_rows
    assert len(block_rows) == 2_400 - len(expected_rejects)
    user2_date = "2026-01-03" if date_column == "day" else "2026-01-01"  # a date; a timestamp of 08:02
    assert ("user2@example.com", user2_date, "Intro, part 2", "") in block_rows
    for field in ("rows_read", "sent", "accepted", "rejected"):
        assert getattr(blocks, field) == getattr(rows, field), field
