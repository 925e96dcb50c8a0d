"""Run by test_secrets.py in a subprocess with DEBUG logging: one DAG per vendor against a private emulator.

Usage: ``python secrets_job.py OUT_JSON``. ``AIRFLOW__LOGGING__LOGGING_LEVEL=DEBUG`` and a fresh
``AIRFLOW_HOME`` come from the environment (Airflow reads them at import, hence the subprocess).

The DAG covers every vendor and the error paths where a careless message would echo a value: Act-On
upload + a *deferrable* sensor (a trigger row), ExpertSender CDP with unknown customers answered 404,
CareCloud identifying customers by e-mail with unknown ones answered 400 (the vendor echoes the value),
Gainsight PX with the e-mail in an attribute, and malformed e-mails rejected before sending.

Writes to OUT_JSON what the test must not find anywhere: every credential of the connections, every token
the emulator issued (read from its state after the run), every e-mail of the warehouse; and the run's state.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_provider_events.operators.acton import ActOnUploadCustomEventsOperator
from airflow_provider_events.operators.carecloud import CareCloudCreateEventsOperator
from airflow_provider_events.operators.expertsender_cdp import ExpertSenderCdpScenarioEventsOperator
from airflow_provider_events.operators.gainsight_px import GainsightPXSendCustomEventsOperator
from airflow_provider_events.sensors.acton import ActOnCustomEventJobSensor

ROWS = 40
KNOWN = range(1, 31)  # customers the vendors know; 31..36 unknown; 37..40 malformed e-mails


def email(i: int) -> str:
    if i > 36:
        return f"broken.{i}@@mail.example.com"
    return f"customer.{i:03d}.x7q@mail.example.com"


def build_dag() -> DAG:
    sql = "SELECT * FROM people ORDER BY id"
    common: dict[str, Any] = {"conn_id": "warehouse", "sql": sql, "key_columns": ["id"], "max_rejected": ROWS}
    with DAG(dag_id="secrets_every_vendor", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        upload = ActOnUploadCustomEventsOperator(
            task_id="acton_upload",
            conn_id="warehouse",
            sql=sql,
            mapping={"email": "email", "date": "happened", "title": "{{ 'Webinar' }}", "note": "note"},
            destination="Secrets",
            customeventaction="CUSTOM_ATTENDED",
            wait_for_completion=False,
            sync_options={"key_columns": ["id"]},
            max_rejected=ROWS,  # the table holds deliberately bad rows
        )
        wait = ActOnCustomEventJobSensor(
            task_id="acton_wait",
            job_id="{{ ti.xcom_pull(task_ids='acton_upload')['job_ids'] }}",
            deferrable=True,
            poke_interval=0.5,
            max_rejected=ROWS,
        )
        # the sensor runs right after the upload, while the job is pending: it defers (a trigger row)
        upload >> wait
        wait >> ExpertSenderCdpScenarioEventsOperator(
            task_id="ecdp",
            custom_event_id=1,
            identifier="email",
            mapping={"email": "email", "dataFields": {"note": "note"}},
            **common,
        )
        wait >> CareCloudCreateEventsOperator(
            task_id="carecloud",
            event_type="purchase",
            customer_identifier_type="email",
            mapping={"customer_identifier_value": "email", "data": {"note": "note"}},
            **common,
        )
        wait >> GainsightPXSendCustomEventsOperator(
            task_id="gainsight_px",
            mapping={
                "identifyId": "{{ 'user-' ~ row.id }}",
                "eventName": "{{ 'x' }}",
                "attributes": {"mail": "email"},
            },
            **common,
        )
    return dag


def main(out: Path) -> None:
    from airflow.utils import db

    from airflow_provider_events.testing.emulator import EmulatorServer
    from tests.dag_runner import run_dag, task_states

    db.resetdb()
    home = Path(os.environ["AIRFLOW_HOME"])
    warehouse = home / "warehouse.sqlite"
    con = sqlite3.connect(warehouse)
    con.execute("CREATE TABLE people (id INTEGER, email TEXT, happened TEXT, note TEXT)")
    con.executemany(
        "INSERT INTO people VALUES (?, ?, ?, ?)",
        [(i, email(i), "2024-05-01", f"note {i}") for i in range(1, ROWS + 1)],
    )
    con.commit()
    con.close()
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = json.dumps({"conn_type": "sqlite", "host": str(warehouse)})
    with EmulatorServer() as server:
        vendors = server.emulator.vendors
        vendors["acton"].seed({"job_delays": {"pending": 1.5, "running": 0.3}})
        vendors["expertsender_cdp"].seed(
            {
                "customers": [{"id": i, "email": email(i)} for i in KNOWN],
                "options": {"unknown_customer": "404"},
            }
        )
        vendors["carecloud"].seed({"customers": [{"email": email(i)} for i in KNOWN]})
        os.environ.update(server.connection_env())
        dr = run_dag(build_dag())
        state = {"state": str(dr.state), "tasks": task_states(dr)}
        secrets: dict[str, str] = {}
        for name in ("acton", "expertsender_cdp", "carecloud", "gainsight_px"):
            conn = json.loads(os.environ[f"AIRFLOW_CONN_{name.upper()}_DEFAULT"])
            if conn.get("password"):
                secrets[f"{name} password/API key"] = conn["password"]
            for key in ("client_secret", "external_application_id", "refresh_token"):
                if (conn.get("extra") or {}).get(key):
                    secrets[f"{name} {key}"] = conn["extra"][key]
        acton: Any = vendors["acton"]
        with acton.lock:
            secrets.update({f"acton access token {i}": t for i, t in enumerate(acton._access)})
            secrets.update({f"acton refresh token {i}": t for i, t in enumerate(acton._refresh)})
        carecloud: Any = vendors["carecloud"]
        with carecloud.lock:
            secrets.update({f"carecloud bearer token {i}": t for i, t in enumerate(carecloud.tokens)})
        received = {
            "acton": len(acton.events()),
            "expertsender_cdp": len(vendors["expertsender_cdp"].events()),
            "carecloud": len(carecloud.events()),
            "gainsight_px": len(vendors["gainsight_px"].snapshot()["received"]),
        }
    emails = [email(i) for i in range(1, ROWS + 1)]
    out.write_text(json.dumps({"state": state, "secrets": secrets, "emails": emails, "received": received}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
