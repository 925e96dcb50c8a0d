"""``make demo``'s connections file: ``airflow connections import`` stores what the UI then lists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_events.testing.demo import connections_file, ui_hint
from airflow_provider_events.testing.demo_setup import connection_env
from airflow_provider_events.testing.emulator.server import EmulatorServer

pytestmark = pytest.mark.usefixtures("airflow_db")
AIRFLOW = str(Path(sys.executable).parent / "airflow")


def test_the_demo_connections_import_into_the_metadata_db(tmp_path: Path) -> None:
    env = connection_env(EmulatorServer(45678), max_requests_per_second=0)
    path = connections_file(env, tmp_path / "connections.json")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert str(path) in ui_hint(path)
    from cryptography.fernet import Fernet

    run_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    # one Fernet key for both CLI calls (unit-test mode would give each process a key of its own)
    run_env["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
    for args in (["import", "--overwrite", str(path)], ["export", str(tmp_path / "exported.json")]):
        done = subprocess.run(
            [AIRFLOW, "connections", *args],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    stored = json.loads((tmp_path / "exported.json").read_text())
    for conn_id in ("acton_default", "expertsender_cdp_default", "carecloud_default", "gainsight_px_default"):
        assert stored[conn_id]["conn_type"] == conn_id.removesuffix("_default")
        assert int(stored[conn_id]["port"]) == 443  # what Airflow 3.3's Test Connection button needs
        assert stored[conn_id]["host"].startswith("http://127.0.0.1:45678/")
