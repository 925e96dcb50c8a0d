"""
### One warehouse -> four marketing tools

Every day, the events of the data interval go from the warehouse to all four vendors at once:

| task | warehouse table | vendor |
|---|---|---|
| `attendance_to_acton` | `webinar_attendance` | Act-On custom events (CSV upload job, waited for) |
| `purchases_to_expertsender_cdp` | `purchases` | ExpertSender CDP scenario custom event per purchase |
| `purchases_to_carecloud` | `purchases` | CRM CareCloud events with property records |
| `usage_to_gainsight_px` | `product_usage` | Gainsight PX custom events, in 4 parallel slices |

The largest sync, product usage, is split with dynamic task mapping: each mapped task reads the rows whose
`id % 4` is its slice, with its own checkpoint, rejects file and report. Each slice paces itself at the
`gainsight_px_default` connection's `max_requests_per_second` extra (default 150/s): with four slices
running at once, set it to about 40 to stay under Gainsight PX's ~200 requests per second.

Every task returns its delivery report (rows read, accepted, rejected, rejects file ...) and puts it on its
Asset as the asset event's `extra`, so downstream DAGs scheduled on these assets see the counts.
Rows that fail a vendor's rules are rejected and counted; more than 5 % of them fails that task.

Each vendor destination keeps a delivery ledger of the events it received: a manual run beside the
scheduled one, or a backfill over days already synced, skips the events an earlier run delivered (counted
as `delivered_earlier`). Trigger with `{"resend_delivered": true}` to send them again on purpose.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag

from airflow_provider_events.operators.carecloud import CareCloudCreateEventsOperator
from airflow_provider_events.operators.expertsender_cdp import ExpertSenderCdpScenarioEventsOperator
from airflow_provider_events.operators.gainsight_px import GainsightPXSendCustomEventsOperator
from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.sync.partitions import partition_clauses

WAREHOUSE_CONN_ID = "events_warehouse"
# The warehouse keeps UTC timestamps as text "YYYY-MM-DDTHH:MM:SS": bind the data interval in that form.
WINDOW = {
    "start": "{{ data_interval_start.strftime('%Y-%m-%dT%H:%M:%S') }}",
    "end": "{{ data_interval_end.strftime('%Y-%m-%dT%H:%M:%S') }}",
}
MAX_REJECTED_RATIO = 0.05
USAGE_PARTITIONS = 4
PURCHASES_SQL = """
    SELECT id, email, order_id, amount, currency, product, purchased_at
    FROM purchases
    WHERE purchased_at >= :start AND purchased_at < :end
    ORDER BY id
"""


@dag(
    dag_id="warehouse_to_marketing",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "acton_destination": Param("Webinars", type="string", description="Act-On custom-event listing"),
        "acton_poll_interval": Param(30, type="integer", minimum=1, description="seconds between job polls"),
        "expertsender_event_id": Param(101, type="integer", description="ExpertSender CDP custom event"),
        "carecloud_event_type_id": Param("8a0f5e3c1d2b4a6978e5c0d1f2", type="string"),
        "gainsight_property_key": Param("", type="string", description="empty: the connection's"),
        "resend_delivered": Param(
            False, type="boolean", description="send again the events an earlier run delivered"
        ),
    },
    tags=["events", "acton", "expertsender_cdp", "carecloud", "gainsight_px", "example"],
    doc_md=__doc__,
)
def warehouse_to_marketing() -> None:
    SqlToEventsOperator(
        task_id="attendance_to_acton",
        conn_id=WAREHOUSE_CONN_ID,
        sql="""
            SELECT id, email, webinar_title, attended_at, note
            FROM webinar_attendance
            WHERE attended_at >= :start AND attended_at < :end
            ORDER BY id
        """,
        parameters=WINDOW,
        destination_conn_id="acton_default",
        destination_options={
            "destination": "{{ params.acton_destination }}",
            "customeventaction": "CUSTOM_ATTENDED",
            "poll_interval": "{{ params.acton_poll_interval }}",
        },
        mapping={"email": "email", "date": "attended_at", "title": "webinar_title", "note": "note"},
        key_columns=["id"],
        max_rejected_ratio=MAX_REJECTED_RATIO,
        resend_delivered="{{ params.resend_delivered }}",
        outlets=[Asset("events://acton/webinar_attendance")],
    )

    ExpertSenderCdpScenarioEventsOperator(
        task_id="purchases_to_expertsender_cdp",
        conn_id=WAREHOUSE_CONN_ID,
        sql=PURCHASES_SQL,
        parameters=WINDOW,
        custom_event_id="{{ params.expertsender_event_id }}",
        identifier="email_sha256",
        hash_emails=True,
        mapping={
            "email_sha256": "email",
            "dataFields": {"order_id": "order_id", "amount": "amount", "purchased_at": "purchased_at"},
        },
        data_field_types={"amount": "Money", "purchased_at": "DateTime"},
        key_columns=["order_id"],
        max_rejected_ratio=MAX_REJECTED_RATIO,
        resend_delivered="{{ params.resend_delivered }}",
        outlets=[Asset("events://expertsender_cdp/purchases")],
    )

    CareCloudCreateEventsOperator(
        task_id="purchases_to_carecloud",
        conn_id=WAREHOUSE_CONN_ID,
        sql=PURCHASES_SQL,
        parameters=WINDOW,
        event_type_id="{{ params.carecloud_event_type_id }}",
        customer_identifier_type="email",
        mapping={
            "customer_identifier_value": "email",
            "external_id": "order_id",
            "created_at": "{{ row.purchased_at }}Z",
            "property_records": {"amount": "amount", "currency": "currency", "product": "product"},
        },
        key_columns=["order_id"],
        max_rejected_ratio=MAX_REJECTED_RATIO,
        resend_delivered="{{ params.resend_delivered }}",
        outlets=[Asset("events://carecloud/purchases")],
    )

    GainsightPXSendCustomEventsOperator.partial(
        task_id="usage_to_gainsight_px",
        conn_id=WAREHOUSE_CONN_ID,
        parameters=WINDOW,
        property_key="{{ params.gainsight_property_key }}",
        mapping={
            "identifyId": "user_id",
            "accountId": "account_id",
            "eventName": "event_name",
            "date": "occurred_at",
            "attributes": {"feature": "feature", "duration_seconds": "duration_seconds"},
        },
        key_columns=["id"],
        max_rejected_ratio=MAX_REJECTED_RATIO,
        resend_delivered="{{ params.resend_delivered }}",
        outlets=[Asset("events://gainsight_px/product_usage")],
    ).expand(
        sql=[
            f"""
            SELECT id, user_id, account_id, event_name, feature, duration_seconds, occurred_at
            FROM product_usage
            WHERE occurred_at >= :start AND occurred_at < :end AND {clause}
            ORDER BY id
            """
            # "%" suits SQLite, Postgres, MySQL, SQL Server, Snowflake; use the default "MOD" for BigQuery.
            for clause in partition_clauses("id", USAGE_PARTITIONS, modulo="%")
        ]
    )


warehouse_to_marketing()
