"""The CareCloud emulator over real HTTP: every documented success and error case of its routes."""

from __future__ import annotations

import base64
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from airflow_provider_events.testing.emulator.carecloud import (
    CUSTOMER_IDS,
    DEFAULT_APP_ID,
    DEFAULT_LOGIN,
    DEFAULT_PASSWORD,
    DUPLICATE_MESSAGE,
    NEWSLETTER_TYPE_ID,
    PURCHASE_TYPE_ID,
    basic_hash,
)

BLUE = {"id": "86e05affc7a7abefcd513ab400", "name": "Blue", "resource_record_id": None, "state": 1}
GREEN = {"id": "81eaeea13b8984a169c490a325", "name": "Green", "resource_record_id": None, "state": 1}


def login(base_url: str, **overrides: Any) -> requests.Response:
    body = {
        "user_external_application_id": DEFAULT_APP_ID,
        "login": DEFAULT_LOGIN,
        "password": DEFAULT_PASSWORD,
    }
    body.update(overrides)
    return requests.post(f"{base_url}/users/actions/login", json=body, timeout=10)


@pytest.fixture
def api(base_url: str) -> requests.Session:
    """A session carrying a fresh bearer token."""
    token = login(base_url).json()["data"]["bearer_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def post_event(
    api: requests.Session, base_url: str, event: dict[str, Any], records: Any = None
) -> requests.Response:
    body: dict[str, Any] = {"event": event}
    if records is not None:
        body["property_records"] = records
    return api.post(f"{base_url}/events", json=body, timeout=10)


def purchase(external_id: str = "e1", **more: Any) -> dict[str, Any]:
    return {
        "event_type_id": PURCHASE_TYPE_ID,
        "customer_id": CUSTOMER_IDS[0],
        "external_id": external_id,
        **more,
    }


def params_of(response: requests.Response) -> list[tuple[str, str]]:
    error = response.json()["error"]
    assert set(error) >= {"type", "exception", "title", "detail", "error_data"}
    return [(p["name"], p["reason"]) for p in error["error_data"]["invalid_params"]]


# ---------------------------------------------------------------------- login and auth
def test_login_returns_token_valid_to_in_project_time_and_user(cc: Any, base_url: str) -> None:
    response = login(base_url)
    assert response.status_code == 200
    data = response.json()["data"]
    assert re.fullmatch(r"[0-9a-f]{40}", data["bearer_token"])
    valid_to = datetime.strptime(data["valid_to"], "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=ZoneInfo("Europe/Prague")
    )
    assert abs(valid_to.timestamp() - (time.time() + 7 * 3600)) < 5
    assert data["user"]["login"] == DEFAULT_LOGIN
    assert "password" not in data["user"]
    assert cc.login_count == 1


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"password": "wrong"}, 403),
        ({"login": "nobody"}, 403),
        ({"user_external_application_id": "unknown-app"}, 404),
        ({"password": ""}, 400),
    ],
)
def test_login_failures(cc: Any, base_url: str, overrides: dict[str, str], status: int) -> None:
    response = login(base_url, **overrides)
    assert response.status_code == status
    assert "exception" in response.json()["error"]
    assert cc.login_count == 0


