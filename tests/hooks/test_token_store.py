"""The shared token stores: one refresh at a time across processes and hosts, owner-only files, Variables
that any host reads, no secret in repr; measured with real processes against the Act-On emulator."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.token_store import (
    CachedToken,
    FileTokenStore,
    VariableTokenStore,
    account_key,
    resolve_token_store_kind,
)


def _refresh_if_needed(directory: str, key: str, log_path: str) -> str:
    """What a hook does: under the lock, reuse a usable token or 'log in' (slowly) and save."""
    store = FileTokenStore(directory)
    with store.transaction(key) as slot:
        if slot.token is not None and slot.token.usable():
            return slot.token.access_token
        time.sleep(0.2)  # a slow login: other processes must wait, not log in too
        with open(log_path, "a") as log:
            log.write(f"login by {os.getpid()}\n")
        token = CachedToken(
            access_token=f"tok-{os.getpid()}", expires_at=time.time() + 3600, refresh_token="r1"
        )
        slot.save(token)
        return token.access_token


def test_concurrent_processes_log_in_once(tmp_path: Path) -> None:
    key = account_key("acton", "https://api.example.com", "user@example.com", "client")
    log_path = tmp_path / "logins.txt"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        tokens = pool.starmap(_refresh_if_needed, [(str(tmp_path / "store"), key, str(log_path))] * 8)
    assert log_path.read_text().count("login") == 1
    assert len(set(tokens)) == 1


def test_files_are_owner_only_and_repr_hides_secrets(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "store")
    with store.transaction("k") as slot:
        slot.save(CachedToken("secret-access", time.time() + 60, "secret-refresh"))
    path = tmp_path / "store" / "k.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "store").stat().st_mode) == 0o700
    assert json.loads(path.read_text())["refresh_token"] == "secret-refresh"
    token = store.peek("k")
    assert token is not None
    assert "secret" not in repr(token)


def test_token_usability_margin() -> None:
    now = 1_000_000.0
    assert CachedToken("a", now + 120).usable(60, now=now)
    assert not CachedToken("a", now + 30).usable(60, now=now)
    assert not CachedToken("", now + 3600).usable(60, now=now)


def test_clear_forgets_the_token(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path)
    with store.transaction("k") as slot:
        slot.save(CachedToken("a", time.time() + 60))
    with store.transaction("k") as slot:
        assert slot.token is not None
        slot.clear()
    assert store.peek("k") is None


# ------------------------------------------------------------------------------------ Variable store
def test_variable_store_round_trip_lease_and_hidden_value(airflow_db: Path) -> None:
    from airflow.models.variable import Variable
    from airflow.sdk.log import redact

    store = VariableTokenStore()
    key = account_key("acton", "https://variable.example.com", "user", "client")
    assert store.peek(key) is None
    with store.transaction(key) as slot:
        assert slot.token is None
        assert slot.lease is None
        slot.take_lease("me")
        assert store.peek_lease(key) is not None
        assert store.peek_lease(key).owner == "me"
        slot.save(CachedToken("var-access", time.time() + 600, "var-refresh"))
    token = store.peek(key)
    assert token is not None
    assert token.refresh_token == "var-refresh"
    assert store.peek_lease(key) is None  # saving a token ends the lease
    name = store.variable_name(key)
    assert "token" in name  # Airflow hides Variables whose key names a sensitive field
    assert "var-access" in Variable.get(name)
    assert redact("var-access") != "var-access"  # the value was registered with the secrets masker
    with store.transaction(key) as slot:
        slot.clear()
    assert store.peek(key) is None


@pytest.mark.parametrize(
    ("executor", "extra", "expected"),
    [
        ("LocalExecutor", None, "local"),
        ("CeleryExecutor", None, "variable"),
        (
            "airflow.providers.cncf.kubernetes.executors.kubernetes_executor.KubernetesExecutor",
            None,
            "variable",
        ),
        ("LocalExecutor,CeleryExecutor", None, "variable"),
        ("CeleryExecutor", "local", "local"),
        ("LocalExecutor", "Variable", "variable"),
    ],
)
def test_auto_store_follows_the_executor(
    monkeypatch: pytest.MonkeyPatch, executor: str, extra: str | None, expected: str
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    assert resolve_token_store_kind(extra) == expected
    with pytest.raises(ConfigurationError):
        resolve_token_store_kind("shared-disk")


def _use_variable_store(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``acton_default`` with ``token_store: variable``, starting from an empty Variable."""
    from airflow_provider_events.hooks.acton import ActOnHook

    conn = emulator.connection("acton")
    conn["extra"]["token_store"] = "variable"
    monkeypatch.setenv("AIRFLOW_CONN_ACTON_DEFAULT", json.dumps(conn))
    with VariableTokenStore().transaction(ActOnHook().account) as slot:
        slot.clear()  # the session's metadata DB outlives the emulator's reset between tests


