"""CareCloudAdapter against the emulator: options, open(), prepare() field names, send() outcomes, scopes."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError, VendorBadRequestError
from airflow_provider_events.hooks.carecloud import CareCloudHook
from airflow_provider_events.sync.adapter import ErrorScope, SendOutcome, adapter_class_for
from airflow_provider_events.testing.emulator.carecloud import CUSTOMER_IDS, PURCHASE_TYPE_ID


def adapter(hook: CareCloudHook, **options: Any) -> Any:
    cls = adapter_class_for("carecloud")
    made = cls(hook, options)
    made.open()
    return made


def test_registered_and_deduplicating(hook: CareCloudHook) -> None:
    cls = adapter_class_for("carecloud")
    assert cls.__name__ == "CareCloudAdapter"
    assert cls.vendor_deduplicates is True


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"event_type_id": PURCHASE_TYPE_ID, "event_type": "purchase"},
        {"event_type": "purchase", "customer_identifier_type": "fax"},
        {"event_type": "purchase", "external_id_from_key": "yes"},
        {"event_type": "purchase", "colour": "red"},
    ],
)
def test_bad_options(hook: CareCloudHook, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        adapter_class_for("carecloud")(hook, options)


def test_open_resolves_the_event_type_once(cc: Any, emulator: Any, hook: CareCloudHook) -> None:
    by_name = adapter(hook, event_type="Purchase")
    assert by_name.event_type_id == PURCHASE_TYPE_ID
    before = emulator.emulator.fault_counters("carecloud")["requests"]
    for i in range(3):
        by_name.prepare({"customer_id": CUSTOMER_IDS[0], "property_records": {"visit_count": i}}, f"k{i}")
    assert emulator.emulator.fault_counters("carecloud")["requests"] == before  # no lookups per row
    with pytest.raises(ConfigurationError, match="no event type"):
        adapter(hook, event_type="nope")
    with pytest.raises(ConfigurationError, match="no event type with id"):
        adapter(hook, event_type_id="0" * 26)


def test_prepare_builds_the_api_body(hook: CareCloudHook) -> None:
    made = adapter(hook, event_type="purchase", customer_identifier_type="email")
    body = made.prepare(
        {
            "customer_identifier_value": "anna@example.com",
            "secondary_external_id": 7,
            "data": {"order": 1},
            "created_at": "2026-02-01T10:00:00+00:00",
            "property_records": {"has_purchase": 1, "favourite_color": "green"},
        },
        "order-1",
    )
    assert body["event"] == {
        "event_type_id": PURCHASE_TYPE_ID,
        "external_id": "order-1",
        "customer_identifier_type": "email",
        "customer_identifier_value": "anna@example.com",
        "secondary_external_id": "7",
        "data": {"order": 1},
        "created_at": "2026-02-01 11:00:00",
    }
    assert [r["property_id"] for r in body["property_records"]] == ["has_purchase", "favourite_color"]
    assert body["property_records"][0]["property_value"] is True


def test_external_id_from_key_modes(hook: CareCloudHook) -> None:
    row = {"customer_id": CUSTOMER_IDS[0], "external_id": "row-id"}
    assert adapter(hook, event_type="purchase").prepare(row, "key")["event"]["external_id"] == "row-id"
    assert (
        adapter(hook, event_type="purchase", external_id_from_key=True).prepare(row, "key")["event"][
            "external_id"
        ]
        == "key"
    )
    strict = adapter(hook, event_type="purchase", external_id_from_key=False)
    with pytest.raises(InvalidRecordError) as caught:
        strict.prepare({"customer_id": CUSTOMER_IDS[0]}, "key")
    assert caught.value.field == "external_id"


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (
            {"customer_id": CUSTOMER_IDS[0], "property_records": {"has_purchase": "perhaps"}},
            "property_records.has_purchase",
        ),
        ({"customer_id": CUSTOMER_IDS[0], "property_records": {"unknown": 1}}, "property_records.unknown"),
        ({"customer_id": CUSTOMER_IDS[0], "property_records": ["has_purchase"]}, "property_records"),
        ({"customer_id": CUSTOMER_IDS[0], "colour": "red"}, "colour"),
        ({"property_records": {}}, "customer_id"),
    ],
)
def test_prepare_errors_name_the_field(hook: CareCloudHook, record: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        adapter(hook, event_type="purchase").prepare(record, "k")
    assert caught.value.field == field


def test_ignore_unknown_fields(hook: CareCloudHook) -> None:
    made = adapter(hook, event_type="purchase", ignore_unknown_fields=True)
    assert "colour" not in made.prepare({"customer_id": CUSTOMER_IDS[0], "colour": "red"}, "k")["event"]


def test_send_accepted_then_already_delivered(cc: Any, hook: CareCloudHook) -> None:
    made = adapter(hook, event_type_id=PURCHASE_TYPE_ID)
    payload = made.prepare({"customer_id": CUSTOMER_IDS[1], "property_records": {"visit_count": 3}}, "key-1")
    assert made.send(payload) is SendOutcome.ACCEPTED
    assert made.send(payload) is SendOutcome.ALREADY_DELIVERED
    assert [(e["external_id"], e["customer_id"]) for e in cc.events()] == [("key-1", CUSTOMER_IDS[1])]


def test_error_scope_row_for_a_bad_customer_run_for_a_vanished_event_type(
    cc: Any, hook: CareCloudHook
) -> None:
    made = adapter(hook, event_type="purchase")
    payload = made.prepare({"customer_id": "f" * 26}, "k")
    with pytest.raises(VendorBadRequestError) as caught:
        made.send(payload)
    assert made.error_scope(caught.value) is ErrorScope.ROW
    payload["event"]["event_type_id"] = "0" * 26
    with pytest.raises(VendorBadRequestError) as caught:
        made.send(payload)
    assert made.error_scope(caught.value) is ErrorScope.RUN
