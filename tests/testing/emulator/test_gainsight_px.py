"""The Gainsight PX emulator over real loopback HTTP: every documented success and error case."""

from __future__ import annotations

import time

import pytest
from helpers.gainsight_px import PX, READ_KEY, WRITE_KEY, event

DAY_MS = 86_400_000


# ---------------------------------------------------------------- POST /events/custom: auth
def test_post_without_key_is_401(px: PX) -> None:
    response = px.post(event(), key=None)
    assert response.status_code == 401
    assert response.json()["message"] == "Unauthorized or bad API Key"
    assert px.state.snapshot()["events_received"] == 0


def test_post_with_unknown_key_is_401(px: PX) -> None:
    assert px.post(event(), key="not-a-key").status_code == 401
    assert px.state.snapshot()["unauthorized"] == 1


def test_post_with_read_only_key_is_403(px: PX) -> None:
    response = px.post(event(), key=READ_KEY)
    assert response.status_code == 403
    assert "Write" in response.json()["message"]
    assert px.state.snapshot()["events_received"] == 0


def test_seeded_keys_are_honoured(px: PX) -> None:
    px.state.seed({"write_keys": ["w2"], "read_only_keys": ["r2"], "api_keys": {"wo": ["write"]}})
    assert px.post(event(), key="w2").status_code == 201
    assert px.post(event(), key="r2").status_code == 403
    assert px.post(event(), key="wo").status_code == 201
    assert px.get("events/custom", key="wo").status_code == 403
    assert px.get("events/custom", key="r2").status_code == 200


# ---------------------------------------------------------------- POST /events/custom: success
def test_post_valid_event_is_201_with_the_response_entity_body(px: PX) -> None:
    body = event(
        eventId="e-1",
        accountId="acme",
        sessionId="s",
        eventType="custom",
        url="https://x.example/a",
        referrer="https://r.example",
        remoteHost="10.0.0.1",
        globalContext={"app": "web"},
        attributes={"plan": "pro", "seats": 3, "trial": False, "at": "2024-01-01T00:00:00.000Z"},
    )
    response = px.post(body)
    assert response.status_code == 201
    assert response.json() == {"body": {}, "statusCode": "201", "statusCodeValue": 201}
    snap = px.state.snapshot()
    assert snap["received"] == [body]
    assert snap["events_received"] == 1


@pytest.mark.parametrize("user_type", ["LEAD", "USER", "VISITOR", "EMPTY_USER_TYPE"])
def test_every_user_type_is_accepted(px: PX, user_type: str) -> None:
    assert px.post(event(userType=user_type)).status_code == 201


def test_event_without_date_gets_the_receive_time(px: PX) -> None:
    before = int(time.time() * 1000)
    assert px.post(event(date=None)).status_code == 201
    stored = px.state.snapshot()["received"][0]["date"]
    assert before <= stored <= int(time.time() * 1000)


def test_limits_at_the_boundary_are_accepted(px: PX) -> None:
    attributes = {f"{i:02d}".ljust(1024, "k"): i for i in range(50)}
    assert len(attributes) == 50
    assert px.post(event(eventName="n" * 2000, attributes=attributes)).status_code == 201