def _task_run(token_dir: str, result: str, go: str | None) -> None:
    """One "task run" on its own empty disk, in a forked process: a new Act-On hook needs a token.

    With ``go``, the process says it is ready and waits for ``go`` to appear, so that several processes
    ask for the token at the same moment.
    """
    os.environ["AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR"] = token_dir
    from airflow_provider_events.hooks.acton import ActOnHook

    hook = ActOnHook()
    if go is not None:
        Path(f"{result}.ready").touch()
        deadline = time.monotonic() + 300
        while not Path(go).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    hook.check_connection()
    Path(result).write_text(json.dumps({"stats": hook.token_stats, "store": type(hook.token_store).__name__}))


def _run_workers(dirs: list[Path], *, together: bool) -> list[dict[str, Any]]:
    """One forked process per dir (all released at once when ``together``); their results."""
    from airflow_provider_events.hooks import acton

    acton._LIMITERS.clear()  # each process paces on its own, as separate hosts do
    ctx = multiprocessing.get_context("fork")  # the parent already imported Airflow: cheap processes
    go = dirs[0].parent / "go"
    procs = [
        ctx.Process(
            target=_task_run,
            args=(str(d / "tokens"), str(d / "result.json"), str(go) if together else None),
        )
        for d in dirs
    ]
    for proc in procs:
        proc.start()
    try:
        if together:
            deadline = time.monotonic() + 300
            while not all((d / "result.json.ready").exists() for d in dirs):
                assert time.monotonic() < deadline, "workers did not start"
                assert all(p.is_alive() for p in procs), "a worker died while starting"
                time.sleep(0.02)
            go.touch()
        for proc in procs:
            proc.join(timeout=300)
            assert proc.exitcode == 0
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()
    return [json.loads((d / "result.json").read_text()) for d in dirs]


