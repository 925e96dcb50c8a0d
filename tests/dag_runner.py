"""Run a DAG defined in a test through Airflow's ``dag.test()``, with its task results readable after."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG


def run_dag(dag: DAG, **kwargs: Any) -> Any:
    """Serialize ``dag`` to the metadata DB (as the DAG processor would) and run it with ``dag.test()``.

    :returns: the finished DagRun; use :func:`xcom` to read task results.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder="/nonexistent")
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    return dag.test(**kwargs)


def task_states(dag_run: Any) -> dict[str, str]:
    """``{task_id[map_index]: state}`` of a finished run."""
    out = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        out[key] = str(ti.state)
    return out


def xcom(dag_run: Any, task_id: str, map_index: int = -1, key: str = "return_value") -> Any:
    """The XCom a task of a finished run pushed."""
    for ti in dag_run.get_task_instances():
        if ti.task_id == task_id and ti.map_index == map_index:
            return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=map_index)
    raise KeyError(f"no task instance {task_id}[{map_index}]")
