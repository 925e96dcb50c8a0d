"""CareCloudHook against the emulator over loopback: auth, create, validation, idempotency, listing."""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timezone
from typing import Any

import pytest

from airflow_provider_events.exceptions import (
    ConfigurationError,
    InvalidRecordError,
    VendorBadRequestError,
    VendorNotFoundError,
)
from airflow_provider_events.hooks.carecloud import (
    CareCloudHook,
    CreateEventStatus,
    InvalidParam,
    invalid_params,
)
from airflow_provider_events.hooks.token_store import FileTokenStore
from airflow_provider_events.testing.emulator.carecloud import (
    CUSTOMER_IDS,
    DEFAULT_PASSWORD,
    NEWSLETTER_TYPE_ID,
    PURCHASE_TYPE_ID,
)


def set_conn(monkeypatch: pytest.MonkeyPatch, emulator: Any, **extra: Any) -> None:
    conn = emulator.connection("carecloud")
    conn["extra"].update(extra)
    monkeypatch.setenv("AIRFLOW_CONN_CARECLOUD_DEFAULT", json.dumps(conn))


# ---------------------------------------------------------------------- authentication
def test_login_once_token_shared_across_hooks_through_the_store(cc: Any, hook: CareCloudHook) -> None:
    assert hook.test_connection()[0] is True
    other = CareCloudHook()  # another task: a fresh instance, same account
    other.list_event_types()
    hook.get_event_type(PURCHASE_TYPE_ID)
    assert cc.login_count == 1
    assert (hook.login_count, other.login_count) == (1, 0)
    stored = FileTokenStore().peek(hook.token_key)
    assert stored is not None
    assert stored.extra["valid_to"]
    # valid_to is project-local (Europe/Prague) without offset: converted, it is 7 h from now
    assert abs(stored.expires_at - (time.time() + 7 * 3600)) < 5


def test_valid_to_read_in_the_connection_timezone(
    cc: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_state: Any
) -> None:
    cc.seed({"timezone": "America/New_York"})
    set_conn(monkeypatch, emulator, timezone="America/New_York")
    hook = CareCloudHook()
    hook.check_connection()
    assert abs(hook.token_store.peek(hook.token_key).expires_at - (time.time() + 7 * 3600)) < 5  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "margin_extra",
    [
        {"token_refresh_margin": 0},  # the older name, still read
        {"refresh_margin": 0, "token_refresh_margin": "***"},  # the form's name; the mask a UI save leaves
    ],
)
def test_token_expiry_leads_to_a_new_login(
    cc: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_state: Any, margin_extra: dict[str, Any]
) -> None:
    cc.seed({"token_lifetime_seconds": 2})
    set_conn(monkeypatch, emulator, **margin_extra)
    hook = CareCloudHook()
    hook.list_event_types()
    hook.list_event_types()
    assert cc.login_count == 1
    time.sleep(2.2)
    hook.list_event_types()  # cached token is past valid_to: log in before the call, no 401
    assert cc.login_count == 2
    assert cc.snapshot()["auth"]["rejected"] == 0


def test_revoked_token_relogin_once_on_401(cc: Any, hook: CareCloudHook) -> None:
    hook.list_event_types()
    cc.expire_tokens()
    assert hook.get_event_type(PURCHASE_TYPE_ID)["text_id"] == "purchase"
    assert cc.login_count == 2
    assert cc.snapshot()["auth"]["rejected"] == 1


def test_bad_password_is_an_auth_error_without_the_secret(
    emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_state: Any
) -> None:
    conn = emulator.connection("carecloud")
    conn["password"] = "not-the-password-42"
    monkeypatch.setenv("AIRFLOW_CONN_CARECLOUD_DEFAULT", json.dumps(conn))
    ok, message = CareCloudHook().test_connection()
    assert not ok
    assert "403" in message
    assert "not-the-password-42" not in message
    assert conn["extra"]["external_application_id"] not in message


def test_legacy_basic_scheme_opt_in(
    cc: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_state: Any
) -> None:
    set_conn(monkeypatch, emulator, auth_scheme="basic", accept_language="en")
    hook = CareCloudHook()
    assert hook.list_event_types()
    assert cc.login_count == 0
    assert cc.snapshot()["auth"]["basic"] == 1
    assert cc.snapshot()["last_accept_language"] == "en"
    assert DEFAULT_PASSWORD not in hook.basic_authorization()
    cc.seed({"basic_auth": False})
    with pytest.raises(Exception, match="401"):
        hook.list_event_types()