def test_login_missing_fields_lists_each(base_url: str) -> None:
    response = requests.post(f"{base_url}/users/actions/login", json={}, timeout=10)
    assert response.status_code == 400
    assert sorted(name for name, _ in params_of(response)) == [
        "login",
        "password",
        "user_external_application_id",
    ]


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic !!!", "Token abc"])
def test_routes_need_valid_credentials(base_url: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.get(f"{base_url}/events", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["exception"] == "unauthorized_exception"


def test_token_expires_after_configured_lifetime(cc: Any, base_url: str) -> None:
    cc.seed({"token_lifetime_seconds": 1})
    token = login(base_url).json()["data"]["bearer_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{base_url}/event-types", headers=headers, timeout=10).status_code == 200
    time.sleep(1.1)
    assert requests.get(f"{base_url}/event-types", headers=headers, timeout=10).status_code == 401


def test_expire_tokens_helper_revokes(cc: Any, api: requests.Session, base_url: str) -> None:
    assert cc.expire_tokens() == 1
    assert api.get(f"{base_url}/event-types", timeout=10).status_code == 401


def _basic(password: str, hour: datetime, user: str = DEFAULT_LOGIN) -> dict[str, str]:
    value = base64.b64encode(f"{user}:{basic_hash(password, hour)}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def test_legacy_basic_scheme_current_and_previous_hour(cc: Any, base_url: str) -> None:
    now = datetime.now(timezone.utc)
    for hour in (now, now - timedelta(hours=1)):
        response = requests.get(f"{base_url}/event-types", headers=_basic(DEFAULT_PASSWORD, hour), timeout=10)
        assert response.status_code == 200
    for headers in (
        _basic(DEFAULT_PASSWORD, now - timedelta(hours=2)),
        _basic("wrong", now),
        _basic(DEFAULT_PASSWORD, now, user="nobody"),
    ):
        assert requests.get(f"{base_url}/event-types", headers=headers, timeout=10).status_code == 401
    assert cc.snapshot()["auth"]["basic"] == 2


def test_legacy_basic_can_be_disabled(cc: Any, base_url: str) -> None:
    cc.seed({"basic_auth": False})
    headers = _basic(DEFAULT_PASSWORD, datetime.now(timezone.utc))
    assert requests.get(f"{base_url}/event-types", headers=headers, timeout=10).status_code == 401


# ---------------------------------------------------------------------- POST /events
def test_create_event_201_and_stored(cc: Any, api: requests.Session, base_url: str) -> None:
    response = post_event(
        api,
        base_url,
        purchase(data='{"a":1}', created_at="2026-03-01T10:11:12", secondary_external_id="s1"),
        [{"property_id": "has_purchase", "property_value": "true"}],
    )
    assert response.status_code == 201
    event_id = response.json()["data"]["event_id"]
    assert re.fullmatch(r"[0-9a-f]{26}", event_id)
    (stored,) = cc.events()
    assert stored["event_id"] == event_id
    assert stored["created_at"] == "2026-03-01 10:11:12"
    assert stored["secondary_external_id"] == "s1"
    assert stored["state"] == 1
    assert stored["property_records"][0]["property_id"] == "has_purchase"
    assert stored["property_records"][0]["property_record_id"] == f"has_purchase:{event_id}"


@pytest.mark.parametrize(
    ("id_type", "value", "customer"),
    [
        ("email", "ben@example.com", CUSTOMER_IDS[1]),
        ("phone", "420777888999", CUSTOMER_IDS[2]),
        (
            "external_id",
            {"customer_source_id": "8795d942b31990e944c2ab1254", "external_id": "A-1"},
            CUSTOMER_IDS[0],
        ),
    ],
)
def test_create_event_by_customer_identifier(
    cc: Any, api: requests.Session, base_url: str, id_type: str, value: Any, customer: str
) -> None:
    event = {
        "event_type_id": PURCHASE_TYPE_ID,
        "external_id": "e1",
        "customer_identifier_type": id_type,
        "customer_identifier_value": value,
    }
    assert post_event(api, base_url, event).status_code == 201
    assert cc.events()[0]["customer_id"] == customer


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"event_type_id": PURCHASE_TYPE_ID, "customer_id": CUSTOMER_IDS[0]}, ("external_id", "required")),
        ({"customer_id": CUSTOMER_IDS[0], "external_id": "x"}, ("event_type_id", "required")),
        (
            {"event_type_id": "0" * 26, "customer_id": CUSTOMER_IDS[0], "external_id": "x"},
            ("event_type_id", "not_found"),
        ),
        ({"event_type_id": PURCHASE_TYPE_ID, "external_id": "x"}, ("customer_id", "required")),
        (
            {"event_type_id": PURCHASE_TYPE_ID, "external_id": "x", "customer_id": "f" * 26},
            ("customer_id", "not_found"),
        ),
        (
            {
                "event_type_id": PURCHASE_TYPE_ID,
                "external_id": "x",
                "customer_id": CUSTOMER_IDS[0],
                "customer_identifier_type": "email",
                "customer_identifier_value": "anna@example.com",
            },
            ("customer_id", "not_allowed_value"),
        ),
        (
            {
                "event_type_id": PURCHASE_TYPE_ID,
                "external_id": "x",
                "customer_identifier_type": "fax",
                "customer_identifier_value": "1",
            },
            ("customer_identifier_type", "not_allowed_value"),
        ),
        (
            {
                "event_type_id": PURCHASE_TYPE_ID,
                "external_id": "x",
                "customer_identifier_type": "email",
                "customer_identifier_value": "nobody@example.com",
            },
            ("customer_identifier_value", "not_found"),
        ),
        (
            {
                "event_type_id": PURCHASE_TYPE_ID,
                "external_id": "x",
                "customer_identifier_type": "external_id",
                "customer_identifier_value": "A-1",
            },
            ("customer_identifier_value", "invalid_value_format"),
        ),
        (purchase(created_at="yesterday"), ("created_at", "invalid_value_format")),
        (purchase(data=5), ("data", "invalid_value_format")),
        (purchase(event_id="abc"), ("event_id", "not_allowed_value")),
    ],
)
def test_create_event_400_names_the_parameter(
    cc: Any, api: requests.Session, base_url: str, event: dict[str, Any], expected: tuple[str, str]
) -> None:
    response = post_event(api, base_url, event)
    assert response.status_code == 400
    assert response.json()["error"]["exception"] == "bad_request_exception"
    assert expected in params_of(response)
    assert cc.events() == []