# ---------------------------------------------------------------- POST /events/custom: 400s
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"identifyId": None}, "identifyId is required"),
        ({"identifyId": ""}, "identifyId is required"),
        ({"propertyKey": None}, "propertyKey is required"),
        ({"eventName": None}, "eventName is required"),
        ({"userType": None}, "userType"),
        ({"userType": "user"}, "userType"),
        ({"userType": "ADMIN"}, "userType"),
        ({"eventName": "n" * 2001}, "eventName exceeds 2000"),
        ({"date": "2024-01-01"}, "date must be an int64"),
        ({"date": 1.7e12}, "date must be an int64"),
        ({"date": True}, "date must be an int64"),
        ({"attributes": [1, 2]}, "attributes must be an object"),
        ({"attributes": {f"k{i}": i for i in range(51)}}, "more than 50"),
        ({"attributes": {"k" * 1025: 1}}, "attribute name exceeds 1024"),
        ({"accountId": 42}, "accountId must be a string"),
        ({"globalContext": "x"}, "globalContext must be an object"),
    ],
)
def test_invalid_event_is_400_with_a_json_error(px: PX, overrides: dict[str, object], reason: str) -> None:
    response = px.post(event(**overrides))
    assert response.status_code == 400
    error = response.json()
    assert error["status"] == 400
    assert reason in error["message"]
    snap = px.state.snapshot()
    assert snap["events_received"] == 0
    assert snap["rejected"] == 1


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""])
def test_body_that_is_not_a_json_object_is_400(px: PX, raw: bytes) -> None:
    response = px.post(raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "JSON object" in response.json()["message"]


# ---------------------------------------------------------------- eventId: duplicates and dedup option
def test_every_post_is_stored_and_duplicate_event_ids_counted(px: PX) -> None:
    for _ in range(3):
        assert px.post(event(eventId="same")).status_code == 201
    assert px.post(event(eventId="other")).status_code == 201
    snap = px.state.snapshot()
    assert snap["events_received"] == 4
    assert snap["duplicate_event_ids"] == {"same": 2}
    assert snap["duplicate_event_id_count"] == 2


def test_dedupe_option_stores_an_event_id_once(px: PX) -> None:
    px.state.seed({"options": {"dedupe_event_ids": True}})
    assert px.post(event(eventId="same")).status_code == 201
    assert px.post(event(eventId="same")).status_code == 201
    snap = px.state.snapshot()
    assert snap["events_received"] == 1
    assert snap["duplicate_event_id_count"] == 0


def test_unknown_seed_option_is_refused(px: PX) -> None:
    with pytest.raises(ValueError, match="unknown gainsight_px options"):
        px.state.seed({"options": {"nope": 1}})


# ---------------------------------------------------------------- GET /events/custom
def _seed_events(
    px: PX, n: int, *, start: int, step: int = 1000, **fields: object
) -> list[dict[str, object]]:
    events = [
        event(identifyId=f"user-{i % 3}", date=start + i * step, eventId=f"e{i}", **fields) for i in range(n)
    ]
    px.state.seed({"events": events})
    return events


def test_list_requires_a_key(px: PX) -> None:
    assert px.get("events/custom", key=None).status_code == 401
    assert px.get("events/custom", key="bad").status_code == 401
    assert px.get("events/custom", key=WRITE_KEY).status_code == 200


def test_list_without_window_is_the_last_day(px: PX) -> None:
    now = int(time.time() * 1000)
    px.state.seed(
        {"events": [event(eventId="old", date=now - 2 * DAY_MS), event(eventId="new", date=now - 3_600_000)]}
    )
    body = px.get("events/custom").json()
    assert [e["eventId"] for e in body["customEvents"]] == ["new"]
    assert body["totalHits"] == 1
    assert body["scrollId"]


def test_list_window_over_190_days_is_400(px: PX) -> None:
    start = 1_600_000_000_000
    response = px.get("events/custom", {"dateRangeStart": start, "dateRangeEnd": start + 190 * DAY_MS + 1})
    assert response.status_code == 400
    assert response.json()["message"] == "Exceeded date range190days"
    ok = px.get("events/custom", {"dateRangeStart": start, "dateRangeEnd": start + 190 * DAY_MS})
    assert ok.status_code == 200


def test_list_window_is_inclusive(px: PX) -> None:
    start = 1_600_000_000_000
    _seed_events(px, 5, start=start)
    body = px.get("events/custom", {"dateRangeStart": start + 1000, "dateRangeEnd": start + 3000}).json()
    assert [e["eventId"] for e in body["customEvents"]] == ["e1", "e2", "e3"]


def test_list_pages_with_scroll_id_and_keeps_returning_it(px: PX) -> None:
    start = 1_600_000_000_000
    _seed_events(px, 7, start=start)
    params = {"dateRangeStart": start, "dateRangeEnd": start + DAY_MS, "pageSize": 3}
    first = px.get("events/custom", params).json()
    assert first["totalHits"] == 7
    assert [e["eventId"] for e in first["customEvents"]] == ["e0", "e1", "e2"]
    second = px.get("events/custom", {"scrollId": first["scrollId"], "pageSize": 3}).json()
    third = px.get("events/custom", {"scrollId": second["scrollId"], "pageSize": 3}).json()
    assert [e["eventId"] for e in second["customEvents"]] == ["e3", "e4", "e5"]
    assert [e["eventId"] for e in third["customEvents"]] == ["e6"]
    assert third["scrollId"], "like the vendor, the scroll id does not become null on the last page"
    after = px.get("events/custom", {"scrollId": third["scrollId"], "pageSize": 3}).json()
    assert after["customEvents"] == []


def test_list_unknown_scroll_id_is_400(px: PX) -> None:
    assert px.get("events/custom", {"scrollId": "nope"}).status_code == 400


@pytest.mark.parametrize("size", [0, 1001, "x"])
def test_list_page_size_out_of_range_is_400(px: PX, size: object) -> None:
    assert px.get("events/custom", {"pageSize": size}).status_code == 400


def test_list_default_page_size_is_25(px: PX) -> None:
    start = int(time.time() * 1000) - 3_600_000
    _seed_events(px, 30, start=start)
    body = px.get("events/custom").json()
    assert len(body["customEvents"]) == 25
    assert body["totalHits"] == 30


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["identifyId==user-1"], ["e1", "e4"]),
        (["identifyId==USER-1"], ["e1", "e4"]),  # filters are case-insensitive
        (["identifyId!=user-1"], ["e0", "e2", "e3", "e5"]),
        (["identifyId==user-1;date>1600000001000"], ["e4"]),
        (["identifyId==user-0", "identifyId==user-2"], ["e0", "e2", "e3", "e5"]),  # separate params: OR
        (["date<1600000002000"], ["e0", "e1"]),
        (["date<=1600000002000"], ["e0", "e1", "e2"]),
        (["date>=1600000004000"], ["e4", "e5"]),
        (["date==1600000003000"], ["e3"]),
        (["eventName~sign*"], ["e0", "e1", "e2", "e3", "e4", "e5"]),
        (["eventName~sig?up;identifyId~*-2"], ["e2", "e5"]),
        (["eventName!~sign*"], []),
    ],
)
def test_list_filters(px: PX, filters: list[str], expected: list[str]) -> None:
    start = 1_600_000_000_000
    _seed_events(px, 6, start=start)
    params = {"filter": filters, "dateRangeStart": start, "dateRangeEnd": start + DAY_MS}
    body = px.get("events/custom", params).json()
    assert sorted(e["eventId"] for e in body["customEvents"]) == expected


