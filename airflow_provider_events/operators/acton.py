"""Act-On operators: upload a CSV file (or SQL rows) of custom events as jobs, send one, list the listings.

Each operator has its own module; this one keeps the import paths users rely on:

- :mod:`~airflow_provider_events.operators.acton_upload`: :class:`ActOnUploadCustomEventsOperator`, with its
  sources (:mod:`~airflow_provider_events.operators.acton_upload_file`,
  :mod:`~airflow_provider_events.operators.acton_upload_sql`) and resume state
  (:mod:`~airflow_provider_events.operators.acton_upload_state`);
- :mod:`~airflow_provider_events.operators.acton_event`: :class:`ActOnSendCustomEventOperator`;
- :mod:`~airflow_provider_events.operators.acton_listing`: :class:`ActOnListCustomEventDestinationsOperator`.
"""

from __future__ import annotations

from airflow_provider_events.operators.acton_event import ActOnSendCustomEventOperator
from airflow_provider_events.operators.acton_listing import (
    DESTINATION_CSV_COLUMNS,
    ActOnListCustomEventDestinationsOperator,
)
from airflow_provider_events.operators.acton_upload import DEFAULT_TIMEOUT, ActOnUploadCustomEventsOperator
from airflow_provider_events.operators.acton_upload_state import STATE_KEY

__all__ = [
    "DEFAULT_TIMEOUT",
    "DESTINATION_CSV_COLUMNS",
    "STATE_KEY",
    "ActOnListCustomEventDestinationsOperator",
    "ActOnSendCustomEventOperator",
    "ActOnUploadCustomEventsOperator",
]
