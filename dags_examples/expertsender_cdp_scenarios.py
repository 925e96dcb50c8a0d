"""
### Purchases -> ExpertSender CDP scenarios

Two ways to start ExpertSender CDP marketing scenarios:

- **purchases_to_scenario** fires the custom event `purchase_event_id` once per purchase of the data
  interval, for the customer identified by the SHA-256 of their e-mail (hashed here: raw addresses never
  leave the warehouse), with the order's data fields. Invalid rows (e.g. a malformed e-mail) are written to
  the rejects file and counted; more than `max_rejected_ratio` of them fails the task.
- **segment_scenario** fires the custom event `segment_event_id` once for every customer of the segments
  `segment_ids` (Customers > Segmentation, "ID" column), e.g. a daily digest.

The ids are params, so a run can be triggered with other ones. Connections: `events_warehouse` (any SQL
connection) and `expertsender_cdp_default` (the business unit's API key).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, Param, dag

from airflow_provider_events.operators.expertsender_cdp import (
    ExpertSenderCdpScenarioEventsOperator,
    ExpertSenderCdpSegmentScenarioOperator,
)

WAREHOUSE_CONN_ID = "events_warehouse"
# The warehouse keeps UTC timestamps as text "YYYY-MM-DDTHH:MM:SS": bind the data interval in that form.
WINDOW = {
    "start": "{{ data_interval_start.strftime('%Y-%m-%dT%H:%M:%S') }}",
    "end": "{{ data_interval_end.strftime('%Y-%m-%dT%H:%M:%S') }}",
}


@dag(
    dag_id="expertsender_cdp_scenarios",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "purchase_event_id": Param(101, type="integer", description="custom event fired per purchase"),
        "segment_event_id": Param(102, type="integer", description="custom event fired per segment"),
        "segment_ids": Param([7, 12], type="array", items={"type": "integer"}, description="segment ids"),
    },
    tags=["events", "expertsender_cdp", "example"],
    doc_md=__doc__,
)
def expertsender_cdp_scenarios() -> None:
    ExpertSenderCdpScenarioEventsOperator(
        task_id="purchases_to_scenario",
        conn_id=WAREHOUSE_CONN_ID,
        expertsender_cdp_conn_id="expertsender_cdp_default",
        sql="""
            SELECT id, email, order_id, amount, currency, product, purchased_at
            FROM purchases
            WHERE purchased_at >= :start AND purchased_at < :end
            ORDER BY id
        """,
        parameters=WINDOW,
        custom_event_id="{{ params.purchase_event_id }}",
        identifier="email_sha256",
        hash_emails=True,
        mapping={
            "email_sha256": "email",
            "dataFields": {
                "order_id": "order_id",
                "amount": "amount",
                "currency": "currency",
                "product": "product",
                "purchased_at": "purchased_at",
            },
        },
        data_field_types={"amount": "Money", "purchased_at": "DateTime"},
        key_columns=["order_id"],
        max_rejected_ratio=0.05,
    )

    ExpertSenderCdpSegmentScenarioOperator(
        task_id="segment_scenario",
        expertsender_cdp_conn_id="expertsender_cdp_default",
        custom_event_id="{{ params.segment_event_id }}",
        segments="{{ params.segment_ids }}",
        data_fields={
            "campaign": "daily-digest",
            "day": {"value": "{{ data_interval_start | ds }}", "type": "Date"},
        },
    )


expertsender_cdp_scenarios()