def test_list_date_filter_alone_replaces_the_default_window(px: PX) -> None:
    start = 1_600_000_000_000
    _seed_events(px, 3, start=start)
    body = px.get("events/custom", {"filter": f"date>={start};date<={start + 1000}"}).json()
    assert [e["eventId"] for e in body["customEvents"]] == ["e0", "e1"]


@pytest.mark.parametrize("bad", ["accountId==x", "identifyId", "date>=yesterday", "date~1*"])
def test_list_bad_filter_is_400(px: PX, bad: str) -> None:
    assert px.get("events/custom", {"filter": bad}).status_code == 400


def test_list_sort(px: PX) -> None:
    start = 1_600_000_000_000
    px.state.seed(
        {
            "events": [
                event(eventId="a", date=start + 2, accountId="b"),
                event(eventId="b", date=start + 1, accountId="a"),
                event(eventId="c", date=start + 3, accountId="a"),
            ]
        }
    )
    window = {"dateRangeStart": start, "dateRangeEnd": start + 10}

    def by(sort: str) -> list[str]:
        return [
            e["eventId"] for e in px.get("events/custom", {**window, "sort": sort}).json()["customEvents"]
        ]

    assert by("date") == ["b", "a", "c"]
    assert by("-date") == ["c", "a", "b"]
    assert by("accountId;-date") == ["c", "b", "a"]
    assert px.get("events/custom", {**window, "sort": "eventName"}).status_code == 400


def test_list_bad_date_range_is_400(px: PX) -> None:
    assert px.get("events/custom", {"dateRangeStart": "yesterday"}).status_code == 400
    assert (
        px.get("events/custom", {"dateRangeStart": 2_000_000_000_000, "dateRangeEnd": 1_000}).status_code
        == 400
    )


# ---------------------------------------------------------------- users
def test_get_user_is_case_sensitive_and_404s(px: PX) -> None:
    px.state.seed({"users": [{"identifyId": "Nora@example.com", "email": "nora@example.com"}]})
    found = px.get("users/Nora@example.com")
    assert found.status_code == 200
    assert found.json()["identifyId"] == "Nora@example.com"
    assert found.json()["propertyKeys"]
    missing = px.get("users/nora@example.com")
    assert missing.status_code == 404
    assert missing.json()["message"] == "User not found"
    assert px.get("users/Nora@example.com", key=None).status_code == 401


def test_get_user_with_a_slash_in_its_id(px: PX) -> None:
    px.state.seed({"users": [{"identifyId": "team/1"}]})
    assert px.get("users/team%2F1").json()["identifyId"] == "team/1"


def test_list_users_pages(px: PX) -> None:
    px.state.seed({"users": [{"identifyId": f"u{i}"} for i in range(3)]})
    first = px.get("users", {"pageSize": 2}).json()
    assert [u["identifyId"] for u in first["users"]] == ["u0", "u1"]
    assert first["totalHits"] == 3
    second = px.get("users", {"pageSize": 2, "scrollId": first["scrollId"]}).json()
    assert [u["identifyId"] for u in second["users"]] == ["u2"]
    assert px.get("users", {"pageSize": 0}).status_code == 400
    assert px.get("users", key=None).status_code == 401


def test_seeded_user_without_id_is_refused(px: PX) -> None:
    with pytest.raises(ValueError, match="identifyId"):
        px.state.seed({"users": [{"email": "x@example.com"}]})


# ---------------------------------------------------------------- admin API and connection
def test_admin_routes_seed_and_inspect(px: PX) -> None:
    admin = f"{px.server.url}/_admin/gainsight_px"
    assert px.http.post(f"{admin}/seed", json={"users": [{"identifyId": "adm"}]}).status_code == 200
    assert px.post(event(eventId="x")).status_code == 201
    state = px.http.get(f"{admin}/state").json()
    assert state["users"] == ["adm"]
    assert state["events_received"] == 1


def test_connection_points_at_the_emulator_with_the_write_key(px: PX) -> None:
    conn = px.server.connection("gainsight_px")
    assert conn["host"] == px.base
    assert conn["host"].endswith("/gainsight_px/v1")
    assert conn["password"] == WRITE_KEY
    assert conn["extra"] == {"property_key": "AP-EMULATOR-2"}


def test_reset_forgets_everything(px: PX) -> None:
    px.state.seed({"write_keys": ["w9"], "users": [{"identifyId": "u"}]})
    assert px.post(event(), key="w9").status_code == 201
    px.server.emulator.reset()
    snap = px.state.snapshot()
    assert (snap["events_received"], snap["users"]) == (0, [])
    assert px.post(event(), key="w9").status_code == 401
