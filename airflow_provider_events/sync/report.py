"""The delivery report: the small, JSON-safe result every sync returns to XCom and asset events."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class DeliveryReport:
    """Counts of one task instance's delivery, cumulative over its attempts. Never holds payloads, emails or
    credentials.

    **Identity** (per-event vendors): every row read ends in exactly one bucket, so ::

        rows_read == accepted + already_delivered + rejected + failed + in_doubt + duplicates_skipped
                     + delivered_earlier + would_send

    A row an earlier attempt settled is counted in the bucket of that outcome (the checkpoint keeps it), so
    the final attempt's report covers the whole task instance, a killed attempt's events included. Batch
    vendors (Act-On) count ``accepted`` / ``rejected_by_vendor`` from their jobs instead.

    :param vendor: connection type of the destination.
    :param rows_read: rows read from the source.
    :param sent: events handed to the vendor (requests made, or rows uploaded in batch jobs).
    :param accepted: events the vendor acknowledged.
    :param rejected: rows rejected, by validation before sending or by the vendor (see the rejects file).
    :param rejected_by_vendor: the part of ``rejected`` the vendor refused (400s, or a job's rejected count).
    :param failed: events not delivered (vendor down after every retry); a task retry resends them.
    :param in_doubt: events that may or may not have reached the vendor and were not resent (a timeout or
        dropped connection after sending, or in the air when an attempt died, that the vendor could not
        settle): possible losses. Listed in the rejects file with stage ``in_doubt``.
    :param possible_duplicates: resends of an event after an unconfirmed attempt (``retry_ambiguous``),
        over every attempt: an upper bound of the duplicates the vendor may now hold.
    :param resolved_by_lookup: doubts the vendor settled by read-back (found: acknowledged; absent: resent).
    :param ambiguous: deprecated alias of ``in_doubt``.
    :param ambiguous_resent: deprecated alias of ``possible_duplicates``.
    :param duplicates_skipped: rows skipped because the same idempotency key came earlier in the source.
    :param already_delivered: events the vendor itself reported as already recorded.
    :param delivered_earlier: rows skipped because an earlier DAG run delivered them to this destination,
        per the delivery ledger (``sync/ledger.py``).
    :param resent_delivered: events an earlier run had delivered that were sent again on purpose
        (``resend_delivered=True``); part of ``sent``, not a bucket of its own.
    :param retries: HTTP retries made by the hook (``sent``, ``retries``, ``throttled``, ``seconds``: summed
        over the attempts that ended; a killed attempt's requests are not counted).
    :param attempts: attempts of the task instance that ended (this one included).
    :param throttled: 429 answers received.
    :param seconds: wall time of the run.
    :param rejects_path: where rejected rows were written, when any were.
    :param job_ids: vendor job ids (batch vendors).
    :param dry_run: True when nothing was sent.
    :param would_send: in a dry run, the events that would have been sent (valid, not yet delivered).
    :param checkpoint: where the delivery checkpoint of this task instance lives.
    """

    vendor: str
    rows_read: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by_vendor: int = 0
    failed: int = 0
    in_doubt: int = 0
    possible_duplicates: int = 0
    resolved_by_lookup: int = 0
    ambiguous: int = 0
    ambiguous_resent: int = 0
    duplicates_skipped: int = 0
    already_delivered: int = 0
    delivered_earlier: int = 0
    resent_delivered: int = 0
    retries: int = 0
    throttled: int = 0
    seconds: float = 0.0
    rejects_path: str | None = None
    job_ids: list[str] = field(default_factory=list)
    dry_run: bool = False
    would_send: int = 0
    checkpoint: str | None = None
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict for XCom and asset event extras."""
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeliveryReport:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def unaccounted(self) -> int:
        """Rows read that are in no bucket (0 whenever the identity holds; see the class docstring)."""
        return self.rows_read - (
            self.accepted
            + self.already_delivered
            + self.rejected
            + self.failed
            + self.in_doubt
            + self.duplicates_skipped
            + self.delivered_earlier
            + self.would_send
        )

    @property
    def rejected_ratio(self) -> float:
        """Rejected rows over rows read (0 when nothing was read)."""
        return self.rejected / self.rows_read if self.rows_read else 0.0