def test_missing_external_application_id(
    emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_state: Any
) -> None:
    set_conn(monkeypatch, emulator, external_application_id="")
    with pytest.raises(ConfigurationError, match="external_application_id"):
        CareCloudHook().list_event_types()


# ---------------------------------------------------------------------- create
@pytest.mark.parametrize(
    ("property_id", "given", "sent"),
    [
        ("note", "VIP", "VIP"),
        ("note", 123, "123"),
        ("has_purchase", "true", True),
        ("has_purchase", False, False),
        ("visit_count", "42", 42),
        ("average_spend", "149.90", 149.9),
        ("birth_date", date(1985, 6, 15), "1985-06-15"),
        ("birth_date", "1985-06-15", "1985-06-15"),
        ("purchased_at", datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc), "2026-07-01 12:00:00"),
        ("purchased_at", "2026-07-01T10:00:00", "2026-07-01 10:00:00"),
        (
            "favourite_color",
            "Blue",
            [{"id": "86e05affc7a7abefcd513ab400", "name": "Blue", "resource_record_id": None, "state": 1}],
        ),
        ("interests", ["blue", "81eaeea13b8984a169c490a325"], ["Blue", "Green"]),
    ],
)
def test_create_with_each_property_data_type(
    cc: Any, hook: CareCloudHook, property_id: str, given: Any, sent: Any
) -> None:
    result = hook.create_event(
        PURCHASE_TYPE_ID, external_id="e1", customer_id=CUSTOMER_IDS[0], property_records={property_id: given}
    )
    assert result.status is CreateEventStatus.CREATED
    assert result.created
    (record,) = hook.get_event_property_records(str(result.event_id))
    value = record["property_value"]
    if property_id == "interests":
        value = [item["name"] for item in value]
    assert record["property_id"] == property_id
    assert value == sent
    assert [e["event_id"] for e in cc.events()] == [result.event_id]


def test_create_with_every_event_field(cc: Any, hook: CareCloudHook) -> None:
    result = hook.create_event(
        NEWSLETTER_TYPE_ID,
        external_id="n-1",
        secondary_external_id="2",
        customer_identifier_type="phone",
        customer_identifier_value="420444555666",
        data={"campaign": "spring"},
        created_at=datetime(2026, 1, 15, 8, 30, tzinfo=timezone.utc),
        property_records=[{"property_id": "source", "property_value": "web"}],
    )
    event = hook.get_event(str(result.event_id))
    assert event["customer_id"] == CUSTOMER_IDS[1]
    assert event["created_at"] == "2026-01-15 09:30:00"  # UTC -> Europe/Prague
    assert event["data"] == {"campaign": "spring"}
    assert event["secondary_external_id"] == "2"


