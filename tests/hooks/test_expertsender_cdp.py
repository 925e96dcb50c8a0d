"""ExpertSenderCdpHook and its vocabulary: identifiers, hashing, data field types, problem details, ambiguity.

Calls go over loopback HTTP to the emulator, whose own validation of identifiers and value formats checks
what the hook produces.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from airflow_provider_events.exceptions import (
    ConfigurationError,
    InvalidRecordError,
    VendorAuthError,
    VendorBadRequestError,
    VendorNotFoundError,
    VendorUnavailableError,
)
from airflow_provider_events.hooks.expertsender_cdp import (
    CONNECTION_PROBE_EMAIL,
    CustomerIdentifier,
    CustomerRef,
    DataField,
    DataFieldType,
    ExpertSenderCdpHook,
    ProblemDetails,
    build_data_fields,
    hash_email,
)
from airflow_provider_events.hooks.retry import RetryPolicy

EMAIL = "  Jane.Doe@Example.COM "
NORMAL = "jane.doe@example.com"


def requests_seen(emulator) -> int:
    return emulator.emulator.fault_counters("expertsender_cdp")["requests"]


# ------------------------------------------------------------------------------------------ vocabulary
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("email", CustomerIdentifier.EMAIL),
        ("EMAIL_SHA256", CustomerIdentifier.EMAIL_SHA256),
        ("customerEmailMd5", CustomerIdentifier.EMAIL_MD5),
        ("customerCrmId", CustomerIdentifier.CRM_ID),
        (" phone ", CustomerIdentifier.PHONE),
        (CustomerIdentifier.ID, CustomerIdentifier.ID),
    ],
)
def test_identifier_kinds_parse_from_any_spelling(name, kind):
    assert CustomerIdentifier.parse(name) is kind


def test_unknown_identifier_kind_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="unknown customer identifier 'visitor'"):
        CustomerIdentifier.parse("visitor")


def test_email_hashes_are_of_the_trimmed_lower_cased_address():
    assert hash_email(EMAIL, CustomerIdentifier.EMAIL_MD5) == hashlib.md5(NORMAL.encode()).hexdigest()
    assert hash_email(EMAIL, CustomerIdentifier.EMAIL_SHA256) == hashlib.sha256(NORMAL.encode()).hexdigest()
    ref = CustomerRef.of("email_sha256", EMAIL, hash_emails=True)
    assert ref.to_wire() == {"customerEmailSha256": hashlib.sha256(NORMAL.encode()).hexdigest()}
    with pytest.raises(ConfigurationError, match="hash_emails needs"):
        CustomerRef.of("email", EMAIL, hash_emails=True)


def test_existing_hashes_are_checked_and_lower_cased():
    digest = hashlib.md5(NORMAL.encode()).hexdigest()
    assert CustomerRef.of("email_md5", digest.upper()).value == digest
    with pytest.raises(InvalidRecordError, match="32-character hex digest; set hash_emails") as err:
        CustomerRef.of("email_md5", NORMAL)
    assert NORMAL not in str(err.value)
    with pytest.raises(InvalidRecordError, match="64-character"):
        CustomerRef.of("email_sha256", digest)


@pytest.mark.parametrize(
    ("kind", "limit"),
    [("email", 320), ("phone", 20), ("crm_id", 128)],
)
def test_length_limits_are_enforced_before_sending(kind, limit):
    def value(n: int) -> str:
        return ("a" * (n - 6) + "@ex.io") if kind == "email" else "7" * n

    assert len(str(CustomerRef.of(kind, value(limit)).value)) == limit
    with pytest.raises(InvalidRecordError, match=f"more than the limit of {limit}") as err:
        CustomerRef.of(kind, value(limit + 1))
    assert err.value.field == CustomerIdentifier.parse(kind).wire_field


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        ("email", "not-an-address", "not an e-mail"),
        ("email", "a b@c.d", "not an e-mail"),
        ("email", "", "empty"),
        ("phone", "+420 777 123 456", "spaces"),
        ("crm_id", None, "empty"),
        ("crm_id", 3.5, "expected a string"),
        ("id", -1, "negative"),
        ("id", True, "expected a string"),
    ],
)
def test_malformed_identifiers_are_rejected(kind, value, reason):
    with pytest.raises(InvalidRecordError, match=reason):
        CustomerRef.of(kind, value)


def test_customer_mapping_needs_exactly_one_identifier():
    assert CustomerRef.from_mapping({"crm_id": "C-1", "email": None}).to_wire() == {"customerCrmId": "C-1"}
    assert CustomerRef.from_mapping({"customerId": 42}).to_wire() == {"customerId": 42}
    with pytest.raises(ConfigurationError, match="exactly one identifier, got 2"):
        CustomerRef.from_mapping({"crm_id": "C-1", "email": NORMAL})
    with pytest.raises(ConfigurationError, match="got 0"):
        CustomerRef.from_mapping({})


CEST = timezone(timedelta(hours=2))
RENDERED = [
    (DataFieldType.STRING, "plain", "plain"),
    (DataFieldType.STRING, 12, "12"),
    (DataFieldType.TEXT, "long\ntext", "long\ntext"),
    (DataFieldType.NUMBER, 42, "42"),
    (DataFieldType.NUMBER, -3.25, "-3.25"),
    (DataFieldType.NUMBER, 1e20, "100000000000000000000"),
    (DataFieldType.NUMBER, Decimal("1.50"), "1.50"),
    (DataFieldType.NUMBER, " 7.0 ", "7.0"),
    (DataFieldType.NUMBER, "1e3", "1000"),
    (DataFieldType.NUMBER, -0.0, "0.0"),
    (DataFieldType.MONEY, 5, "5.00"),
    (DataFieldType.MONEY, 19.9, "19.90"),
    (DataFieldType.MONEY, Decimal("0.125"), "0.125"),
    (DataFieldType.MONEY, "12", "12.00"),
    (DataFieldType.DATE, date(2024, 2, 29), "2024-02-29"),
    (DataFieldType.DATE, datetime(2024, 5, 1, 23, 30), "2024-05-01"),
    (DataFieldType.DATE, "2024-05-01", "2024-05-01"),
    (DataFieldType.DATE, "2024-05-01T10:00:00Z", "2024-05-01"),
    (DataFieldType.DATETIME, datetime(2024, 5, 1, 10, 0, tzinfo=CEST), "2024-05-01T08:00:00Z"),
    (DataFieldType.DATETIME, datetime(2024, 5, 1, 10, 0, 0, 250000), "2024-05-01T10:00:00.250000Z"),
    (DataFieldType.DATETIME, date(2024, 5, 1), "2024-05-01T00:00:00Z"),
    (DataFieldType.DATETIME, "2024-05-01T10:00:00+02:00", "2024-05-01T08:00:00Z"),
    (DataFieldType.DATETIME, "2024-05-01 10:00:00", "2024-05-01T10:00:00Z"),
    (DataFieldType.BOOLEAN, True, "true"),
    (DataFieldType.BOOLEAN, 0, "false"),
    (DataFieldType.BOOLEAN, "Yes", "true"),
    (DataFieldType.BOOLEAN, "false", "false"),
    (DataFieldType.URL, " https://shop.example.com/p/1?x=2 ", "https://shop.example.com/p/1?x=2"),
]


@pytest.mark.parametrize(("kind", "value", "expected"), RENDERED)
def test_each_type_has_one_stable_string_format(kind, value, expected):
    assert kind.render(value) == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (DataFieldType.NUMBER, "12,5"),
        (DataFieldType.NUMBER, float("nan")),
        (DataFieldType.NUMBER, True),
        (DataFieldType.MONEY, "ten"),
        (DataFieldType.DATE, "01/05/2024"),
        (DataFieldType.DATE, 20240501),
        (DataFieldType.DATETIME, "yesterday"),
        (DataFieldType.DATETIME, 1714550400),
        (DataFieldType.BOOLEAN, "maybe"),
        (DataFieldType.BOOLEAN, 2),
        (DataFieldType.URL, "shop.example.com"),
        (DataFieldType.URL, "javascript:alert(1)"),
    ],
)
def test_values_that_do_not_fit_their_type_are_rejected(kind, value):
    with pytest.raises(InvalidRecordError) as err:
        DataField.of("f", value, kind)
    assert err.value.field == "dataFields.f"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, DataFieldType.BOOLEAN),
        (3, DataFieldType.NUMBER),
        (2.5, DataFieldType.NUMBER),
        (Decimal("2.5"), DataFieldType.NUMBER),
        (datetime(2024, 1, 1, 12), DataFieldType.DATETIME),
        (date(2024, 1, 1), DataFieldType.DATE),
        ("x", DataFieldType.STRING),
    ],
)
def test_types_are_inferred_from_python_values(value, kind):
    assert DataField.of("f", value).type is kind


def test_unknown_types_and_uninferable_values_are_rejected():
    with pytest.raises(ConfigurationError, match="unknown data field type 'Float'"):
        DataFieldType.parse("Float")
    with pytest.raises(InvalidRecordError, match="unknown data field type"):
        build_data_fields({"f": {"value": 1, "type": "Float"}})
    with pytest.raises(InvalidRecordError, match="cannot infer"):
        build_data_fields({"f": [1, 2]})
    with pytest.raises(InvalidRecordError, match="non-empty name"):
        DataField.of("", 1)


def test_build_data_fields_forms():
    fields = build_data_fields(
        {"amount": 10, "paid": {"value": "1", "type": "boolean"}, "note": None, "day": "2024-01-02"},
        types={"day": "Date", "amount": DataFieldType.MONEY},
    )
    assert fields == [
        {"name": "amount", "type": "Money", "value": "10.00"},
        {"name": "paid", "type": "Boolean", "value": "true"},
        {"name": "day", "type": "Date", "value": "2024-01-02"},
    ]
    assert build_data_fields([DataField("u", DataFieldType.URL, "https://x.io")]) == [
        {"name": "u", "type": "URL", "value": "https://x.io"}
    ]


# ------------------------------------------------------------------------------------------ over HTTP
CUSTOMERS = [
    ({"id": 901}, "customerId", 901),
    ({"id": "901"}, "customerId", "901"),
    ({"email": NORMAL}, "customerEmail", NORMAL),
    ({"email_md5": hashlib.md5(NORMAL.encode()).hexdigest()}, "customerEmailMd5", None),
    ({"email_sha256": hashlib.sha256(NORMAL.encode()).hexdigest()}, "customerEmailSha256", None),
    ({"phone": "+420777123456"}, "customerPhone", "+420777123456"),
    ({"crm_id": "CRM-77"}, "customerCrmId", "CRM-77"),
]


@pytest.mark.parametrize(("customer", "field", "expected"), CUSTOMERS)
def test_add_customer_to_scenario_for_each_identifier_kind(hook, ecdp, customer, field, expected):
    hook.add_customer_to_scenario(1, customer=customer, data_fields={"order": "A-1"})
    (event,) = ecdp.events()
    assert event["identifiers"] == {
        field: expected if expected is not None else next(iter(customer.values()))
    }
    assert event["customEventId"] == 1
    assert event["dataFields"] == [{"name": "order", "type": "String", "value": "A-1"}]


@pytest.mark.parametrize("kind", [CustomerIdentifier.EMAIL_MD5, CustomerIdentifier.EMAIL_SHA256])
def test_hash_emails_keeps_raw_addresses_in_the_warehouse(hook, ecdp, emulator, kind, caplog):
    caplog.set_level(logging.DEBUG)
    hook.add_customer_to_scenario("2", customer=CustomerRef.of(kind, EMAIL, hash_emails=True))
    hook.add_customer_to_scenario(2, customer={kind.value: EMAIL}, hash_emails=True)
    events = ecdp.events()
    assert [e["identifiers"] for e in events] == [{kind.wire_field: hash_email(NORMAL, kind)}] * 2
    state = json.dumps(emulator.emulator.vendor("expertsender_cdp").snapshot()).lower()
    assert NORMAL not in state
    assert NORMAL not in caplog.text.lower()


def test_each_data_field_type_is_accepted_by_the_vendor(hook, ecdp):
    values = {f"f{i}": {"value": value, "type": kind} for i, (kind, value, _) in enumerate(RENDERED)}
    hook.add_customer_to_scenario(3, customer={"crm_id": "C-1"}, data_fields=values)
    (event,) = ecdp.events()
    assert event["dataFields"] == [
        {"name": f"f{i}", "type": kind.value, "value": expected}
        for i, (kind, _, expected) in enumerate(RENDERED)
    ]


def test_inferred_types_are_accepted_by_the_vendor(hook, ecdp):
    data = {
        "paid": True,
        "items": 3,
        "total": Decimal("99.90"),
        "at": datetime(2024, 6, 1, 8, 30, tzinfo=timezone.utc),
        "on": date(2024, 6, 1),
        "note": "thanks",
    }
    hook.add_customer_to_scenario(3, customer={"id": 1}, data_fields=data)
    assert ecdp.events()[0]["dataFields"] == [
        {"name": "paid", "type": "Boolean", "value": "true"},
        {"name": "items", "type": "Number", "value": "3"},
        {"name": "total", "type": "Number", "value": "99.90"},
        {"name": "at", "type": "DateTime", "value": "2024-06-01T08:30:00Z"},
        {"name": "on", "type": "Date", "value": "2024-06-01"},
        {"name": "note", "type": "String", "value": "thanks"},
    ]


def test_invalid_records_send_nothing(hook, ecdp, emulator):
    with pytest.raises(InvalidRecordError, match="limit of 20"):
        hook.add_customer_to_scenario(1, customer={"phone": "1" * 21})
    with pytest.raises(InvalidRecordError, match=r"dataFields\.when"):
        hook.add_customer_to_scenario(
            1, customer={"phone": "1"}, data_fields={"when": {"value": "x", "type": "Date"}}
        )
    with pytest.raises(ConfigurationError, match="32-bit integer"):
        hook.add_customer_to_scenario(2**31, customer={"phone": "1"})
    with pytest.raises(ConfigurationError, match="32-bit integer"):
        hook.add_customer_to_scenario("abc", customer={"phone": "1"})
    assert requests_seen(emulator) == 0
    assert ecdp.events() == []


def test_unknown_custom_event_raises_not_found_with_problem_details(hook):
    with pytest.raises(VendorNotFoundError) as err:
        hook.add_customer_to_scenario(999, customer={"email": NORMAL})
    problem = ProblemDetails.from_error(err.value)
    assert problem is not None
    assert problem.status == 404
    assert problem.substatus == "CustomEventNotFound"
    assert problem.title == "Not Found"
    assert problem.instance == "/scenariocustomevents"
    assert problem.errors == ()
    assert not problem.is_customer_not_found
    assert "Not Found (CustomEventNotFound): Custom event with id 999 was not found." in str(err.value)
    assert NORMAL not in str(err.value)


def test_bad_request_problem_details_carry_the_errors(hook):
    body = {
        "customEventId": 1,
        "customerPhone": "1" * 25,
        "dataFields": [{"name": "n", "type": "Number", "value": "1,5"}],
    }
    with pytest.raises(VendorBadRequestError) as err:
        hook.send_customer_event(body)  # bypasses the hook's own checks, to see the vendor's 400
    problem = ProblemDetails.from_error(err.value)
    assert problem is not None
    assert problem.substatus == "CustomerInvalidModelState"
    assert len(problem.errors) == 2
    assert any("customerPhone" in e for e in problem.errors)
    assert "errors: " in err.value.message
    assert all(e in err.value.message for e in problem.errors)


def test_problem_details_parsing_of_other_shapes():
    aspnet = {"title": "Bad", "status": 400, "errors": {"customEventId": ["required", "int"]}}
    problem = ProblemDetails.from_body(aspnet)
    assert problem is not None
    assert problem.errors == ("customEventId: required", "customEventId: int")
    assert ProblemDetails.from_body("<html>") is None
    assert ProblemDetails.from_body({"unrelated": 1}) is None
    customer = ProblemDetails.from_body({"status": 404, "substatus": "CustomerNotFound", "detail": "x"})
    assert customer is not None
    assert customer.is_customer_not_found
    segment = ProblemDetails.from_body({"status": 404, "substatus": "SegmentNotFound"})
    assert segment is not None
    assert not segment.is_customer_not_found
    many = ProblemDetails(title="T", errors=tuple(str(i) for i in range(15)))
    assert many.summary().endswith("; ... 5 more")


def test_wrong_key_is_an_auth_error_and_never_shown(emulator, monkeypatch):
    secret = "sk-wrong-4f5e6d7c8b9a"
    conn = {
        "conn_type": "expertsender_cdp",
        "host": emulator.base_url("expertsender_cdp"),
        "password": secret,
    }
    monkeypatch.setenv("AIRFLOW_CONN_ECDP_WRONG", json.dumps(conn))
    hook = ExpertSenderCdpHook("ecdp_wrong", retry_policy=RetryPolicy(max_attempts=1))
    with pytest.raises(VendorAuthError) as err:
        hook.add_customer_to_scenario(1, customer={"email": NORMAL})
    assert err.value.status_code == 401
    assert "Unauthorized (Unauthorized)" in str(err.value)
    assert secret not in str(err.value)
    ok, message = hook.test_connection()
    assert not ok
    assert "401" in message
    assert secret not in message


def test_test_connection_accepts_200_and_404(hook, ecdp, emulator):
    ok, message = hook.test_connection()
    assert ok, message
    assert "404" in message
    ecdp.seed({"customers": [{"id": 1, "email": CONNECTION_PROBE_EMAIL}]})
    ok, message = hook.test_connection()
    assert ok, message
    assert "200" in message
    assert requests_seen(emulator) == 2
    assert ecdp.events() == []


def test_segments_trigger(hook, ecdp):
    hook.add_segments_to_scenario("3", ["1", 5, 15], data_fields={"campaign": "spring", "discount": 0.15})
    (event,) = ecdp.segment_events()
    assert event["customEventId"] == 3
    assert event["segments"] == [1, 5, 15]
    assert event["customers"] == 167
    assert event["dataFields"] == [
        {"name": "campaign", "type": "String", "value": "spring"},
        {"name": "discount", "type": "Number", "value": "0.15"},
    ]
    hook.add_segments_to_scenario(1, 5)
    assert ecdp.segment_events()[1]["segments"] == [5]


def test_segments_are_validated_and_unknown_ones_refused(hook, ecdp, emulator):
    with pytest.raises(ConfigurationError, match="segment id must be a 32-bit integer"):
        hook.add_segments_to_scenario(1, [1, "five"])
    with pytest.raises(ConfigurationError, match="at least one segment"):
        hook.add_segments_to_scenario(1, [])
    assert requests_seen(emulator) == 0
    with pytest.raises(VendorNotFoundError) as err:
        hook.add_segments_to_scenario(1, [1, 2])
    problem = ProblemDetails.from_error(err.value)
    assert problem is not None
    assert problem.substatus == "SegmentNotFound"
    assert ecdp.segment_events() == []


def test_accepted_then_dropped_is_ambiguous_and_not_resent(hook, ecdp, emulator):
    emulator.emulator.set_faults("expertsender_cdp", drop_after_accept=1)
    with pytest.raises(VendorUnavailableError) as err:
        hook.add_customer_to_scenario(1, customer={"crm_id": "C-9"})
    assert err.value.ambiguous
    assert len(ecdp.events()) == 1  # the vendor has it: a resend would fire the scenario twice
    assert requests_seen(emulator) == 1
    assert hook.stats["retries"] == 0


def test_slow_answer_beyond_the_timeout_is_ambiguous_and_not_resent(ecdp, emulator):
    emulator.emulator.set_faults("expertsender_cdp", slow_rate=1.0, slow_seconds=1.0)
    hook = ExpertSenderCdpHook(
        retry_policy=RetryPolicy(max_attempts=3, backoff_initial=0.01), timeout=(2.0, 0.3)
    )
    with pytest.raises(VendorUnavailableError) as err:
        hook.add_segments_to_scenario(1, [1])
    assert err.value.ambiguous
    assert len(ecdp.segment_events()) == 1
    assert emulator.emulator.fault_counters("expertsender_cdp")["slow"] == 1
