"""ExpertSenderCdpAdapter: options, record forms, error scopes, and the one-request stop on a bad run."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_events.adapters.expertsender_cdp import ExpertSenderCdpAdapter
from airflow_provider_events.exceptions import (
    ConfigurationError,
    InvalidRecordError,
    VendorAuthError,
    VendorBadRequestError,
    VendorNotFoundError,
)
from airflow_provider_events.hooks.expertsender_cdp import ExpertSenderCdpHook
from airflow_provider_events.hooks.retry import RetryPolicy
from airflow_provider_events.sync.adapter import ErrorScope, SendOutcome, adapter_class_for


def adapter(hook, **options) -> ExpertSenderCdpAdapter:
    return ExpertSenderCdpAdapter(hook, {"custom_event_id": 1, "identifier": "email", **options})


def test_registered_for_the_connection_type():
    assert adapter_class_for("expertsender_cdp") is ExpertSenderCdpAdapter
    assert ExpertSenderCdpAdapter.vendor_deduplicates is False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"identifier": "email"}, "custom_event_id is required"),
        ({"custom_event_id": 1}, "identifier is required"),
        ({"custom_event_id": "x", "identifier": "email"}, "32-bit integer"),
        ({"custom_event_id": 1, "identifier": "visitor"}, "unknown customer identifier"),
        ({"custom_event_id": 1, "identifier": "email", "hash_emails": True}, "hash_emails needs"),
        ({"custom_event_id": 1, "identifier": "email_md5", "hash_emails": "perhaps"}, "true or false"),
        (
            {"custom_event_id": 1, "identifier": "email", "data_field_types": {"a": "Float"}},
            "unknown data field",
        ),
        ({"custom_event_id": 1, "identifier": "email", "data_field_types": ["Date"]}, "must be a mapping"),
        ({"custom_event_id": 1, "identifier": "email", "segments": [1]}, "unknown destination_options"),
    ],
)
def test_options_are_checked_up_front(hook, options, message):
    with pytest.raises(ConfigurationError, match=message):
        ExpertSenderCdpAdapter(hook, options)


def test_nested_and_flat_records(hook):
    nested = adapter(hook, data_field_types={"total": "Money"}).prepare(
        {
            "customerEmail": "a@b.cz",
            "dataFields": {"total": 10, "day": {"value": "2024-01-02", "type": "Date"}},
        },
        "k",
    )
    assert nested == {
        "customEventId": 1,
        "customerEmail": "a@b.cz",
        "dataFields": [
            {"name": "total", "type": "Money", "value": "10.00"},
            {"name": "day", "type": "Date", "value": "2024-01-02"},
        ],
    }
    flat = adapter(hook, data_field_types={"total": "Money"}).prepare(
        {"email": "a@b.cz", "total": 10, "day": {"value": "2024-01-02", "type": "Date"}}, "k"
    )
    assert flat == nested
    assert adapter(hook).prepare({"email": "a@b.cz"}, "k") == {"customEventId": 1, "customerEmail": "a@b.cz"}


def test_identifier_field_and_hashing(hook):
    prepared = adapter(hook, identifier="email_sha256", hash_emails="true", identifier_field="mail").prepare(
        {"mail": " A@B.cz ", "dataFields": {"n": None}}, "k"
    )
    assert prepared == {"customEventId": 1, "customerEmailSha256": hashlib.sha256(b"a@b.cz").hexdigest()}


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({"dataFields": {"a": 1}}, "customerEmail", "missing"),
        ({"email": "a@b.cz", "customerEmail": "a@b.cz"}, "email", "given twice"),
        ({"email": "a@b.cz", "crm_id": "C1"}, "crm_id", "one identifier per customer"),
        ({"email": "a@b.cz", "customerId": 5}, "customerId", "one identifier per customer"),
        ({"email": "a@b.cz", "a": 1, "dataFields": {"a": 2}}, "dataFields.a", "both flat and under"),
        ({"email": "a@b.cz", "dataFields": [1]}, "dataFields", "expected a mapping"),
        ({"email": "nope"}, "customerEmail", "not an e-mail"),
        ({"email": "a@b.cz", "when": {"value": "soon", "type": "DateTime"}}, "dataFields.when", "ISO-8601"),
    ],
)
def test_bad_records_are_rejected_with_field_and_reason(hook, record, field, reason):
    with pytest.raises(InvalidRecordError) as err:
        adapter(hook).prepare(record, "k")
    assert err.value.field == field
    assert reason in err.value.reason
    assert "a@b.cz" not in str(err.value)


def test_send_and_error_scopes(hook, ecdp, emulator, monkeypatch):
    ecdp.seed({"options": {"unknown_customer": "404"}, "customers": [{"id": 1, "email": "known@b.cz"}]})
    good = adapter(hook)
    assert good.send(good.prepare({"email": "known@b.cz"}, "k")) is SendOutcome.ACCEPTED
    assert len(ecdp.events()) == 1

    with pytest.raises(VendorNotFoundError) as unknown_customer:
        good.send(good.prepare({"email": "stranger@b.cz"}, "k"))
    assert good.error_scope(unknown_customer.value) is ErrorScope.ROW

    with pytest.raises(VendorBadRequestError) as bad:
        good.send({"customEventId": 1, "customerPhone": "1" * 30})
    assert good.error_scope(bad.value) is ErrorScope.ROW

    wrong_event = adapter(hook, custom_event_id=404)
    with pytest.raises(VendorNotFoundError) as unknown_event:
        wrong_event.send(wrong_event.prepare({"email": "known@b.cz"}, "k"))
    assert wrong_event.error_scope(unknown_event.value) is ErrorScope.RUN

    conn = {"conn_type": "expertsender_cdp", "host": emulator.base_url("expertsender_cdp"), "password": "bad"}
    monkeypatch.setenv("AIRFLOW_CONN_ECDP_BAD", json.dumps(conn))
    bad_key = adapter(ExpertSenderCdpHook("ecdp_bad", retry_policy=RetryPolicy(max_attempts=1)))
    with pytest.raises(VendorAuthError) as auth:
        bad_key.send(bad_key.prepare({"email": "known@b.cz"}, "k"))
    assert bad_key.error_scope(auth.value) is ErrorScope.RUN


def test_unrecognised_404_stops_the_run(hook):
    plain = VendorNotFoundError("expertsender_cdp", 404, "Not Found", body="<html>not found</html>")
    assert adapter(hook).error_scope(plain) is ErrorScope.RUN


@pytest.mark.parametrize("fault", ["unknown_event", "bad_key"])
def test_a_run_stopping_error_costs_one_request_across_workers(hook, ecdp, emulator, monkeypatch, fault):
    if fault == "bad_key":
        conn = {
            "conn_type": "expertsender_cdp",
            "host": emulator.base_url("expertsender_cdp"),
            "password": "x",
        }
        monkeypatch.setenv("AIRFLOW_CONN_ECDP_BAD", json.dumps(conn))
        subject = adapter(ExpertSenderCdpHook("ecdp_bad", pool_maxsize=8))
        expected: type[Exception] = VendorAuthError
    else:
        subject = adapter(hook, custom_event_id=999)
        expected = VendorNotFoundError
    payloads = [subject.prepare({"email": f"user{i}@b.cz"}, str(i)) for i in range(200)]
    errors = []

    def send(payload):
        try:
            subject.send(payload)
        except Exception as exc:
            errors.append(exc)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, payloads))
    assert len(errors) == 200
    assert all(isinstance(e, expected) for e in errors)
    assert emulator.emulator.fault_counters("expertsender_cdp")["requests"] == 1
    assert ecdp.events() == []


def test_first_request_gate_lets_a_good_run_proceed_concurrently(hook, ecdp):
    subject = adapter(hook)
    payloads = [subject.prepare({"email": f"user{i}@b.cz", "i": i}, str(i)) for i in range(100)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(subject.send, payloads))
    assert outcomes == [SendOutcome.ACCEPTED] * 100
    assert sorted(int(e["dataFields"][0]["value"]) for e in ecdp.events()) == list(range(100))