@pytest.mark.slow
def test_twenty_task_runs_on_twenty_empty_disks_log_in_once(
    airflow_db: Path, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 processes, each with its own empty token dir (a pod per task), 5 at a time: one password login."""
    acton = emulator.emulator.vendor("acton")
    _use_variable_store(emulator, monkeypatch)
    results: list[dict[str, Any]] = []
    for batch in range(4):
        dirs = [tmp_path / f"pod{batch}-{i}" for i in range(5)]
        for d in dirs:
            d.mkdir()
        results += _run_workers(dirs, together=True)
        for d in dirs:  # nothing was left on the disk that another pod could have used
            assert not list((d / "tokens").glob("*.json"))
    stats = [r["stats"] for r in results]
    print(f"\nAct-On logins: {acton.snapshot()['logins']}")
    assert {r["store"] for r in results} == {"VariableTokenStore"}
    assert acton.snapshot()["counters"]["password_grants"] == 1
    assert sum(s["password_grants"] for s in stats) == 1
    assert sum(s["store_hits"] + s["peer_tokens"] for s in stats) == 19


@pytest.mark.slow
def test_eight_workers_racing_a_refresh_spend_no_extra_password_login(
    airflow_db: Path, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored access token has expired; 8 hosts ask at the same moment: one refresh, no new login."""
    from airflow_provider_events.hooks.acton import ActOnHook

    acton = emulator.emulator.vendor("acton")
    _use_variable_store(emulator, monkeypatch)
    first = tmp_path / "first"
    first.mkdir()
    _run_workers([first], together=False)  # the one password login
    store = VariableTokenStore(tmp_path / "locks")
    acton.expire_access_tokens()
    with store.transaction(ActOnHook().account) as slot:
        assert slot.token is not None
        slot.save(dataclasses.replace(slot.token, expires_at=time.time() - 1))
    dirs = [tmp_path / f"host{i}" for i in range(8)]
    for d in dirs:
        d.mkdir()
    stats = [r["stats"] for r in _run_workers(dirs, together=True)]
    counters = acton.snapshot()["counters"]
    print(f"\nAct-On counters: {counters}, worker stats: {stats}")
    assert counters["password_grants"] == 1  # only the first run's
    assert counters["refresh_grants"] - counters["refresh_grants_failed"] == 1
    assert sum(s["password_grants"] for s in stats) == 0
    assert sum(s["refresh_grants"] for s in stats) == 1


def test_tasks_and_the_trigger_share_the_token_through_variables(
    airflow_db: Path, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the Task SDK (``dag.test()``: tasks and the deferred sensor's trigger): two DAG runs, each
    on an empty token dir, one password login; no token file written, the token is in the Variable."""
    from airflow.sdk import DAG

    from airflow_provider_events.hooks.acton import ActOnHook
    from airflow_provider_events.operators.acton import ActOnUploadCustomEventsOperator
    from airflow_provider_events.sensors.acton import ActOnCustomEventJobSensor
    from tests.dag_runner import run_dag, task_states

    acton = emulator.emulator.vendor("acton")
    acton.seed({"job_delays": {"pending": 0.5, "running": 0.1}})
    _use_variable_store(emulator, monkeypatch)
    csv = tmp_path / "events.csv"
    csv.write_text("email,date,title\na@example.com,2024-01-01,T\n")
    with DAG(dag_id="tokens_through_variables", schedule=None) as dag:
        upload = ActOnUploadCustomEventsOperator(
            task_id="upload",
            file_path=str(csv),
            destination="Variables",
            customeventaction="CUSTOM_GENERAL",
            dateformat="yyyy-MM-dd",
            wait_for_completion=False,
        )
        wait = ActOnCustomEventJobSensor(
            task_id="wait",
            job_id="{{ ti.xcom_pull(task_ids='upload')['job_ids'] }}",
            deferrable=True,
            poke_interval=0.2,
        )
        upload >> wait
    for run in range(2):
        monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR", str(tmp_path / f"pod{run}"))
        dr = run_dag(dag)
        assert task_states(dr) == {"upload": "success", "wait": "success"}
        assert not list((tmp_path / f"pod{run}").glob("*.json"))
    assert acton.snapshot()["counters"]["password_grants"] == 1
    assert VariableTokenStore().peek(ActOnHook().account) is not None


def test_carecloud_bearer_token_is_shared_through_the_variable(
    airflow_db: Path, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two CareCloud hooks as two hosts (separate lock dirs, no shared file): one login, same token."""
    from airflow_provider_events.hooks.carecloud import CareCloudHook
    from airflow_provider_events.testing.emulator.carecloud import PURCHASE_TYPE_ID

    cc = emulator.emulator.vendor("carecloud")
    conn = emulator.connection("carecloud")
    conn["extra"]["token_store"] = "variable"
    monkeypatch.setenv("AIRFLOW_CONN_CARECLOUD_DEFAULT", json.dumps(conn))
    first = CareCloudHook(token_store=VariableTokenStore(tmp_path / "host1"))
    with first.token_store.transaction(first.token_key) as slot:
        slot.clear()
    first.get_event_type(PURCHASE_TYPE_ID)
    second = CareCloudHook(token_store=VariableTokenStore(tmp_path / "host2"))
    second.get_event_type(PURCHASE_TYPE_ID)
    assert cc.login_count == 1
    assert (first.login_count, second.login_count) == (1, 0)
    assert second.token_keeper.stats["store_hits"] == 1
    assert not list(tmp_path.glob("host*/*.json"))  # only lock files on the "hosts"