@pytest.mark.parametrize(
    ("records", "field"),
    [
        ({"has_purchase": "maybe"}, "property_records.has_purchase"),
        ({"visit_count": "4.5"}, "property_records.visit_count"),
        ({"average_spend": "cheap"}, "property_records.average_spend"),
        ({"birth_date": "15.6.1985"}, "property_records.birth_date"),
        ({"purchased_at": "soon"}, "property_records.purchased_at"),
        ({"favourite_color": ["Blue", "Green"]}, "property_records.favourite_color"),
        ({"interests": ["Purple"]}, "property_records.interests"),
        ({"no_such_property": 1}, "property_records.no_such_property"),
        ({f"p{i}": 1 for i in range(1001)}, "property_records"),
    ],
)
def test_validation_names_the_property_and_sends_nothing(
    cc: Any, hook: CareCloudHook, records: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        hook.create_event(
            PURCHASE_TYPE_ID, external_id="e1", customer_id=CUSTOMER_IDS[0], property_records=records
        )
    assert caught.value.field == field
    assert cc.snapshot()["counters"] == {"created": 0, "duplicates": 0, "invalid": 0}


def test_property_lookup_cached_per_hook(cc: Any, emulator: Any, hook: CareCloudHook) -> None:
    before = emulator.emulator.fault_counters("carecloud")["requests"]
    for i in range(5):
        hook.create_event(
            PURCHASE_TYPE_ID,
            external_id=f"e{i}",
            customer_id=CUSTOMER_IDS[0],
            property_records={"visit_count": i},
        )
    # one login, one property lookup, five creates
    assert emulator.emulator.fault_counters("carecloud")["requests"] - before == 7


def test_required_property_checked_locally(hook: CareCloudHook) -> None:
    with pytest.raises(InvalidRecordError, match="required") as caught:
        hook.create_event(NEWSLETTER_TYPE_ID, external_id="n", customer_id=CUSTOMER_IDS[0])
    assert caught.value.field == "property_records.source"
    with pytest.raises(InvalidRecordError, match="a value is required"):
        hook.create_event(
            NEWSLETTER_TYPE_ID,
            external_id="n",
            customer_id=CUSTOMER_IDS[0],
            property_records={"source": None},
        )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (
            {
                "customer_id": CUSTOMER_IDS[0],
                "customer_identifier_type": "email",
                "customer_identifier_value": "a@b.c",
            },
            "customer_id",
        ),
        ({}, "customer_id"),
        ({"customer_identifier_type": "fax", "customer_identifier_value": "1"}, "customer_identifier_type"),
        ({"customer_identifier_type": "email"}, "customer_identifier_value"),
        (
            {"customer_identifier_type": "external_id", "customer_identifier_value": "A-1"},
            "customer_identifier_value",
        ),
        ({"customer_id": CUSTOMER_IDS[0], "data": 5}, "data"),
        ({"customer_id": CUSTOMER_IDS[0], "created_at": "tomorrow"}, "created_at"),
    ],
)
def test_event_field_validation(hook: CareCloudHook, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        hook.create_event(PURCHASE_TYPE_ID, external_id="e1", **kwargs)
    assert caught.value.field == field


def test_duplicate_is_already_delivered(cc: Any, hook: CareCloudHook) -> None:
    first = hook.create_event(PURCHASE_TYPE_ID, external_id="dup", customer_id=CUSTOMER_IDS[0])
    again = hook.create_event(
        PURCHASE_TYPE_ID,
        external_id="dup",
        customer_identifier_type="email",
        customer_identifier_value="anna@example.com",
    )
    assert again.status is CreateEventStatus.ALREADY_DELIVERED
    assert again.event_id is None
    found = hook.create_event(
        PURCHASE_TYPE_ID, external_id="dup", customer_id=CUSTOMER_IDS[0], lookup_existing=True
    )
    assert found.status is CreateEventStatus.ALREADY_DELIVERED
    assert found.event_id == first.event_id
    assert len(cc.events()) == 1


def test_ambiguous_failure_retried_exactly_once(cc: Any, emulator: Any, hook: CareCloudHook) -> None:
    hook.event_type_properties(PURCHASE_TYPE_ID)  # log in and load the properties first
    emulator.emulator.set_faults("carecloud", drop_after_accept=1)
    result = hook.create_event(PURCHASE_TYPE_ID, external_id="amb", customer_id=CUSTOMER_IDS[0])
    assert emulator.emulator.fault_counters("carecloud")["dropped_after_accept"] == 1
    assert hook.stats["retries"] == 1
    assert result.status is CreateEventStatus.ALREADY_DELIVERED  # the first attempt did arrive
    assert [e["external_id"] for e in cc.events()] == ["amb"]


# ---------------------------------------------------------------------- errors
def test_400_body_parsed_into_invalid_params_without_values(hook: CareCloudHook) -> None:
    with pytest.raises(VendorBadRequestError) as caught:
        hook.create_event(
            PURCHASE_TYPE_ID,
            external_id="e1",
            customer_identifier_type="email",
            customer_identifier_value="secret.person@example.com",
            validate=False,
        )
    error = caught.value
    assert invalid_params(error) == [
        InvalidParam("customer_identifier_value", "not_found", "Customer not found")
    ]
    assert "customer_identifier_value (not_found): Customer not found" in str(error)
    assert "secret.person" not in str(error)
    assert "secret.person" not in json.dumps(error.body)


def test_400_from_api_when_local_validation_is_off(hook: CareCloudHook) -> None:
    with pytest.raises(VendorBadRequestError) as caught:
        hook.create_event(
            PURCHASE_TYPE_ID,
            external_id="e1",
            customer_id=CUSTOMER_IDS[0],
            property_records={"visit_count": "many"},
            validate=False,
        )
    (param,) = invalid_params(caught.value)
    assert (param.name, param.reason) == ("property_records[0].property_value", "invalid_value_format")
    assert "visit_count" in param.message
    assert caught.value.body["error"]["error_data"]["invalid_params"][0]["value"] == "***"


def test_404_body_parsed(hook: CareCloudHook) -> None:
    with pytest.raises(VendorNotFoundError) as caught:
        hook.get_event("0123")
    assert caught.value.status_code == 404
    assert caught.value.body["error"]["error_data"] == {"resource_name": "events", "resource_id": "0123"}
    assert "[events 0123]" in str(caught.value)
    with pytest.raises(VendorNotFoundError):
        hook.get_event_property_records("0123")


# ---------------------------------------------------------------------- catalogue and listing
def test_catalogue_calls(hook: CareCloudHook) -> None:
    assert [t["text_id"] for t in hook.list_event_types(sort_field="name", sort_direction="desc")] == [
        "purchase",
        "newsletter_signup",
    ]
    assert hook.find_event_type("newsletter_signup")["event_type_id"] == NEWSLETTER_TYPE_ID
    assert hook.find_event_type("purchase")["event_type_id"] == PURCHASE_TYPE_ID
    assert hook.find_event_type("Newsletter Signup")["event_type_id"] == NEWSLETTER_TYPE_ID
    with pytest.raises(ConfigurationError, match="no event type"):
        hook.find_event_type("nothing")
    props = hook.list_event_properties(PURCHASE_TYPE_ID, page_size=3)
    assert len(props) == 8
    assert [p["property_id"] for p in hook.list_event_properties(name="spend")] == ["average_spend"]
    assert len(hook.list_event_properties()) == 9
    assert hook.get_event_property("interests")["data_type"] == "multiselect"


def test_iter_events_all_2500_across_pages(
    seeded: list[dict[str, Any]], emulator: Any, hook: CareCloudHook
) -> None:
    before = emulator.emulator.fault_counters("carecloud")["requests"]
    events = list(hook.iter_events(page_size=300))
    assert [e["event_id"] for e in events] == [e["event_id"] for e in seeded]
    assert (
        emulator.emulator.fault_counters("carecloud")["requests"] - before == 1 + 9
    )  # login + ceil(2500 / 300)


def test_iter_events_filters_and_sort(seeded: list[dict[str, Any]], hook: CareCloudHook) -> None:
    newest_first = list(
        hook.iter_events(
            event_type_id=NEWSLETTER_TYPE_ID,
            sort_field="created_at",
            sort_direction="DESC",
            include_property_records=True,
        )
    )
    expected = [e for e in seeded if e["event_type_id"] == NEWSLETTER_TYPE_ID][::-1]
    assert [e["event_id"] for e in newest_first] == [e["event_id"] for e in expected]
    assert newest_first[0]["property_records"][0]["property_id"] == "source"
    by_customer = list(hook.iter_events(customer_id=CUSTOMER_IDS[2], event_type_ids=[PURCHASE_TYPE_ID]))
    assert len(by_customer) == sum(
        e["customer_id"] == CUSTOMER_IDS[2] and e["event_type_id"] == PURCHASE_TYPE_ID for e in seeded
    )
    # an aware window is converted to project time (Europe/Prague, UTC+1 in January)
    window = list(
        hook.iter_events(
            time_from=datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc),
            time_to="2026-01-02T09:00:00+00:00",
        )
    )
    expected_window = [e for e in seeded if "2026-01-01 10:00:00" <= e["created_at"] <= "2026-01-02 10:00:00"]
    assert [e["event_id"] for e in window] == [e["event_id"] for e in expected_window]
    assert window
    assert [e["external_id"] for e in hook.iter_events(external_id="ext-00007")] == ["ext-00007"]
    assert len(list(hook.iter_events(offset=2490))) == 10
    with pytest.raises(TypeError, match="unknown event filters"):
        list(hook.iter_events(colour="red"))
