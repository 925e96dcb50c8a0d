"""A private PostgreSQL cluster for the warehouse tests: started once per session, stopped even on failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from airflow_provider_events.testing.postgres import PostgresCluster, fill_events, find_bin_dir


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """The cluster, with every statement logged (the tests read the log to see which cursor was used)."""
    if find_bin_dir() is None:
        pytest.fail("PostgreSQL server binaries missing: apt-get install -y postgresql (.ci/run does it)")
    with PostgresCluster(log_statements=True) as cluster:
        yield cluster


@pytest.fixture
def pg_warehouse(
    postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., PostgresCluster]:
    """Fill ``events`` and point the ``pg_warehouse`` Airflow connection at the cluster."""

    def make(rows: int, **kwargs: int) -> PostgresCluster:
        fill_events(postgres, rows, **kwargs)
        for key, value in postgres.connection_env("pg_warehouse").items():
            monkeypatch.setenv(key, value)
        return postgres

    return make
