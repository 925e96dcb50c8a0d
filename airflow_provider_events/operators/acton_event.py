"""The Act-On single-event operator: one custom event recorded through the fact endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_events.hooks.acton import ActOnHook
from airflow_provider_events.operators._common import no_retry_when_ambiguous
from airflow_provider_events.utils.coerce import as_bool


def _explain_ambiguous(exc: Exception) -> str:
    return (
        f"the Act-On custom event's outcome is unknown ({type(exc).__name__}); not retrying, since a retry "
        "could record it twice. Check the contact's events in Act-On, or set retry_ambiguous=True to allow "
        "retries."
    )


class ActOnSendCustomEventOperator(BaseOperator):
    """Record one custom event through Act-On's fact endpoint (for event-driven DAGs).

    Returns (XCom) ``{"destination": ..., "customeventaction": ..., "status": "sent"}`` (never the e-mail).

    The fact endpoint has no idempotency key: a resent request records the event twice. When the outcome is
    unknown (a timeout after sending, a dropped connection, a 5xx), the task therefore fails *without*
    Airflow retries unless ``retry_ambiguous`` is set, as ``ExpertSenderCdpSegmentScenarioOperator`` does.
    A failure known not to have reached Act-On (refused connection, 429, 4xx) is retried as usual.

    :param destination: custom-event listing name (templated).
    :param customeventaction: the event type (templated).
    :param contact_email: the contact's e-mail (templated). (Not ``email``: that is BaseOperator's alert
        address list.)
    :param when: the event date: a date/datetime, or text already in ``dateformat`` (templated; default: the
        run's logical date, else now).
    :param title: the event title (templated).
    :param note: optional note (templated).
    :param dateformat: Java-style pattern of ``when`` (templated).
    :param createlistingentry: create the destination when it does not exist (templated).
    :param acton_conn_id: the ``acton`` connection id.
    :param retry_ambiguous: let Airflow retry the task after an ambiguous failure (at-least-once; the event
        may be recorded twice). Default False (at-most-once) (templated).
    """

    template_fields: Sequence[str] = (
        "destination",
        "customeventaction",
        "contact_email",
        "when",
        "title",
        "note",
        "dateformat",
        "createlistingentry",
        "retry_ambiguous",
    )
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        destination: str,
        customeventaction: str,
        contact_email: str,
        title: str,
        when: Any = None,
        note: str | None = None,
        dateformat: str = "yyyy-MM-dd",
        createlistingentry: bool | str | None = None,
        acton_conn_id: str = ActOnHook.default_conn_name,
        retry_ambiguous: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination = destination
        self.customeventaction = customeventaction
        self.contact_email = contact_email
        self.title = title
        self.when = when
        self.note = note
        self.dateformat = dateformat
        self.createlistingentry = createlistingentry
        self.acton_conn_id = acton_conn_id
        self.retry_ambiguous = retry_ambiguous

    def execute(self, context: Context) -> dict[str, str]:
        from datetime import datetime, timezone

        when = self.when
        if when in (None, ""):
            when = context.get("logical_date") or datetime.now(timezone.utc)
        retry_ambiguous = as_bool("retry_ambiguous", self.retry_ambiguous)
        createlistingentry = (
            None
            if self.createlistingentry in (None, "")
            else as_bool("createlistingentry", self.createlistingentry)
        )
        hook = ActOnHook(self.acton_conn_id)
        try:
            # log in first, outside the guard below: a lost login answer is safe to retry and must not be
            # mistaken for a lost event
            hook.get_access_token()
        except BaseException:
            hook.close()
            raise
        try:
            with no_retry_when_ambiguous(retry_ambiguous, _explain_ambiguous):
                hook.send_custom_event_fact(
                    destination=self.destination,
                    customeventaction=self.customeventaction,
                    email=self.contact_email,
                    when=when,
                    title=self.title,
                    note=self.note,
                    dateformat=self.dateformat,
                    createlistingentry=createlistingentry,
                )
        finally:
            hook.close()
        self.log.info("Act-On custom event sent to %s", self.destination)
        return {
            "destination": self.destination,
            "customeventaction": self.customeventaction,
            "status": "sent",
        }

    # ------------------------------------------------------------------ OpenLineage
    def get_openlineage_facets_on_start(self) -> Any:
        """OpenLineage: the Act-On listing as output."""
        from airflow_provider_events import lineage

        return lineage.delivery_lineage(
            destination_conn_id=self.acton_conn_id, destination_options={"destination": self.destination}
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """As on start, with ``rowCount`` 1 (the event sent)."""
        from airflow_provider_events import lineage

        return lineage.delivery_lineage(
            destination_conn_id=self.acton_conn_id,
            destination_options={"destination": self.destination},
            row_count=1,
        )