def test_create_event_without_event_object(api: requests.Session, base_url: str) -> None:
    response = api.post(f"{base_url}/events", json={"property_records": []}, timeout=10)
    assert params_of(response) == [("event", "required")]
    response = api.post(f"{base_url}/events", data=b"{not json", timeout=10)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("property_id", "good", "bad"),
    [
        ("note", "VIP", 5),
        ("has_purchase", True, "maybe"),
        ("visit_count", 42, 4.5),
        ("average_spend", 149.9, "cheap"),
        ("birth_date", "1985-06-15", "15.6.1985"),
        ("purchased_at", "2026-01-02 03:04:05", "2026-01-02"),
        ("favourite_color", [BLUE], [BLUE, GREEN]),
        ("interests", [BLUE, GREEN], [{"id": "nope"}]),
    ],
)
def test_property_value_must_fit_data_type(
    cc: Any, api: requests.Session, base_url: str, property_id: str, good: Any, bad: Any
) -> None:
    ok = post_event(api, base_url, purchase("good"), [{"property_id": property_id, "property_value": good}])
    assert ok.status_code == 201
    refused = post_event(
        api, base_url, purchase("bad"), [{"property_id": property_id, "property_value": bad}]
    )
    assert refused.status_code == 400
    assert params_of(refused) == [("property_records[0].property_value", "invalid_value_format")]
    assert property_id in refused.json()["error"]["error_data"]["invalid_params"][0]["message"]
    assert [e["external_id"] for e in cc.events()] == ["good"]


def test_property_must_belong_to_event_type_and_required_ones_given(
    api: requests.Session, base_url: str
) -> None:
    refused = post_event(api, base_url, purchase(), [{"property_id": "source", "property_value": "web"}])
    assert params_of(refused) == [("property_records[0].property_id", "not_found")]
    newsletter = {"event_type_id": NEWSLETTER_TYPE_ID, "customer_id": CUSTOMER_IDS[0], "external_id": "n1"}
    assert params_of(post_event(api, base_url, newsletter)) == [("property_records", "required")]
    ok = post_event(api, base_url, newsletter, [{"property_id": "source", "property_value": "web"}])
    assert ok.status_code == 201


def test_at_most_1000_property_records(api: requests.Session, base_url: str) -> None:
    records = [{"property_id": "note", "property_value": "x"}] * 1001
    assert params_of(post_event(api, base_url, purchase(), records)) == [
        ("property_records", "not_allowed_value")
    ]


def test_duplicate_is_relation_already_exists_like_the_spec_example(
    cc: Any, api: requests.Session, base_url: str
) -> None:
    assert post_event(api, base_url, purchase("dup")).status_code == 201
    by_email = {
        "event_type_id": PURCHASE_TYPE_ID,
        "external_id": "dup",
        "customer_identifier_type": "email",
        "customer_identifier_value": "anna@example.com",
    }
    response = post_event(api, base_url, by_email)  # same customer, found by e-mail
    assert response.status_code == 400
    assert DUPLICATE_MESSAGE == (
        "Relation for this combination of event type, customer ID and external IDs already exists."
    )
    assert response.json()["error"]["error_data"]["invalid_params"] == [
        {
            "name": "event_id_event_type_id_customer_id_external_id_secondary_external_id",
            "reason": "relation_already_exists",
            "value": "",
            "message": DUPLICATE_MESSAGE,
        }
    ]
    # a different secondary external id is a different event
    assert post_event(api, base_url, purchase("dup", secondary_external_id="2")).status_code == 201
    assert len(cc.events()) == 2
    assert cc.snapshot()["counters"]["duplicates"] == 1


