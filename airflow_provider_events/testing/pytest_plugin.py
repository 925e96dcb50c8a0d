"""Pytest fixtures for testing your own DAGs against the vendor emulator.

Enable them in your ``conftest.py``::

    pytest_plugins = ["airflow_provider_events.testing.pytest_plugin"]

    def test_my_sync(events_emulator):
        my_dag.test()                      # the <vendor>_default connections point at the emulator
        sent = events_emulator.emulator.vendor("gainsight_px").snapshot()

``events_emulator_server`` serves the emulator once per session on a free loopback port;
``events_emulator`` gives each test fresh vendor state, no faults, and the ``<vendor>_default`` connections
exported as ``AIRFLOW_CONN_*`` variables (restored after the test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_events.testing.emulator.server import EmulatorServer


@pytest.fixture(scope="session")
def events_emulator_server() -> Iterator[EmulatorServer]:
    """The emulator of the four vendor APIs, served for the whole session on 127.0.0.1."""
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def events_emulator(
    events_emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> EmulatorServer:
    """The session's emulator with fresh state and no faults; default connections point at it."""
    events_emulator_server.emulator.reset()
    for key, value in events_emulator_server.connection_env().items():
        monkeypatch.setenv(key, value)
    return events_emulator_server
