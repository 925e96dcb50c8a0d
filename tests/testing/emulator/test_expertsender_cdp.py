"""The ExpertSender CDP emulator over real HTTP: each documented success and error case, seeding, state."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

from airflow_provider_events.testing.emulator.expertsender_cdp import DEFAULT_API_KEY as KEY

EVENTS = "/scenariocustomevents"
SEGMENTS = "/scenariocustomevents/withsegments"
PROBLEM_KEYS = {"type", "title", "status", "substatus", "detail", "instance"}


def post(base_url: str, path: str, body: Any, key: str | None = KEY) -> requests.Response:
    headers = {"x-api-key": key} if key is not None else {}
    return requests.post(base_url + path, json=body, headers=headers, timeout=10)


def assert_problem(
    response: requests.Response, status: int, substatus: str, *, errors: bool
) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == PROBLEM_KEYS | ({"errors"} if errors else set())
    assert body["status"] == status
    assert body["substatus"] == substatus
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return dict(body)


IDENTIFIERS = [
    ("customerId", 123456),
    ("customerId", "123456"),
    ("customerEmail", "jane@example.com"),
    ("customerEmailMd5", hashlib.md5(b"jane@example.com").hexdigest()),
    ("customerEmailSha256", hashlib.sha256(b"jane@example.com").hexdigest()),
    ("customerPhone", "+420777123456"),
    ("customerCrmId", "CRM-0001"),
]


@pytest.mark.parametrize(("field", "value"), IDENTIFIERS)
def test_each_identifier_kind_is_accepted_with_201_and_recorded(base_url, ecdp, field, value):
    body = {
        "customEventId": 1,
        field: value,
        "dataFields": [{"name": "sku", "type": "String", "value": "A1"}],
    }
    response = post(base_url, EVENTS, body)
    assert response.status_code == 201
    assert response.content == b""
    (event,) = ecdp.events()
    assert event["customEventId"] == 1
    assert event["identifier_kind"] == field
    assert event["identifier_value"] == value
    assert event["dataFields"] == [{"name": "sku", "type": "String", "value": "A1"}]
    assert event["business_unit"] == "default"


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("customerEmail", 320),
        ("customerEmailMd5", 32),
        ("customerEmailSha256", 64),
        ("customerPhone", 20),
        ("customerCrmId", 128),
    ],
)
def test_identifier_length_limits(base_url, ecdp, field, limit):
    at_limit = ("a" * (limit - len("@x.io")) + "@x.io") if field == "customerEmail" else "1" * limit
    assert post(base_url, EVENTS, {"customEventId": 1, field: at_limit}).status_code == 201
    body = assert_problem(
        post(base_url, EVENTS, {"customEventId": 1, field: at_limit + "1"}),
        400,
        "CustomerInvalidModelState",
        errors=True,
    )
    assert any(field in e and str(limit) in e for e in body["errors"])
    assert len(ecdp.events()) == 1
    assert ecdp.snapshot()["rejected"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"customEventId": 1},
        {"customEventId": 1, "customerEmail": "", "customerPhone": None},
        {"customEventId": 1, "dataFields": []},
    ],
)
def test_at_least_one_identifier_is_required(base_url, ecdp, body):
    problem = assert_problem(post(base_url, EVENTS, body), 400, "CustomerInvalidModelState", errors=True)
    assert any("At least one customer identifier" in e for e in problem["errors"])
    assert ecdp.events() == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"customerEmail": "a@b.cz"}, "customEventId field is required"),
        ({"customEventId": "1", "customerEmail": "a@b.cz"}, "32-bit integer"),
        ({"customEventId": 1.5, "customerEmail": "a@b.cz"}, "32-bit integer"),
        ({"customEventId": True, "customerEmail": "a@b.cz"}, "32-bit integer"),
        ({"customEventId": 2**31, "customerEmail": "a@b.cz"}, "32-bit integer"),
        ({"customEventId": 1, "customerEmail": 5}, "customerEmail field must be a string"),
        ({"customEventId": 1, "customerId": 1.5}, "customerId field must be a string"),
        ({"customEventId": 1, "customerEmail": "a@b.cz", "extra": 1}, "Unknown properties: extra"),
        ({"customEventId": 1, "customerEmail": "a@b.cz", "dataFields": {"a": 1}}, "must be an array"),
        ({"customEventId": 1, "customerEmail": "a@b.cz", "dataFields": ["a"]}, "must be an object"),
        (
            {"customEventId": 1, "customerEmail": "a@b.cz", "dataFields": [{"type": "String", "value": "x"}]},
            "name field is required",
        ),
        (
            {"customEventId": 1, "customerEmail": "a@b.cz", "dataFields": [{"name": "a", "type": "Float"}]},
            "type field must be one of",
        ),
        (
            {"customEventId": 1, "customerEmail": "a@b.cz", "dataFields": [{"name": "a", "value": 3}]},
            "value field must be a string",
        ),
        (
            {"customEventId": 1, "customerEmail": "a@b.cz", "dataFields": [{"name": "a", "x": "1"}]},
            "unknown properties: x",
        ),
    ],
)
def test_invalid_models_are_400_with_errors(base_url, ecdp, body, needle):
    problem = assert_problem(post(base_url, EVENTS, body), 400, "CustomerInvalidModelState", errors=True)
    assert problem["instance"] == EVENTS
    assert any(needle in e for e in problem["errors"]), problem["errors"]
    assert ecdp.events() == []


def test_every_error_of_a_body_is_listed(base_url):
    body = {"customEventId": "x", "customerPhone": "1" * 21, "dataFields": [{"name": "n", "type": "Number"}]}
    problem = post(base_url, EVENTS, body).json()
    assert len(problem["errors"]) == 2  # customEventId and customerPhone; a null value is allowed


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]"])
def test_malformed_bodies_are_400(base_url, raw):
    response = requests.post(
        base_url + EVENTS,
        data=raw,
        headers={"x-api-key": KEY, "content-type": "application/json"},
        timeout=10,
    )
    assert_problem(response, 400, "CustomerInvalidModelState", errors=True)


VALID_VALUES = [
    ("String", "any text at all"),
    ("Text", "a much longer text\nwith lines"),
    ("Number", "-12.50"),
    ("Number", "42"),
    ("Money", "19.90"),
    ("Date", "2024-02-29"),
    ("DateTime", "2024-05-01T10:00:00Z"),
    ("DateTime", "2024-05-01T10:00:00.123456+02:00"),
    ("Boolean", "true"),
    ("Boolean", "False"),
    ("URL", "https://shop.example.com/p/1?x=2"),
]
INVALID_VALUES = [
    ("Number", "12,5"),
    ("Number", "1e5"),
    ("Money", "19.90 EUR"),
    ("Date", "2023-02-29"),
    ("Date", "01/05/2024"),
    ("Date", "2024-05-01T10:00:00Z"),
    ("DateTime", "2024-05-01"),
    ("DateTime", "yesterday"),
    ("Boolean", "yes"),
    ("URL", "shop.example.com/p/1"),
    ("URL", "ftp://example.com/file"),
]


@pytest.mark.parametrize(("type_name", "value"), VALID_VALUES)
def test_each_data_field_type_accepts_its_format(base_url, ecdp, type_name, value):
    field = {"name": "f", "type": type_name, "value": value}
    assert (
        post(base_url, EVENTS, {"customEventId": 2, "customerCrmId": "C1", "dataFields": [field]}).status_code
        == 201
    )
    assert ecdp.events()[0]["dataFields"] == [field]


@pytest.mark.parametrize(("type_name", "value"), INVALID_VALUES)
def test_each_data_field_type_refuses_other_formats(base_url, ecdp, type_name, value):
    field = {"name": "f", "type": type_name, "value": value}
    response = post(base_url, EVENTS, {"customEventId": 2, "customerCrmId": "C1", "dataFields": [field]})
    problem = assert_problem(response, 400, "CustomerInvalidModelState", errors=True)
    assert any(f"'{type_name}' values" in e for e in problem["errors"])
    assert ecdp.events() == []


def test_unknown_custom_event_is_404_without_errors(base_url, ecdp):
    problem = assert_problem(
        post(base_url, EVENTS, {"customEventId": 999, "customerEmail": "a@b.cz"}),
        404,
        "CustomEventNotFound",
        errors=False,
    )
    assert "999" in problem["detail"]
    assert ecdp.events() == []


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_missing_or_wrong_api_key_is_401_without_errors(base_url, ecdp, key):
    for path, body in ((EVENTS, {"customEventId": 1, "customerEmail": "a@b.cz"}), (SEGMENTS, {})):
        assert_problem(post(base_url, path, body, key=key), 401, "Unauthorized", errors=False)
    response = requests.get(
        base_url + "/customers/email/a@b.cz", headers={"x-api-key": key or ""}, timeout=10
    )
    assert_problem(response, 401, "Unauthorized", errors=False)
    assert ecdp.events() == []


def test_keys_are_per_business_unit_and_seedable(base_url, ecdp):
    ecdp.seed({"api_keys": {"unit-b-key": "unit B"}})
    assert (
        post(base_url, EVENTS, {"customEventId": 1, "customerEmail": "a@b.cz"}, key="unit-b-key").status_code
        == 201
    )
    assert post(base_url, EVENTS, {"customEventId": 1, "customerEmail": "a@b.cz"}).status_code == 201
    assert [e["business_unit"] for e in ecdp.events()] == ["unit B", "default"]
    ecdp.seed({"replace": True, "api_keys": ["only-key"], "custom_events": [7]})
    assert post(base_url, EVENTS, {"customEventId": 1, "customerEmail": "a@b.cz"}).status_code == 401
    assert (
        post(base_url, EVENTS, {"customEventId": 1, "customerEmail": "a@b.cz"}, key="only-key").status_code
        == 404
    )
    assert (
        post(base_url, EVENTS, {"customEventId": 7, "customerEmail": "a@b.cz"}, key="only-key").status_code
        == 201
    )
    conn = ecdp.connection(base_url)
    assert conn == {"conn_type": "expertsender_cdp", "host": base_url, "password": "only-key"}


def test_unknown_customer_option_404(base_url, ecdp):
    email = "Known@Example.com"
    ecdp.seed(
        {
            "options": {"unknown_customer": "404"},
            "customers": [{"id": 77, "email": email, "phone": "+420600100200", "crmId": "K-1"}],
        }
    )
    normal = email.lower().encode()
    known = {
        "customerId": 77,
        "customerEmail": "known@example.com",
        "customerEmailMd5": hashlib.md5(normal).hexdigest(),
        "customerEmailSha256": hashlib.sha256(normal).hexdigest(),
        "customerPhone": "+420600100200",
        "customerCrmId": "K-1",
    }
    for field, value in known.items():
        assert post(base_url, EVENTS, {"customEventId": 1, field: value}).status_code == 201, field
        problem = assert_problem(
            post(base_url, EVENTS, {"customEventId": 1, field: "0" if field == "customerId" else "nobody"}),
            404,
            "CustomerNotFound",
            errors=False,
        )
        assert "Customer" in problem["detail"]
    assert len(ecdp.events()) == len(known)
    # unknown custom event is still told apart from unknown customer
    assert (
        post(base_url, EVENTS, {"customEventId": 999, "customerId": 77}).json()["substatus"]
        == "CustomEventNotFound"
    )


def test_segments_trigger(base_url, ecdp):
    body = {
        "customEventId": 3,
        "segments": [1, 5, 15],
        "dataFields": [{"name": "campaign", "type": "String", "value": "spring"}],
    }
    response = post(base_url, SEGMENTS, body)
    assert response.status_code == 201
    assert response.content == b""
    (event,) = ecdp.segment_events()
    assert event["segments"] == [1, 5, 15]
    assert event["customers"] == 120 + 40 + 7
    assert event["dataFields"] == body["dataFields"]
    assert ecdp.events() == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"customEventId": 1}, "segments field is required"),
        ({"customEventId": 1, "segments": []}, "non-empty array"),
        ({"customEventId": 1, "segments": 5}, "non-empty array"),
        ({"customEventId": 1, "segments": ["5"]}, "32-bit integers"),
        ({"customEventId": 1, "segments": [5.0]}, "32-bit integers"),
        ({"segments": [5]}, "customEventId field is required"),
        (
            {
                "customEventId": 1,
                "segments": [5],
                "dataFields": [{"name": "d", "type": "Date", "value": "x"}],
            },
            "'Date'",
        ),
    ],
)
def test_segments_invalid_models(base_url, ecdp, body, needle):
    problem = assert_problem(post(base_url, SEGMENTS, body), 400, "CustomerInvalidModelState", errors=True)
    assert problem["instance"] == SEGMENTS
    assert any(needle in e for e in problem["errors"]), problem["errors"]
    assert ecdp.segment_events() == []


def test_segments_not_found(base_url, ecdp):
    problem = assert_problem(
        post(base_url, SEGMENTS, {"customEventId": 1, "segments": [1, 404]}),
        404,
        "SegmentNotFound",
        errors=False,
    )
    assert "404" in problem["detail"]
    assert_problem(
        post(base_url, SEGMENTS, {"customEventId": 55, "segments": [1]}),
        404,
        "CustomEventNotFound",
        errors=False,
    )
    ecdp.seed({"segments": {"404": 3}})
    assert post(base_url, SEGMENTS, {"customEventId": 1, "segments": [1, 404]}).status_code == 201
    assert ecdp.segment_events()[0]["customers"] == 123


def test_customer_lookup_by_email(base_url, ecdp):
    ecdp.seed({"customers": [{"id": 5, "email": "ann@example.com", "firstName": "Ann"}]})
    response = requests.get(
        base_url + "/customers/email/ANN%40example.com", headers={"x-api-key": KEY}, timeout=10
    )
    assert response.status_code == 200
    assert response.json() == {"id": 5, "email": "ann@example.com", "firstName": "Ann"}
    response = requests.get(
        base_url + "/customers/email/bob%40example.com", headers={"x-api-key": KEY}, timeout=10
    )
    assert_problem(response, 404, "CustomerNotFound", errors=False)


def test_admin_routes_seed_and_inspect(emulator, base_url, ecdp):
    admin = emulator.url + "/_admin/expertsender_cdp"
    assert (
        requests.post(admin + "/seed", json={"custom_events": {"31": "Birthday"}}, timeout=10).status_code
        == 200
    )
    assert post(base_url, EVENTS, {"customEventId": 31, "customerCrmId": "X"}).status_code == 201
    state = requests.get(admin + "/state", timeout=10).json()
    assert state["custom_events"]["31"] == "Birthday"
    assert [(r["customEventId"], r["identifier_value"]) for r in state["received"]] == [(31, "X")]
    assert KEY not in str(state)  # keys are not exposed, only business unit names
    with pytest.raises(ValueError, match="unknown_customer"):
        ecdp.seed({"options": {"unknown_customer": "maybe"}})


def test_accept_then_drop_records_the_event_but_gives_no_answer(emulator, base_url, ecdp):
    emulator.emulator.set_faults("expertsender_cdp", drop_after_accept=1)
    with pytest.raises(requests.ConnectionError):
        post(base_url, EVENTS, {"customEventId": 1, "customerEmail": "a@b.cz"})
    assert len(ecdp.events()) == 1
    assert emulator.emulator.fault_counters("expertsender_cdp")["dropped_after_accept"] == 1