# ---------------------------------------------------------------------- GET /events
def test_list_events_pages_filters_and_sorts(
    seeded: list[dict[str, Any]], api: requests.Session, base_url: str
) -> None:
    first = api.get(f"{base_url}/events", timeout=10).json()["data"]
    assert first["total_items"] == len(seeded)
    assert len(first["events"]) == 100
    assert first["events"][0]["property_records"] is None
    page = api.get(f"{base_url}/events", params={"count": 7, "offset": 10}, timeout=10).json()["data"]
    assert [e["event_id"] for e in page["events"]] == [e["event_id"] for e in seeded[10:17]]
    desc = api.get(
        f"{base_url}/events",
        params={"sort_field": "created_at", "sort_direction": "DESC", "count": 3},
        timeout=10,
    ).json()["data"]
    assert [e["event_id"] for e in desc["events"]] == [e["event_id"] for e in seeded[::-1][:3]]
    typed = api.get(
        f"{base_url}/events", params={"event_type_id": NEWSLETTER_TYPE_ID, "count": 1}, timeout=10
    )
    assert typed.json()["data"]["total_items"] == sum(
        e["event_type_id"] == NEWSLETTER_TYPE_ID for e in seeded
    )
    both = api.get(
        f"{base_url}/events",
        params=[
            ("event_type_ids[]", NEWSLETTER_TYPE_ID),
            ("event_type_ids[]", PURCHASE_TYPE_ID),
            ("count", 1),
        ],
        timeout=10,
    )
    assert both.json()["data"]["total_items"] == len(seeded)
    by_customer = api.get(
        f"{base_url}/events", params={"customer_id": CUSTOMER_IDS[1], "count": 1}, timeout=10
    )
    assert by_customer.json()["data"]["total_items"] == sum(
        e["customer_id"] == CUSTOMER_IDS[1] for e in seeded
    )
    by_external = api.get(f"{base_url}/events", params={"external_id": "ext-00042"}, timeout=10).json()[
        "data"
    ]
    assert [e["event_id"] for e in by_external["events"]] == [seeded[42]["event_id"]]
    window = {"time_from": seeded[100]["created_at"], "time_to": seeded[199]["created_at"].replace(" ", "T")}
    windowed = api.get(f"{base_url}/events", params={**window, "count": 1000}, timeout=10).json()["data"]
    assert [e["event_id"] for e in windowed["events"]] == [e["event_id"] for e in seeded[100:200]]
    with_records = api.get(
        f"{base_url}/events", params={"include_property_records": "true", "count": 2}, timeout=10
    ).json()["data"]["events"]
    assert with_records[1]["property_records"][0]["property_value"] == 1


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"count": 0}, "count"),
        ({"offset": -1}, "offset"),
        ({"sort_direction": "UP"}, "sort_direction"),
        ({"sort_field": "nope"}, "sort_field"),
        ({"time_from": "01/02/2026"}, "time_from"),
        ({"include_property_records": "maybe"}, "include_property_records"),
    ],
)
def test_list_events_bad_query_400(
    api: requests.Session, base_url: str, params: dict[str, Any], name: str
) -> None:
    response = api.get(f"{base_url}/events", params=params, timeout=10)
    assert response.status_code == 400
    assert [n for n, _ in params_of(response)] == [name]


def test_get_event_and_property_records(
    seeded: list[dict[str, Any]], api: requests.Session, base_url: str
) -> None:
    wanted = seeded[5]
    event = api.get(f"{base_url}/events/{wanted['event_id']}", timeout=10).json()["data"]
    assert {k: event[k] for k in ("external_id", "customer_id", "created_at", "data")} == {
        k: wanted[k] for k in ("external_id", "customer_id", "created_at", "data")
    }
    records = api.get(f"{base_url}/events/{wanted['event_id']}/property-records", timeout=10).json()["data"]
    assert records["total_items"] == 1
    assert records["property_records"][0]["property_value"] == 5


