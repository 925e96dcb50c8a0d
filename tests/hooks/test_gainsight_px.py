"""GainsightPXHook against the emulator over loopback: validation, epochs, regions, retries, read-back."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from helpers.gainsight_px import FAST_RETRIES, PROPERTY_KEY, PX, READ_KEY, event

from airflow_provider_events.exceptions import (
    ConfigurationError,
    InvalidRecordError,
    VendorAuthError,
    VendorBadRequestError,
)
from airflow_provider_events.hooks.gainsight_px import (
    REGION_BASE_URLS,
    CustomEvent,
    GainsightPXHook,
    UserType,
    build_custom_event,
    event_id_for_key,
    split_windows,
    to_epoch_ms,
)

DAY_MS = 86_400_000
T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
T0_MS = 1_709_294_400_000


def _conn_env(monkeypatch: pytest.MonkeyPatch, conn_id: str, **conn: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "gainsight_px", **conn}))


# ---------------------------------------------------------------- base URL and regions (no traffic)
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "https://api.aptrinsic.com/v1"),
        ({"region": "US"}, "https://api.aptrinsic.com/v1"),
        ({"region": "eu"}, "https://api-eu.aptrinsic.com/v1"),
        ({"region": "US2"}, "https://api-us2.aptrinsic.com/v1"),
        ({"region": "us2"}, "https://api-us2.aptrinsic.com/v1"),
    ],
)
def test_region_selects_the_documented_host(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], expected: str
) -> None:
    _conn_env(monkeypatch, "px_region", password="k", extra=extra)
    assert GainsightPXHook("px_region").base_url == expected
    assert expected in REGION_BASE_URLS.values()


def test_unknown_region_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _conn_env(monkeypatch, "px_region", password="k", extra={"region": "apac"})
    with pytest.raises(ConfigurationError, match="unknown region"):
        _ = GainsightPXHook("px_region").base_url


def test_host_overrides_the_region_and_gets_the_v1_path(monkeypatch: pytest.MonkeyPatch) -> None:
    _conn_env(monkeypatch, "px_host", password="k", host="api-eu.aptrinsic.com", extra={"region": "us"})
    assert GainsightPXHook("px_host").base_url == "https://api-eu.aptrinsic.com/v1"


def test_plain_http_outside_loopback_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _conn_env(monkeypatch, "px_http", password="k", host="http://api.aptrinsic.com/v1")
    with pytest.raises(ConfigurationError, match="plain http"):
        _ = GainsightPXHook("px_http").base_url


def test_default_pacing_is_below_the_documented_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    _conn_env(monkeypatch, "px_pace", password="k")
    assert GainsightPXHook("px_pace").rate_limiter.rate == 150
    assert GainsightPXHook("px_pace", max_requests_per_second=50).rate_limiter.rate == 50
    _conn_env(monkeypatch, "px_pace2", password="k", extra={"max_requests_per_second": 120})
    assert GainsightPXHook("px_pace2").rate_limiter.rate == 120


def test_constructing_a_hook_does_no_io() -> None:
    hook = GainsightPXHook("connection_that_does_not_exist")
    assert hook.conn_id == "connection_that_does_not_exist"


# ---------------------------------------------------------------- epoch conversion
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T0, T0_MS),
        (T0.replace(tzinfo=None), T0_MS),  # naive = UTC
        (T0.astimezone(timezone(timedelta(hours=2))), T0_MS),
        (T0 + timedelta(microseconds=1500), T0_MS + 1),
        (date(2024, 3, 1), T0_MS - 12 * 3_600_000),
        (T0_MS, T0_MS),
        (str(T0_MS), T0_MS),
        (Decimal(T0_MS), T0_MS),
        (float(T0_MS), T0_MS),
        ("2024-03-01T12:00:00Z", T0_MS),
        ("2024-03-01T14:00:00+02:00", T0_MS),
        ("2024-03-01 12:00:00", T0_MS),
    ],
)
def test_to_epoch_ms(value: Any, expected: int) -> None:
    assert to_epoch_ms(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1_709_294_400, "looks like epoch seconds"),
        ("1709294400", "looks like epoch seconds"),
        (True, "boolean"),
        ("yesterday", "ISO-8601"),
        (1.5e12 + 0.5, "whole number"),
        (float("nan"), "whole number"),
        ([1], "list"),
        (2**64, "int64"),
    ],
)
def test_to_epoch_ms_refuses(value: Any, reason: str) -> None:
    with pytest.raises(InvalidRecordError, match=reason) as info:
        to_epoch_ms(value)
    assert info.value.field == "date"


# ---------------------------------------------------------------- validation before sending, per field
def _valid(**overrides: Any) -> dict[str, Any]:
    return event(**overrides)


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"identifyId": None}, "identifyId", "required"),
        ({"identifyId": "  "}, "identifyId", "required"),
        ({"propertyKey": None}, "propertyKey", "required"),
        ({"eventName": None}, "eventName", "required"),
        ({"eventName": "n" * 2001}, "eventName", "2000"),
        ({"userType": None}, "userType", "one of"),
        ({"userType": "ADMIN"}, "userType", "one of"),
        ({"date": 1_700_000_000}, "date", "seconds"),
        ({"date": "soon"}, "date", "ISO-8601"),
        ({"attributes": ["a"]}, "attributes", "object"),
        ({"attributes": {f"k{i}": i for i in range(51)}}, "attributes", "at most 50"),
        ({"attributes": {"k" * 1025: 1}}, "attributes", "1024"),
        ({"attributes": {"": 1}}, "attributes", "empty"),
        ({"attributes": {"x": float("inf")}}, "attributes.x", "NaN"),
        ({"attributes": {"x": b"raw"}}, "attributes.x", "not JSON-safe"),
        ({"attributes": {"x": {"y": object()}}}, "attributes.x.y", "not JSON-safe"),
        ({"accountId": ["a"]}, "accountId", "string"),
        ({"globalContext": "ctx"}, "globalContext", "object"),
        ({"plan": "pro"}, "plan", "not a CustomEvent field"),
    ],
)
def test_validation_names_the_field(overrides: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidRecordError, match=reason) as info:
        build_custom_event(_valid(**overrides))
    assert info.value.field == field


def test_invalid_event_is_not_sent(hook: GainsightPXHook, px: PX) -> None:
    with pytest.raises(InvalidRecordError):
        hook.send_custom_event(_valid(userType="ROBOT"))
    assert px.state.snapshot()["events_received"] == 0
    assert hook.stats["requests"] == 0


def test_payload_normalisation() -> None:
    payload = build_custom_event(
        {
            "identifyId": 42,
            "eventName": "purchase",
            "userType": UserType.LEAD,
            "date": T0.replace(tzinfo=None),
            "accountId": 7,
            "attributes": {
                "amount": Decimal("12.50"),
                "qty": Decimal("3"),
                "at": datetime(2024, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
                "naive": datetime(2024, 3, 1, 12, 0),
                "day": date(2024, 3, 1),
                "tags": ("a", "b"),
                "nested": {"n": Decimal("1.5")},
                "flag": True,
                "none": None,
            },
        },
        property_key="AP-X-2",
        event_id="id-1",
    )
    assert payload == {
        "identifyId": "42",
        "propertyKey": "AP-X-2",
        "eventName": "purchase",
        "userType": "LEAD",
        "date": T0_MS,
        "accountId": "7",
        "eventId": "id-1",
        "attributes": {
            "amount": 12.5,
            "qty": 3,
            "at": "2024-03-01T12:00:00.000Z",
            "naive": "2024-03-01T12:00:00.000Z",
            "day": "2024-03-01",
            "tags": ["a", "b"],
            "nested": {"n": 1.5},
            "flag": True,
            "none": None,
        },
    }
    json.dumps(payload, allow_nan=False)


def test_user_type_is_case_insensitive_and_upper_cased() -> None:
    assert build_custom_event(_valid(userType="visitor"))["userType"] == "VISITOR"


def test_record_values_win_over_defaults() -> None:
    payload = build_custom_event(
        _valid(propertyKey="AP-RECORD-2", eventId="mine"), property_key="AP-DEFAULT-2", event_id="derived"
    )
    assert (payload["propertyKey"], payload["eventId"]) == ("AP-RECORD-2", "mine")


def test_legacy_attribute_value_limit_is_opt_in() -> None:
    long = {"attributes": {"note": "x" * 1025}}
    assert build_custom_event(_valid(**long))["attributes"]["note"] == "x" * 1025
    with pytest.raises(InvalidRecordError, match="1024") as info:
        build_custom_event(_valid(**long), max_attribute_value_length=1024)
    assert info.value.field == "attributes.note"


def test_event_id_is_deterministic() -> None:
    assert event_id_for_key("row-1") == event_id_for_key("row-1")
    assert event_id_for_key("row-1") != event_id_for_key("row-2")


# ---------------------------------------------------------------- sending
def test_send_custom_event_dataclass(hook: GainsightPXHook, px: PX) -> None:
    result = hook.send_custom_event(
        CustomEvent(
            identify_id="user-9",
            event_name="upgrade",
            user_type=UserType.USER,
            date=T0,
            attributes={"plan": "pro"},
            account_id="acme",
        ),
        idempotency_key="k-1",
    )
    assert result == {"eventId": event_id_for_key("k-1"), "statusCode": "201"}
    [stored] = px.state.snapshot()["received"]
    assert stored == {
        "identifyId": "user-9",
        "propertyKey": PROPERTY_KEY,  # from the connection's property_key extra
        "eventName": "upgrade",
        "userType": "USER",
        "date": T0_MS,
        "accountId": "acme",
        "eventId": event_id_for_key("k-1"),
        "attributes": {"plan": "pro"},
    }


def test_vendor_400_is_a_bad_request_error(hook: GainsightPXHook, px: PX) -> None:
    # the client only checks what the vendor documents; a raw post of a bad body shows the vendor's 400
    with pytest.raises(VendorBadRequestError, match="userType"):
        hook.post_custom_event({"identifyId": "u", "propertyKey": "p", "eventName": "e", "userType": "X"})
    assert px.state.snapshot()["rejected"] == 1


@pytest.mark.parametrize(("password", "status"), [("wrong-key", 401), (READ_KEY, 403)])
def test_auth_failures_stop_at_once(
    monkeypatch: pytest.MonkeyPatch, px: PX, password: str, status: int
) -> None:
    _conn_env(monkeypatch, "px_bad", password=password, host=px.base, extra={"property_key": PROPERTY_KEY})
    bad = GainsightPXHook("px_bad", retry_policy=FAST_RETRIES)
    with pytest.raises(VendorAuthError) as info:
        bad.send_custom_event(_valid())
    assert info.value.status_code == status
    assert password not in str(info.value)
    assert bad.stats["requests"] == 1, "auth errors are not retried"


def test_empty_password_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, px: PX) -> None:
    _conn_env(monkeypatch, "px_nokey", host=px.base)
    with pytest.raises(ConfigurationError, match="password"):
        GainsightPXHook("px_nokey").send_custom_event(_valid())


def test_429_and_503_are_retried_honouring_retry_after(hook: GainsightPXHook, px: PX) -> None:
    # one request per second: the 2nd request is refused unless the 1st took a whole second, so a 429 is
    # seen however loaded the machine is; waiting the Retry-After (1.05 s) always frees a token
    px.server.emulator.set_faults("gainsight_px", rate_limit=1, retry_after=1.05)
    for i in range(3):
        hook.send_custom_event(_valid(), idempotency_key=f"k{i}")
    assert px.state.snapshot()["events_received"] == 3
    assert hook.stats["throttled"] >= 1
    assert px.server.emulator.fault_counters("gainsight_px")["rate_limited"] == hook.stats["throttled"]


def test_retried_events_keep_their_event_id(hook: GainsightPXHook, px: PX) -> None:
    """Processed-then-dropped and reset requests are resent with the same deterministic eventId."""
    emulator = px.server.emulator
    emulator.set_faults("gainsight_px", drop_after_accept=3, reset_rate=0.1, error_rate=0.1)
    keys = [f"order-{i}" for i in range(40)]
    for key in keys:
        hook.send_custom_event(_valid(), idempotency_key=key, retry_ambiguous=True)
    snap = px.state.snapshot()
    counters = emulator.fault_counters("gainsight_px")
    assert counters["dropped_after_accept"] == 3
    assert counters["resets"] + counters["server_errors"] > 0
    stored_ids = {e["eventId"] for e in snap["received"]}
    assert stored_ids == {event_id_for_key(k) for k in keys}
    # the three events processed before their connection dropped were resent with the same id
    assert snap["duplicate_event_id_count"] == 3
    assert snap["events_received"] == 43


def test_ambiguous_failure_is_not_retried_by_default(hook: GainsightPXHook, px: PX) -> None:
    px.server.emulator.set_faults("gainsight_px", drop_after_accept=1)
    from airflow_provider_events.exceptions import VendorUnavailableError

    with pytest.raises(VendorUnavailableError) as info:
        hook.send_custom_event(_valid(), idempotency_key="once")
    assert info.value.ambiguous
    assert px.state.snapshot()["events_received"] == 1


# ---------------------------------------------------------------- read-back
def _seed(px: PX, n: int, start: int, step: int, **fields: Any) -> None:
    px.state.seed({"events": [event(eventId=f"e{i}", date=start + i * step, **fields) for i in range(n)]})


def test_iter_pages_until_a_short_last_page(hook: GainsightPXHook, px: PX) -> None:
    _seed(px, 7, T0_MS, 1000)
    got = list(hook.iter_custom_events(start=T0, end=T0 + timedelta(hours=1), page_size=3))
    assert [e["eventId"] for e in got] == [f"e{i}" for i in range(7)]
    # 3 + 3 + 1: it stopped on the short page although the vendor still returned a scroll id
    assert px.state.snapshot()["reads"] == 3


def test_iter_exact_multiple_of_page_size_ends_on_an_empty_page(hook: GainsightPXHook, px: PX) -> None:
    _seed(px, 6, T0_MS, 1000)
    got = list(hook.iter_custom_events(start=T0_MS, end=T0_MS + DAY_MS, page_size=3))
    assert len(got) == 6
    assert px.state.snapshot()["reads"] == 3


def test_iter_splits_ranges_longer_than_190_days(hook: GainsightPXHook, px: PX) -> None:
    # one event every 30 days across 400 days; one read of it all would be refused (over 190 days)
    _seed(px, 14, T0_MS, 30 * DAY_MS)
    end = T0_MS + 400 * DAY_MS
    got = list(hook.iter_custom_events(start=T0_MS, end=end, page_size=1000))
    assert sorted(e["eventId"] for e in got) == sorted(f"e{i}" for i in range(14))
    assert px.state.snapshot()["reads"] == 3  # three windows: 190 + 190 + 20 days


def test_iter_window_split_and_paging_together(hook: GainsightPXHook, px: PX) -> None:
    _seed(px, 40, T0_MS, 10 * DAY_MS)  # 400 days, 19 or 20 events per window
    got = list(hook.iter_custom_events(start=T0_MS, end=T0_MS + 400 * DAY_MS, page_size=7))
    ids = [e["eventId"] for e in got]
    assert sorted(ids) == sorted(f"e{i}" for i in range(40))
    assert len(ids) == len(set(ids)), "no event is read twice at a window boundary"


def test_split_windows_cover_without_overlap() -> None:
    windows = list(split_windows(0, 10, 3))
    assert windows == [(0, 3), (4, 7), (8, 10)]
    assert list(split_windows(5, 5, 3)) == [(5, 5)]


def test_iter_filters_by_user_and_event_name(hook: GainsightPXHook, px: PX) -> None:
    px.state.seed(
        {
            "events": [
                event(eventId="a", identifyId="Ann", eventName="signup", date=T0_MS),
                event(eventId="b", identifyId="ann", eventName="login", date=T0_MS + 1),
                event(eventId="c", identifyId="bob", eventName="signup", date=T0_MS + 2),
            ]
        }
    )
    window = {"start": T0_MS, "end": T0_MS + 10}
    assert [e["eventId"] for e in hook.iter_custom_events(identify_id="ann", **window)] == ["a", "b"]
    assert [e["eventId"] for e in hook.iter_custom_events(event_name="signup", **window)] == ["a", "c"]
    both = hook.iter_custom_events(identify_id="ANN", event_name="signup", **window)
    assert [e["eventId"] for e in both] == ["a"]
    ored = hook.iter_custom_events(
        event_name="signup", filters=["identifyId==bob", "identifyId==ann"], **window
    )
    assert [e["eventId"] for e in ored] == ["a", "c"]
    assert hook.count_custom_events(sort="-date", **window) == 3


def test_iter_refuses_bad_arguments(hook: GainsightPXHook) -> None:
    with pytest.raises(ConfigurationError, match="page_size"):
        list(hook.iter_custom_events(start=T0_MS, page_size=1001))
    with pytest.raises(ConfigurationError, match="before start"):
        list(hook.iter_custom_events(start=T0_MS, end=T0_MS - 1))
    with pytest.raises(ConfigurationError, match="';'"):
        list(hook.iter_custom_events(start=T0_MS, identify_id="a;b"))


# ---------------------------------------------------------------- users and test_connection
def test_get_user(hook: GainsightPXHook, px: PX) -> None:
    px.state.seed({"users": [{"identifyId": "Nora@example.com"}, {"identifyId": "team/1"}]})
    user = hook.get_user("Nora@example.com")
    assert user is not None
    assert user["identifyId"] == "Nora@example.com"
    assert hook.get_user("nora@example.com") is None  # case-sensitive lookup
    team = hook.get_user("team/1")
    assert team is not None
    assert team["identifyId"] == "team/1"


def test_test_connection_ok_and_failing(
    monkeypatch: pytest.MonkeyPatch, hook: GainsightPXHook, px: PX
) -> None:
    px.state.seed({"users": [{"identifyId": "u1"}, {"identifyId": "u2"}]})
    ok, message = hook.test_connection()
    assert ok, message
    assert "2 users" in message
    _conn_env(monkeypatch, "px_bad", password="wrong", host=px.base)
    ok, message = GainsightPXHook("px_bad", retry_policy=FAST_RETRIES).test_connection()
    assert not ok
    assert "401" in message
    assert "wrong" not in message
