"""The ``[provider_events]`` configuration section: declared to Airflow, read through ``conf``, env vars kept.

What Airflow's own tools show runs in a subprocess (``airflow config list`` / ``get-value`` with a private
``AIRFLOW_HOME`` and ``airflow.cfg``); precedence rules and call sites run in-process with env overrides.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_events import config
from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.get_provider_info import get_provider_info
from airflow_provider_events.hooks.acton import ActOnHook
from airflow_provider_events.hooks.carecloud import CareCloudHook
from airflow_provider_events.hooks.gainsight_px import GainsightPXHook
from airflow_provider_events.hooks.token_store import FileTokenStore
from airflow_provider_events.sync.checkpoint import CheckpointIdentity, open_checkpoint
from airflow_provider_events.sync.engine import SyncOptions, run_sync
from airflow_provider_events.sync.mapping import RowMapping
from airflow_provider_events.sync.rejects import RejectsWriter, default_rejects_path, read_rejects, state_root
from airflow_provider_events.sync.runner import build_adapter
from airflow_provider_events.sync.source import RecordsSource

OPTIONS = {
    "state_dir",
    "rejects_location",
    "ledger_location",
    "token_dir",
    "token_store",
    "acton_max_requests_per_second",
    "expertsender_cdp_max_requests_per_second",
    "carecloud_max_requests_per_second",
    "gainsight_px_max_requests_per_second",
}
NEW_ENV = "AIRFLOW__PROVIDER_EVENTS__"


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``[provider_events]`` override leaks in from the caller's environment."""
    for name in list(os.environ):
        if name.startswith(NEW_ENV):
            monkeypatch.delenv(name)


def deployment_env(home: Path, **env: str) -> dict[str, str]:
    """The environment of a deployment process reading ``home/airflow.cfg`` (unit-test mode would not)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(NEW_ENV) and k not in ("AIRFLOW_CONFIG", "AIRFLOW__CORE__UNIT_TEST_MODE")
    }
    clean.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **env})
    return clean


def airflow_cli(home: Path, *args: str, **env: str) -> str:
    """Run the ``airflow`` CLI of this venv with a private home; return its stdout."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run(
        [airflow, *args],
        check=False,
        capture_output=True,
        text=True,
        env=deployment_env(home, **env),
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_section_is_declared_in_the_provider_info() -> None:
    section = get_provider_info()["config"]["provider_events"]
    assert set(section["options"]) == OPTIONS
    for name, option in section["options"].items():
        assert option["description"], name
        assert option["default"] == "", name  # empty = unset: the legacy env var / built-in default apply


def test_airflow_config_list_shows_the_section_with_cfg_and_env_values(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "airflow.cfg").write_text(
        textwrap.dedent(
            """
            [provider_events]
            state_dir = /srv/events-state
            gainsight_px_max_requests_per_second = 40
            """
        )
    )
    listing = airflow_cli(
        home,
        "config",
        "list",
        "--section",
        "provider_events",
        "--show-values",
        AIRFLOW__PROVIDER_EVENTS__ACTON_MAX_REQUESTS_PER_SECOND="2",
    )
    lines = {line.split(" = ")[0].lstrip("# "): line for line in listing.splitlines() if " = " in line}
    assert set(lines) >= OPTIONS, listing
    assert lines["state_dir"] == "state_dir = /srv/events-state"
    assert lines["gainsight_px_max_requests_per_second"] == "gainsight_px_max_requests_per_second = 40"
    assert lines["acton_max_requests_per_second"] == "acton_max_requests_per_second = 2"
    value = airflow_cli(
        home,
        "config",
        "get-value",
        "provider_events",
        "token_dir",
        AIRFLOW__PROVIDER_EVENTS__TOKEN_DIR="/srv/tokens",
    )
    assert value.strip() == "/srv/tokens"


