"""``make demo``: the example sync DAG through real Airflow, on the local emulator and a SQLite warehouse.

Steps: a private ``AIRFLOW_HOME`` under ``.demo/`` with a fresh metadata DB; a sample warehouse with
thousands of customers and events (a few deliberately bad); the vendor emulator on a free loopback port;
the default connections pointed at it; ``warehouse_to_marketing`` run with ``dag.test()`` for yesterday's
data interval; then one line per vendor sync: rows read, accepted, rejected (and where they were written),
seconds; and how to have such connections in Admin > Connections (``.demo/connections.json`` for
``airflow connections import``). Everything it starts is stopped before it returns.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DEMO_DAG_ID = "warehouse_to_marketing"
WAREHOUSE_CONN_ID = "events_warehouse"
#: params of the demo run: the emulator finishes an Act-On job in under a second, poll it every second.
DEMO_RUN_CONF = {"acton_poll_interval": 1}


def _prepare_environment(workdir: Path, dags_folder: Path) -> None:
    """Point Airflow at a private home before it is imported."""
    home = workdir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    for leftover in ("state", "tokens"):  # checkpoints, rejects and tokens of an earlier demo
        shutil.rmtree(workdir / leftover, ignore_errors=True)
    # Airflow's in-process execution API (dag.test) trips this warning of its own dependencies
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
            "AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR": str(workdir / "tokens"),
            "AIRFLOW_PROVIDER_EVENTS_STATE_DIR": str(workdir / "state"),
        }
    )


def collect_reports(dag_run: Any) -> list[dict[str, Any]]:
    """The delivery reports the run's tasks returned, in task order (mapped tasks summed per task)."""
    reports: dict[str, dict[str, Any]] = {}
    for ti in sorted(dag_run.get_task_instances(), key=lambda t: (t.task_id, t.map_index)):
        value = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)
        if not isinstance(value, dict) or "vendor" not in value or "rows_read" not in value:
            continue
        merged = reports.setdefault(
            ti.task_id, {"task": ti.task_id, **value, "partitions": 0, "rejects_paths": []}
        )
        merged["partitions"] += 1
        if merged["partitions"] > 1:
            for name in ("rows_read", "accepted", "rejected", "sent"):
                merged[name] += value.get(name, 0)
            merged["seconds"] = max(merged["seconds"], value.get("seconds", 0))
        if value.get("rejects_path"):
            merged["rejects_paths"].append(value["rejects_path"])
    return list(reports.values())


def connections_file(env: dict[str, str], path: Path) -> Path:
    """Write ``AIRFLOW_CONN_*`` variables as a file ``airflow connections import`` reads.

    Connections from environment variables work in tasks but are not listed in Admin > Connections; the
    same connections imported into the metadata DB are, and can be opened and tested there. Each gets Port
    443, which Airflow 3.3's Test Connection button needs (see docs/troubleshooting.md).
    """
    connections = {}
    for name, value in sorted(env.items()):
        if name.startswith("AIRFLOW_CONN_"):
            conn = json.loads(value)
            connections[name[len("AIRFLOW_CONN_") :].lower()] = {**conn, "port": conn.get("port") or 443}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(connections, indent=2) + "\n")
    path.chmod(0o600)  # it holds the (emulator's) passwords
    return path


def ui_hint(path: Path) -> str:
    """What to do to see the demo's connections in the Airflow UI."""
    return (
        "[demo] the demo's connections came from AIRFLOW_CONN_* variables, which Admin > Connections does\n"
        "[demo] not list. To see and test such connections in the UI, store them in Airflow's database:\n"
        f"[demo]     airflow connections import {path}\n"
        "[demo] (this run's emulator has stopped; `python -m airflow_provider_events.testing.emulator`\n"
        "[demo] starts one), or one by one: `airflow connections add ID --conn-type ... --conn-port 443`."
    )


def format_table(reports: list[dict[str, Any]]) -> str:
    header = f"{'task':<34} {'vendor':<17} {'read':>7} {'accepted':>9} {'rejected':>9} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    for r in reports:
        task = f"{r['task']} ({r['partitions']} slices)" if r["partitions"] > 1 else r["task"]
        lines.append(
            f"{task:<34} {r['vendor']:<17} {r['rows_read']:>7} {r['accepted']:>9} {r['rejected']:>9} "
            f"{r['seconds']:>8.2f}"
        )
    paths = [(r["task"], p) for r in reports for p in r["rejects_paths"]]
    if paths:
        lines.append("")
        lines.append("rejected rows were written to:")
        lines += [f"  {task}: {path}" for task, path in paths]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=".demo", help="where the demo keeps its files (default .demo)")
    parser.add_argument("--dags-folder", default="dags_examples", help="the example DAGs folder")
    parser.add_argument("--dag-id", default=DEMO_DAG_ID)
    args = parser.parse_args(argv)
    started = time.monotonic()
    workdir = Path(args.workdir).resolve()
    dags_folder = Path(args.dags_folder).resolve()
    _prepare_environment(workdir, dags_folder)

    from airflow_provider_events.testing.demo_setup import connection_env, seed_emulator
    from airflow_provider_events.testing.emulator import EmulatorServer
    from airflow_provider_events.testing.warehouse import build_warehouse, warehouse_connection

    logical_date = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    print(f"[demo] building the sample warehouse for {logical_date - timedelta(days=1):%Y-%m-%d} ...")
    warehouse = build_warehouse(workdir / "warehouse.sqlite", logical_date - timedelta(days=1))
    os.environ[f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"] = json.dumps(warehouse_connection(warehouse))

    print("[demo] creating a fresh Airflow metadata DB ...")
    from airflow.utils import db

    db.resetdb()

    with EmulatorServer() as server:
        print(f"[demo] vendor emulator on {server.url}")
        seed_emulator(server, warehouse)
        # the local emulator has no rate limit: do not pace the requests (the vendors' defaults would)
        demo_connections = connection_env(server, max_requests_per_second=0)
        os.environ.update(demo_connections)
        import_file = connections_file(demo_connections, workdir / "connections.json")
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

        bag = DagBag(dag_folder=str(dags_folder))
        if bag.import_errors:
            for path, error in bag.import_errors.items():
                print(f"[demo] import error in {path}:\n{error}", file=sys.stderr)
            return 1
        dag = bag.get_dag(args.dag_id)
        if dag is None:
            print(f"[demo] no DAG {args.dag_id!r} in {dags_folder}", file=sys.stderr)
            return 1
        DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call]
        sync_bag_to_db(bag, "dags-folder", None)
        print(f"[demo] running {args.dag_id} for the data interval ending {logical_date:%Y-%m-%d} ...")
        dag_run = dag.test(logical_date=logical_date, run_conf=DEMO_RUN_CONF)
        reports = collect_reports(dag_run)
    print()
    print(format_table(reports))
    print()
    state = str(dag_run.state)
    elapsed = time.monotonic() - started
    print(f"[demo] DAG run {state} in {elapsed:.1f} s (emulator stopped, nothing left running)")
    print(ui_hint(import_file))
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
