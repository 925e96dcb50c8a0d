"""Test set-up shared by the whole suite.

Airflow reads its configuration at import, so the environment is set here, before anything imports it:
a private ``AIRFLOW_HOME`` with a SQLite metadata DB, no example DAGs, and a private token-cache dir.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="ape-airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__DAGS_FOLDER": str(_HOME / "dags"),
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"airflow\..*|airflow_provider_events\..*",
        "AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR": str(_HOME / "tokens"),
        "AIRFLOW_PROVIDER_EVENTS_STATE_DIR": str(_HOME / "state"),
    }
)
(_HOME / "dags").mkdir(exist_ok=True)

import pytest  # noqa: E402

#: Fixtures and helpers shared across test directories (tests mirror the package, so a vendor's tests sit
#: in several directories): one module per vendor, and ``hook``/``base_url`` for the vendor a file is named
#: after.
pytest_plugins = (
    "helpers.acton",
    "helpers.carecloud",
    "helpers.expertsender_cdp",
    "helpers.gainsight_px",
    "helpers.per_vendor",
    "helpers.sync",
)

#: The `compat` subset (``make test-min-airflow`` runs it on the oldest supported Airflow): registration,
#: configuration, connection forms, every operator through ``dag.test()``, the Act-On sensor and trigger, and
#: the SQL sync. Paths relative to ``tests/``; a whole directory ends with ``/``.
COMPAT_SUBSET = (
    "provider/",
    "config/",
    "operators/test_acton.py",
    "sensors/test_acton.py",
    "triggers/test_acton.py",
    "operators/test_carecloud.py",
    "operators/test_expertsender_cdp.py",
    "operators/test_gainsight_px.py",
    "operators/test_sync.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`COMPAT_SUBSET` ``compat``."""
    tests_dir = Path(__file__).parent
    for item in items:
        try:
            relative = item.path.relative_to(tests_dir).as_posix()
        except ValueError:
            continue
        if any(relative == p or (p.endswith("/") and relative.startswith(p)) for p in COMPAT_SUBSET):
            item.add_marker(pytest.mark.compat)


from airflow_provider_events.testing.emulator import EmulatorServer  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A fresh Airflow metadata DB, created once per test session."""
    from airflow.utils import db

    db.resetdb()
    return _HOME


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    """The vendor emulator, served once per session on a free loopback port."""
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The emulator with fresh state and no faults; ``<vendor>_default`` connections point at it."""
    emulator_server.emulator.reset()
    for key, value in emulator_server.connection_env().items():
        monkeypatch.setenv(key, value)
    return emulator_server


@pytest.fixture
def tmp_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private token-cache and checkpoint dir for one test."""
    monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR", str(tmp_path / "tokens"))
    monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


@pytest.fixture(autouse=True)
def private_delivery_ledger(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh delivery ledger root per test: the ledger is shared by every run of a deployment, so tests
    that send the same rows (against a freshly reset emulator) must not see each other's deliveries."""
    root = tmp_path_factory.mktemp("ledger")
    monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_LEDGER_PATH", str(root))
    return root
