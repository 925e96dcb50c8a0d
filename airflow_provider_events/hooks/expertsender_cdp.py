"""ExpertSender CDP hook: scenario custom events for one customer or for whole segments.

The vocabulary shared by the hook, the delivery adapter and the operators lives in its own modules and is
re-exported here:

- :class:`CustomerIdentifier`, :class:`CustomerRef` (:mod:`.expertsender_cdp_customers`): the six ways the API
  identifies a customer, with their wire field and limit; one customer, validated (and hashed) before sending;
- :class:`DataFieldType`, :class:`DataField` (:mod:`.expertsender_cdp_data_fields`): ``dataFields`` items,
  with one stable string format per type;
- :func:`build_customer_event`, :func:`check_custom_event_id` (:mod:`.expertsender_cdp_requests`): bodies;
- :class:`ProblemDetails` (:mod:`.expertsender_cdp_problems`): the vendor's problem-details error body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import quote

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.hooks.expertsender_cdp_customers import (
    CustomerIdentifier,
    CustomerRef,
    hash_email,
    normalize_email,
)
from airflow_provider_events.hooks.expertsender_cdp_data_fields import (
    DataField,
    DataFieldType,
    build_data_fields,
)
from airflow_provider_events.hooks.expertsender_cdp_problems import ProblemDetails
from airflow_provider_events.hooks.expertsender_cdp_requests import (
    INT32_MAX,
    INT32_MIN,
    build_customer_event,
    build_segments_event,
    check_custom_event_id,
)
from airflow_provider_events.hooks.security import mask

__all__ = [
    "CONNECTION_PROBE_EMAIL",
    "CUSTOMER_EVENT_PATH",
    "INT32_MAX",
    "INT32_MIN",
    "SEGMENT_EVENT_PATH",
    "CustomerIdentifier",
    "CustomerRef",
    "DataField",
    "DataFieldType",
    "ExpertSenderCdpHook",
    "ProblemDetails",
    "build_customer_event",
    "build_data_fields",
    "build_segments_event",
    "check_custom_event_id",
    "hash_email",
    "normalize_email",
]

CUSTOMER_EVENT_PATH = "/scenariocustomevents"
SEGMENT_EVENT_PATH = "/scenariocustomevents/withsegments"
#: a syntactically valid address on a reserved domain: no real customer can match it.
CONNECTION_PROBE_EMAIL = "airflow-connection-test@example.invalid"


class ExpertSenderCdpHook(BaseEventsHook):
    """Talks to the ExpertSender CDP API (``https://api.ecdp.app``) with the business unit's ``x-api-key``.

    Connection: ``host`` = base URL (optional), ``password`` = API key of the business unit.

    Scenario custom events are not idempotent (no idempotency key exists): the core never resends one whose
    outcome is unknown (read timeout after sending, 500); it raises with ``ambiguous=True`` instead.

    :param conn_id: the ``expertsender_cdp`` connection id.
    """

    default_conn_name: ClassVar[str] = "expertsender_cdp_default"
    conn_type: ClassVar[str] = "expertsender_cdp"
    hook_name: ClassVar[str] = "ExpertSender CDP"
    default_base_url: ClassVar[str] = "https://api.ecdp.app"

    @cached_property
    def _api_key(self) -> str:
        """The business unit's API key (the connection's password), registered with the secret masker once.

        Masking once matters: under a task runner each ``mask()`` is also a message to the supervisor.
        """
        key = self.connection.password
        if not key:
            raise ConfigurationError(f"connection {self.conn_id!r}: the API key (password field) is empty")
        mask(key)
        return str(key)

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self._api_key}

    def parse_error_body(self, body: Any) -> str:
        """``title (substatus): detail; errors: ...`` from a problem-details body, else the core's parsing."""
        problem = ProblemDetails.from_body(body)
        if problem is not None:
            return problem.summary()
        return super().parse_error_body(body)

    def check_connection(self) -> str:
        """Look up a customer by an e-mail on a reserved domain: 200 or 404 both prove the key works.

        :raises VendorAuthError: the key is missing, wrong or from another business unit.
        """
        response = self.request(
            "GET", f"/customers/email/{quote(CONNECTION_PROBE_EMAIL, safe='')}", ok_statuses=(404,)
        )
        return f"ExpertSender CDP accepted the API key (customer lookup answered {response.status_code})"

    def send_customer_event(self, body: Mapping[str, Any]) -> None:
        """``POST /scenariocustomevents`` with a body built by :func:`build_customer_event`.

        Not retried when its outcome is unknown (see the class docstring).
        """
        self.send("POST", CUSTOMER_EVENT_PATH, json_body=dict(body), idempotent=False)

    def add_customer_to_scenario(
        self,
        custom_event_id: int | str,
        *,
        customer: CustomerRef | Mapping[str, Any],
        data_fields: Mapping[str, Any] | Iterable[DataField] | None = None,
        data_field_types: Mapping[str, DataFieldType | str] | None = None,
        hash_emails: bool = False,
    ) -> None:
        """Fire a scenario custom event for one customer (``POST /scenariocustomevents``, 201 Created).

        :param custom_event_id: the custom event's id (Automation > Scenarios > Custom events), an int32.
        :param customer: a :class:`CustomerRef`, or a one-key mapping such as ``{"email_sha256": "..."}``.
        :param data_fields: ``name -> value`` (or ``name -> {"value", "type"}``) or :class:`DataField` items.
        :param data_field_types: ``name -> type`` for values given without one (otherwise inferred).
        :param hash_emails: with a mapping ``customer`` of kind email_md5/email_sha256, hash a raw address.
        :raises InvalidRecordError: an identifier or value that breaks the vendor's rules (nothing is sent).
        :raises VendorApiError: the vendor refused it (problem details in the message and ``body``).
        """
        ref = (
            customer
            if isinstance(customer, CustomerRef)
            else CustomerRef.from_mapping(customer, hash_emails=hash_emails)
        )
        body = build_customer_event(
            check_custom_event_id(custom_event_id), ref, data_fields, data_field_types
        )
        self.send_customer_event(body)
        self.log.info("Custom event %s fired for one customer (by %s)", body["customEventId"], ref.kind.value)

    def add_segments_to_scenario(
        self,
        custom_event_id: int | str,
        segments: Iterable[int | str] | int | str,
        data_fields: Mapping[str, Any] | Iterable[DataField] | None = None,
        data_field_types: Mapping[str, DataFieldType | str] | None = None,
    ) -> None:
        """Fire a scenario custom event for every customer of the segments
        (``POST /scenariocustomevents/withsegments``, 201 Created).

        :param custom_event_id: the custom event's id, an int32.
        :param segments: segment ids (Customers > Segmentation, "ID" column), int32 each, at least one.
        :param data_fields: as for :meth:`add_customer_to_scenario`.
        :param data_field_types: as for :meth:`add_customer_to_scenario`.
        :raises ConfigurationError: a segment id that is not an integer, or no segment.
        :raises VendorNotFoundError: an unknown custom event or segment.
        """
        body = build_segments_event(custom_event_id, segments, data_fields, data_field_types)
        self.send("POST", SEGMENT_EVENT_PATH, json_body=body, idempotent=False)
        self.log.info("Custom event %s fired for segments %s", body["customEventId"], body["segments"])