@pytest.mark.parametrize("suffix", ["", "/property-records"])
def test_unknown_event_404(api: requests.Session, base_url: str, suffix: str) -> None:
    response = api.get(f"{base_url}/events/abc{suffix}", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["error_data"] == {"resource_name": "events", "resource_id": "abc"}


def test_methods_not_allowed_405(api: requests.Session, base_url: str) -> None:
    response = api.delete(f"{base_url}/events/abc", timeout=10)
    assert response.status_code == 405
    assert response.json()["error"]["error_data"] == {"http_method": "DELETE"}


# ---------------------------------------------------------------------- catalogue
def test_event_types_list_filters_and_get(api: requests.Session, base_url: str) -> None:
    all_types = api.get(f"{base_url}/event-types", timeout=10).json()["data"]
    assert all_types["total_items"] == 2
    by_name = api.get(f"{base_url}/event-types", params={"name": "letter"}, timeout=10).json()["data"]
    assert [t["event_type_id"] for t in by_name["event_types"]] == [NEWSLETTER_TYPE_ID]
    by_text = api.get(f"{base_url}/event-types", params={"text_id": "purchase"}, timeout=10).json()["data"]
    assert [t["event_type_id"] for t in by_text["event_types"]] == [PURCHASE_TYPE_ID]
    by_group = api.get(f"{base_url}/event-types", params={"event_group_text_id[]": "shopping"}, timeout=10)
    assert by_group.json()["data"]["total_items"] == 1
    paged = api.get(
        f"{base_url}/event-types", params={"count": 1, "offset": 1, "sort_field": "name"}, timeout=10
    )
    assert [t["name"] for t in paged.json()["data"]["event_types"]] == ["Purchase"]
    one = api.get(f"{base_url}/event-types/{PURCHASE_TYPE_ID}", timeout=10).json()["data"]
    assert one["text_id"] == "purchase"
    missing = api.get(f"{base_url}/event-types/zzz", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["error_data"]["resource_name"] == "event-types"


def test_event_properties_of_type_catalogue_and_one(api: requests.Session, base_url: str) -> None:
    of_type = api.get(f"{base_url}/event-types/{PURCHASE_TYPE_ID}/event-properties", timeout=10).json()[
        "data"
    ]
    types = {p["property_id"]: p["data_type"] for p in of_type["event_properties"]}
    assert set(types.values()) >= {
        "string",
        "boolean",
        "integer",
        "float",
        "date",
        "timestamp",
        "enum",
        "multiselect",
    }
    catalogue = api.get(f"{base_url}/event-properties", timeout=10).json()["data"]
    assert catalogue["total_items"] == len(types) + 1
    named = api.get(f"{base_url}/event-properties", params={"name": "visit"}, timeout=10).json()["data"]
    assert [p["property_id"] for p in named["event_properties"]] == ["visit_count"]
    one = api.get(f"{base_url}/event-properties/favourite_color", timeout=10).json()["data"]
    assert [i["name"] for i in one["items"]] == ["Blue", "Green", "Red"]
    assert api.get(f"{base_url}/event-properties/nope", timeout=10).status_code == 404
    assert api.get(f"{base_url}/event-types/zzz/event-properties", timeout=10).status_code == 404


# ---------------------------------------------------------------------- admin and Python API
def test_admin_seed_and_state_over_http(emulator: Any, api: requests.Session, base_url: str) -> None:
    seed = {
        "customers": [{"customer_id": "c" * 26, "email": "new@example.com"}],
        "event_types": [
            {
                "event_type_id": "e" * 26,
                "name": "Churn",
                "text_id": "churn",
                "properties": [{"property_id": "score", "data_type": "float"}],
            }
        ],
    }
    assert requests.post(f"{emulator.url}/_admin/carecloud/seed", json=seed, timeout=10).json() == {
        "status": "seeded"
    }
    event = {"event_type_id": "e" * 26, "customer_id": "c" * 26, "external_id": "1"}
    assert (
        post_event(api, base_url, event, [{"property_id": "score", "property_value": 0.5}]).status_code == 201
    )
    state = requests.get(f"{emulator.url}/_admin/carecloud/state", timeout=10).json()
    assert state["events"][0]["property_records"][0]["property_value"] == 0.5
    assert state["counters"]["created"] == 1
    assert state["logins"] == 1


def test_accept_language_recorded(cc: Any, api: requests.Session, base_url: str) -> None:
    api.get(f"{base_url}/events", headers={"Accept-Language": "en"}, timeout=10)
    assert cc.snapshot()["last_accept_language"] == "en"


def test_connection_points_at_emulator(emulator: Any) -> None:
    conn = emulator.connection("carecloud")
    assert conn["host"] == emulator.base_url("carecloud")
    assert conn["extra"] == {"external_application_id": DEFAULT_APP_ID, "timezone": "Europe/Prague"}
    assert login(conn["host"], login=conn["login"], password=conn["password"]).status_code == 200
