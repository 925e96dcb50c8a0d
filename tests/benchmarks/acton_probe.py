"""One Act-On upload variant in a fresh process, for ``bench_acton_memory.py``; prints its figures as JSON.

``python acton_probe.py {engine|naive} ROWS`` with the ``bench_warehouse`` and ``acton_default``
connections in the environment; ``ACTON_PROBE_PROFILE=FILE`` writes a cProfile summary of the work there;
``ACTON_PROBE_TRACEMALLOC=FILE`` appends the traced peak and the top allocation sites there;
``ACTON_PROBE_OPTIONS`` (JSON) adds Act-On adapter options to the engine variant's.
Memory: ``VmRSS`` once everything is imported and set up (the baseline),
then the peak (``VmHWM``, reset to the baseline through ``/proc/self/clear_refs`` just before the work), so
that import-time peaks do not count as the work's memory.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid

SQL = "SELECT id, email, day, title, plan FROM events ORDER BY id LIMIT {rows}"
OPTIONS = {"destination": "bench", "customeventaction": "CUSTOM_GENERAL1", "poll_interval": 0.2}
#: more Act-On adapter options for the engine variant, as JSON (e.g. ``{"part_bytes": 500000000}``)
OPTIONS.update(json.loads(os.environ.get("ACTON_PROBE_OPTIONS") or "{}"))
MAPPING = {"email": "email", "date": "day", "title": "title", "note": "plan"}
#: this probe's run id: a process id is reused, and a probe that found an earlier probe's checkpoint would
#: re-attach to its jobs (as a task retry does) and measure nothing
RUN = uuid.uuid4().hex


def status_kib(name: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def engine(rows: int) -> dict[str, object]:
    from airflow_provider_events.sync.checkpoint import CheckpointIdentity
    from airflow_provider_events.sync.engine import SyncOptions
    from airflow_provider_events.sync.ledger import LedgerOptions
    from airflow_provider_events.sync.runner import sync_rows
    from airflow_provider_events.sync.source import SqlSource

    # warm-up: a dry run over 10 rows imports and sets up everything the real run needs (Airflow's
    # connection lookup, the SQLite hook, the mapping, the adapter), so the baseline is taken after it.
    sync_rows(
        destination_conn_id="acton_default",
        source=SqlSource("bench_warehouse", SQL.format(rows=10)),
        mapping=MAPPING,
        identity=CheckpointIdentity("bench_acton", f"warmup-{RUN}", "upload"),
        destination_options=OPTIONS,
        options=SyncOptions(key_columns=["id"], dry_run=True),
    )
    source = SqlSource("bench_warehouse", SQL.format(rows=rows))
    identity = CheckpointIdentity("bench_acton", f"rows-{rows}-{RUN}", "upload")
    # the delivery ledger stays on (operators use it by default), but each probe gets its own: a shared one
    # would make a probe skip the rows an earlier probe delivered (``delivered_earlier``)
    ledger = LedgerOptions(path=tempfile.mkdtemp(prefix="acton-probe-ledger-"))
    baseline = measure_start()
    report = sync_rows(
        destination_conn_id="acton_default",
        source=source,
        mapping=MAPPING,
        identity=identity,
        destination_options=OPTIONS,
        options=SyncOptions(key_columns=["id"], progress_interval=60.0),
        ledger=ledger,
    )
    return {
        **baseline,
        "accepted": report.accepted,
        "jobs": len(report.job_ids),
        "rows_read": report.rows_read,
    }


def naive(rows: int) -> dict[str, object]:
    """fetchall, build the CSV in memory, post it, poll the job: what a PythonOperator would do."""
    import csv
    import io
    import sqlite3

    import requests

    warehouse = json.loads(os.environ["AIRFLOW_CONN_BENCH_WAREHOUSE"])
    acton = json.loads(os.environ["AIRFLOW_CONN_ACTON_DEFAULT"])
    base = acton["host"].rstrip("/")
    baseline = measure_start()
    conn = sqlite3.connect(warehouse["host"])
    data = conn.execute(SQL.format(rows=rows)).fetchall()
    conn.close()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(("email", "date", "title", "note"))
    writer.writerows(row[1:] for row in data)
    body = buffer.getvalue().encode("utf-8")
    titles = len({row[3] for row in data})
    token = requests.post(
        f"{base}/token",
        data={
            "grant_type": "password",
            "username": acton["login"],
            "password": acton["password"],
            "client_id": acton["extra"]["client_id"],
            "client_secret": acton["extra"]["client_secret"],
        },
        timeout=60,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    fields = {
        "destination": OPTIONS["destination"],
        "customeventaction": OPTIONS["customeventaction"],
        "firstrow": "Y",
        "fieldseparator": "COMMA",
        "quotecharacter": "DOUBLE_QUOTE",
        "emailcolidx": "0",
        "datecolidx": "1",
        "titlecolidx": "2",
        "notecolidx": "3",
        "titlecount": str(titles),
        "dateformat": "yyyy-MM-dd",
    }
    answer = requests.post(
        f"{base}/api/1/customevents",
        headers=headers,
        data=fields,
        files={"file": ("events.csv", body, "text/csv")},
        timeout=600,
    )
    answer.raise_for_status()
    job_id = answer.json()["jobId"]
    while True:
        status = requests.get(
            f"{base}/api/1/customevents/{job_id}/status", headers=headers, timeout=60
        ).json()
        if status.get("status") not in ("The job is pending", "The job is running"):
            break
        time.sleep(float(OPTIONS["poll_interval"]))  # type: ignore[arg-type]
    return {**baseline, "accepted": int(status["details"]["appendCount"]), "jobs": 1}


def validated(rows: int) -> dict[str, object]:
    """The validation floor: a hand-written loop doing only what validating every row must (no upload).

    ``fetchmany`` with SQLite's own (strict) text decoding, then per row what the Act-On adapter checks (a
    stripped, plausible e-mail of at most 254 characters; a date text in the ``dateformat``, each distinct
    text checked once; a non-blank title), the CSV written in blocks to a file. No keys, no ledger, no
    rejects file, no upload: it costs less than any engine can, so its time bounds the engine's from below.
    """
    import csv
    import io
    import re
    import sqlite3
    from datetime import date as date_type

    warehouse = json.loads(os.environ["AIRFLOW_CONN_BENCH_WAREHOUSE"])
    match_email = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$").match
    baseline = measure_start()
    conn = sqlite3.connect(warehouse["host"])
    cursor = conn.execute(SQL.format(rows=rows))
    dates: dict[str, bool] = {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    bad = written = 0
    with tempfile.TemporaryFile() as spool:
        while chunk := cursor.fetchmany(2000):
            good = []
            for _id, raw_email, day, title, plan in chunk:
                email = raw_email.strip() if isinstance(raw_email, str) else ""
                ok = dates.get(day)
                if ok is None:
                    try:
                        ok = dates[day] = bool(date_type.fromisoformat(day))
                    except (TypeError, ValueError):
                        ok = dates[day] = False
                if not email or len(email) > 254 or not match_email(email) or not ok or not title.strip():
                    bad += 1
                    continue
                good.append((email, day, title, plan or ""))
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(good)
            spool.write(buffer.getvalue().encode("utf-8"))
            written += len(good)
    conn.close()
    return {**baseline, "accepted": written, "jobs": 0, "invalid": bad}


_STARTED: dict[str, float] = {}


def measure_start() -> dict[str, object]:
    """Everything is imported and set up: note the baseline RSS, reset the peak, start the clocks."""
    rss = status_kib("VmRSS")
    peak_reset = reset_peak()
    _STARTED["wall"] = time.perf_counter()
    _STARTED["cpu"] = time.process_time()
    return {"baseline_kib": rss, "peak_reset": peak_reset}


def main() -> None:
    variant, rows = sys.argv[1], int(sys.argv[2])
    if variant == "bare":
        print(json.dumps({"baseline_kib": status_kib("VmRSS"), "peak_kib": status_kib("VmHWM")}))
        return
    work = {"engine": engine, "naive": naive, "validated": validated}[variant]
    profile_to = os.environ.get("ACTON_PROBE_PROFILE")
    if profile_to:  # where the time goes: cProfile of the work, the top 25 by own time into this file
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(work, rows)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        with open(profile_to, "w") as handle:
            handle.write(text.getvalue())
    elif os.environ.get("ACTON_PROBE_TRACEMALLOC"):  # where the memory goes: peak, top 15 sites
        import tracemalloc

        tracemalloc.start(5)
        result = work(rows)
        peak = tracemalloc.get_traced_memory()[1]
        top = tracemalloc.take_snapshot().statistics("lineno")[:15]
        with open(os.environ["ACTON_PROBE_TRACEMALLOC"], "a") as handle:
            handle.write(f"{variant} {rows}: traced peak {peak / 2**20:.1f} MiB; still held at the end:\n")
            handle.writelines(f"  {stat}\n" for stat in top)
    else:
        result = work(rows)
    result["seconds"] = time.perf_counter() - _STARTED["wall"]
    result["cpu_seconds"] = time.process_time() - _STARTED["cpu"]
    result["peak_kib"] = status_kib("VmHWM")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