def test_accessors_read_airflow_cfg_in_a_fresh_process(tmp_path: Path) -> None:
    """What a worker sees: the option from ``airflow.cfg`` wins over the legacy variable."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "airflow.cfg").write_text(
        "[provider_events]\nstate_dir = /srv/from-cfg\ncarecloud_max_requests_per_second = 7\n"
    )
    env = deployment_env(home, AIRFLOW_PROVIDER_EVENTS_STATE_DIR="/srv/legacy")
    probe = (
        "import json; from airflow_provider_events import config; "
        "print(json.dumps([str(config.state_dir()), config.max_requests_per_second('carecloud')]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=240, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["/srv/from-cfg", 7.0]


def test_state_dir_precedence_new_option_then_legacy_env_then_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AIRFLOW_PROVIDER_EVENTS_STATE_DIR")
    assert config.state_dir().name == "airflow-provider-events"  # built-in default, under the temp dir
    monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_STATE_DIR", str(tmp_path / "legacy"))
    assert state_root() == tmp_path / "legacy"
    monkeypatch.setenv(NEW_ENV + "STATE_DIR", str(tmp_path / "new"))
    assert state_root() == tmp_path / "new"
    monkeypatch.setenv(NEW_ENV + "STATE_DIR", "  ")  # blank counts as unset
    assert state_root() == tmp_path / "legacy"


def test_token_dir_precedence_and_the_file_store_follows_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR", str(tmp_path / "legacy"))
    assert FileTokenStore().directory == tmp_path / "legacy"
    monkeypatch.setenv(NEW_ENV + "TOKEN_DIR", str(tmp_path / "new"))
    assert FileTokenStore().directory == tmp_path / "new"
    assert FileTokenStore(tmp_path / "explicit").directory == tmp_path / "explicit"  # an argument wins
    monkeypatch.delenv("AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR")
    monkeypatch.delenv(NEW_ENV + "TOKEN_DIR")
    assert config.token_dir().name == f"airflow-provider-events-tokens-{os.getuid()}"


def test_rejects_location_defaults_under_the_state_dir_and_accepts_an_object_storage_uri(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(NEW_ENV + "STATE_DIR", str(tmp_path / "state"))
    local = default_rejects_path("dag", "manual__2026-01-01T00:00:00+00:00", "sync", 3)
    assert local == str(
        tmp_path / "state" / "rejects" / "dag" / "manual__2026-01-01T00_00_00_00_00" / "sync.3.jsonl"
    )

    monkeypatch.setenv(NEW_ENV + "REJECTS_LOCATION", f"file://{tmp_path}/bucket/rejects/")
    remote = default_rejects_path("dag", "run1", "sync")
    assert remote == f"file://{tmp_path}/bucket/rejects/dag/run1/sync.jsonl"
    writer = RejectsWriter(remote)
    writer.write(7, "email", "not an email", {"email": "x"}, stage="validation", key="k7")
    writer.close()
    assert (tmp_path / "bucket" / "rejects" / "dag" / "run1" / "sync.jsonl").exists()
    assert [(r["row_number"], r["field"], r["stage"]) for r in read_rejects(remote)] == [
        (7, "email", "validation")
    ]
    RejectsWriter(remote).discard_previous()
    assert not (tmp_path / "bucket" / "rejects" / "dag" / "run1" / "sync.jsonl").exists()


def test_vendor_pacing_override_applies_below_connection_extra_and_hook_argument(
    emulator, monkeypatch: pytest.MonkeyPatch, tmp_state: Path
) -> None:  # type: ignore[no-untyped-def]
    assert ActOnHook().rate_limiter.rate == 5  # built-in default
    assert GainsightPXHook().rate_limiter.rate == 150
    monkeypatch.setenv(NEW_ENV + "ACTON_MAX_REQUESTS_PER_SECOND", "2")
    monkeypatch.setenv(NEW_ENV + "GAINSIGHT_PX_MAX_REQUESTS_PER_SECOND", "0")  # 0: no pacing
    assert ActOnHook().rate_limiter.rate == 2
    assert GainsightPXHook().rate_limiter.rate == 0
    assert ActOnHook(max_requests_per_second=1).rate_limiter.rate == 1  # the argument wins
    conn = emulator.connection("acton")
    conn["extra"]["max_requests_per_second"] = 3
    monkeypatch.setenv("AIRFLOW_CONN_ACTON_DEFAULT", json.dumps(conn))
    assert ActOnHook().rate_limiter.rate == 3  # the connection's extra wins over the deployment setting


def test_the_sync_engine_paces_at_the_deployment_setting(
    emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tmp_state: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(NEW_ENV + "GAINSIGHT_PX_MAX_REQUESTS_PER_SECOND", "75")
    records = [{"id": i, "identifyId": f"u{i}", "eventName": "e"} for i in range(1, 6)]
    adapter = build_adapter("gainsight_px_default", None, 2)
    checkpoint = open_checkpoint(CheckpointIdentity("dag", "run", "task"))
    log = logging.getLogger("tests.config.sync")
    with caplog.at_level(logging.INFO, logger=log.name):
        try:
            report = run_sync(
                adapter=adapter,
                source=RecordsSource(records),
                mapping=RowMapping({"identifyId": "identifyId", "eventName": "eventName"}),
                checkpoint=checkpoint,
                rejects=RejectsWriter(str(tmp_path / "rejects.jsonl")),
                options=SyncOptions(key_columns=["id"], max_concurrency=2),
                log=log,
            )
        finally:
            checkpoint.close()
    assert report.accepted == 5
    assert adapter.hook.rate_limiter.rate == 75
    assert any("paced at 75 requests/s" in r.getMessage() for r in caplog.records)


def test_bad_pacing_values_are_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NEW_ENV + "CARECLOUD_MAX_REQUESTS_PER_SECOND", "fast")
    with pytest.raises(ConfigurationError, match="not a number"):
        config.max_requests_per_second("carecloud")
    monkeypatch.setenv(NEW_ENV + "CARECLOUD_MAX_REQUESTS_PER_SECOND", "-1")
    with pytest.raises(ConfigurationError, match="negative"):
        config.max_requests_per_second("carecloud")


def test_token_store_option_names_the_class_hooks_share_tokens_through(
    emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tmp_state: Path
) -> None:  # type: ignore[no-untyped-def]
    shared = tmp_path / "shared-tokens"
    module = tmp_path / "site_token_store.py"
    module.write_text(
        textwrap.dedent(
            f"""
            from airflow_provider_events.hooks.token_store import FileTokenStore

            class SiteTokenStore(FileTokenStore):
                created = 0

                def __init__(self):
                    type(self).created += 1
                    super().__init__({str(shared)!r})
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(NEW_ENV + "TOKEN_STORE", "site_token_store.SiteTokenStore")
    hook = CareCloudHook()
    hook.check_connection()
    store_cls = config.token_store_class()
    assert store_cls.__name__ == "SiteTokenStore"
    assert store_cls.created >= 1
    assert list(shared.glob("*.json")), "the login's token was not kept in the configured store"
    assert not list((tmp_state / "tokens").glob("*.json"))

    monkeypatch.setenv(NEW_ENV + "TOKEN_STORE", "site_token_store.Missing")
    with pytest.raises(ConfigurationError, match="cannot import"):
        config.token_store()


@pytest.mark.usefixtures("airflow_db")
def test_a_dag_run_writes_its_rejects_under_the_configured_object_storage_location(
    emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tmp_state: Path
) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime

    from airflow.sdk import DAG

    from airflow_provider_events.operators.sync import SqlToEventsOperator
    from tests.dag_runner import run_dag, task_states, xcom

    monkeypatch.setenv(NEW_ENV + "REJECTS_LOCATION", f"file://{tmp_path}/lake/rejects")
    records = [{"identifyId": f"u{i}" if i != 3 else None, "eventName": "signup"} for i in range(6)]
    with DAG(dag_id="config_rejects", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        SqlToEventsOperator(
            task_id="sync",
            records=json.dumps(records),
            destination_conn_id="gainsight_px_default",
            max_rejected_ratio=0.5,
        )
    dr = run_dag(dag)
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    assert report["accepted"] == 5
    assert report["rejected"] == 1
    assert report["rejects_path"].startswith(f"file://{tmp_path}/lake/rejects/config_rejects/")
    assert [r["row_number"] for r in read_rejects(report["rejects_path"])] == [4]
    assert len(list((tmp_path / "lake" / "rejects" / "config_rejects").rglob("sync.jsonl"))) == 1
