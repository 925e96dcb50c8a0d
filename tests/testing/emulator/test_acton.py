"""The Act-On emulator over real loopback HTTP: tokens, uploads, jobs, facts, listing, admin state."""

from __future__ import annotations

import csv
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from airflow_provider_events.testing.emulator import EmulatorServer
from airflow_provider_events.testing.emulator.acton import DOCUMENTED_DATE_FORMATS

HEADER = ["id", "name", "email", "date", "title", "note"]
FORM = {
    "destination": "Webinars",
    "firstrow": "Y",
    "fieldseparator": "COMMA",
    "quotecharacter": "DOUBLE_QUOTE",
    "customeventaction": "CUSTOM_ATTENDED",
    "emailcolidx": "2",
    "datecolidx": "3",
    "titlecolidx": "4",
    "notecolidx": "5",
    "titlecount": "1",
    "dateformat": "MM/dd/yyyy",
    "filename": "events.csv",
}
GATEWAY_401 = {"httpCode": "401", "httpMessage": "Unauthorized"}


class Acton:
    """A thin test client of the emulated Act-On API (real HTTP through one keep-alive session)."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.base = server.base_url("acton")
        self.conn = server.connection("acton")
        self.emu = server.emulator.vendor("acton")
        self.http = requests.Session()
        self._token: str | None = None

    def grant(self, **fields: str) -> requests.Response:
        return self.http.post(f"{self.base}/token", data=fields, timeout=10)

    def password_grant(self, **overrides: str) -> requests.Response:
        fields = {
            "grant_type": "password",
            "username": self.conn["login"],
            "password": self.conn["password"],
            **self.conn["extra"],
            **overrides,
        }
        return self.grant(**fields)

    def refresh_grant(self, refresh_token: str, **overrides: str) -> requests.Response:
        return self.grant(
            **{
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                **self.conn["extra"],
                **overrides,
            }
        )

    @property
    def token(self) -> str:
        if self._token is None:
            response = self.password_grant()
            assert response.status_code == 200, response.text
            self._token = response.json()["access_token"]
        return self._token

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def upload(self, content: bytes | None, *, part: str = "file", token: str | None = None, **fields: Any):
        form = {**FORM, **fields}
        form = {k: v for k, v in form.items() if v is not None}
        files = {part: ("events.csv", content, "text/csv")} if content is not None else {"unused": ("", b"")}
        return self.http.post(
            f"{self.base}/api/1/customevents", headers=self.auth(token), data=form, files=files, timeout=30
        )

    def status(self, job_id: str, token: str | None = None) -> requests.Response:
        return self.http.get(
            f"{self.base}/api/1/customevents/{job_id}/status", headers=self.auth(token), timeout=10
        )

    def wait(self, job_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.status(job_id).json()
            if "job is" not in body.get("status", ""):
                return body
            assert time.monotonic() < deadline, body
            time.sleep(0.02)

    def fact(self, files: bool = False, token: str | None = None, **fields: str) -> requests.Response:
        url = f"{self.base}/api/1/customevents/fact"
        if files:  # multipart
            parts = {k: (None, v) for k, v in fields.items()}
            return self.http.post(url, headers=self.auth(token), files=parts, timeout=10)
        return self.http.post(url, headers=self.auth(token), data=fields, timeout=10)

    def listing(self, token: str | None = None, **params: Any) -> requests.Response:
        params = {"listingtype": "custom_events", **params}
        return self.http.get(f"{self.base}/api/1/list", headers=self.auth(token), params=params, timeout=10)

    def seed(self, data: dict[str, Any]) -> None:
        response = self.http.post(f"{self.server.url}/_admin/acton/seed", json=data, timeout=10)
        assert response.status_code == 200, response.text

    def state(self) -> dict[str, Any]:
        response = self.http.get(f"{self.server.url}/_admin/acton/state", timeout=10)
        assert response.status_code == 200
        return response.json()


@pytest.fixture
def acton(emulator: EmulatorServer) -> Acton:
    client = Acton(emulator)
    # raw, unpaced calls: the 5 calls/s limit is tested on its own in tests/hooks/test_acton.py
    client.seed({"job_delays": {"pending": 0, "running": 0}, "api_calls_per_second": 0})
    return client


def make_csv(rows: list[list[str]], *, sep: str = ",", quote: str | None = '"', header: bool = True) -> bytes:
    out = io.StringIO()
    if quote is None:
        writer = csv.writer(
            out, delimiter=sep, quoting=csv.QUOTE_NONE, escapechar=None, lineterminator="\r\n"
        )
    else:
        writer = csv.writer(
            out, delimiter=sep, quotechar=quote, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n"
        )
    if header:
        writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def row(
    n: int,
    *,
    email: str | None = None,
    date: str = "01/25/2023",
    title: str = "Spring webinar",
    note: str = "",
) -> list[str]:
    return [str(n), f"name_{n}", email or f"user{n}@example.com", date, title, note]


# ----------------------------------------------------------------------------------------- tokens


def test_connection_carries_the_default_credentials(acton: Acton) -> None:
    conn = acton.conn
    assert conn["conn_type"] == "acton"
    assert conn["host"] == f"{acton.server.url}/acton"
    assert set(conn["extra"]) == {"client_id", "client_secret"}
    assert conn["login"]
    assert conn["password"]


def test_password_grant_returns_the_documented_body_and_a_working_token(acton: Acton) -> None:
    response = acton.password_grant()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "scope", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "offline-access"
    assert body["expires_in"] == 3600
    assert body["access_token"] != body["refresh_token"]
    assert acton.listing(token=body["access_token"]).status_code == 200
    assert acton.state()["logins"]["emulator@example.com"]["password_grants"] == 1


def test_grant_type_in_the_query_string_as_in_the_spec(acton: Acton) -> None:
    fields = {"username": acton.conn["login"], "password": acton.conn["password"], **acton.conn["extra"]}
    response = acton.http.post(f"{acton.base}/token?grant_type=password", data=fields, timeout=10)
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize("field", ["client_id", "client_secret"])
def test_bad_client_is_401_access_denied_and_costs_no_budget(acton: Acton, field: str) -> None:
    response = acton.password_grant(**{field: "wrong"})
    assert response.status_code == 401
    assert response.json() == {"error": "access_denied", "error_description": "Unauthorized"}
    counters = acton.state()["counters"]
    assert counters["bad_client"] == 1
    assert counters["password_grants"] == 0


@pytest.mark.parametrize("overrides", [{"password": "wrong"}, {"username": "nobody@example.com"}])
def test_wrong_email_or_password_is_403_invalid_grant(acton: Acton, overrides: dict[str, str]) -> None:
    response = acton.password_grant(**overrides)
    assert response.status_code == 403
    assert response.json() == {"error": "invalid_grant", "error_description": "Wrong email or password."}
    assert acton.state()["counters"]["password_grants_failed"] == 1


def test_username_is_case_insensitive(acton: Acton) -> None:
    assert acton.password_grant(username=acton.conn["login"].upper()).status_code == 200


def test_missing_or_unknown_grant_type_and_missing_fields(acton: Acton) -> None:
    no_grant = acton.grant(**acton.conn["extra"])
    assert no_grant.status_code == 400
    assert no_grant.json()["error"] == "unsupported_grant_type"
    no_user = acton.grant(grant_type="password", password="x", **acton.conn["extra"])
    assert no_user.status_code == 400
    assert no_user.json()["error"] == "invalid_request"


def test_refresh_rotates_and_the_used_refresh_token_dies(acton: Acton) -> None:
    first = acton.password_grant().json()
    second = acton.refresh_grant(first["refresh_token"])
    assert second.status_code == 200
    second_body = second.json()
    assert second_body["refresh_token"] != first["refresh_token"]
    assert second_body["access_token"] != first["access_token"]
    reused = acton.refresh_grant(first["refresh_token"])
    assert reused.status_code == 403
    assert reused.json() == {
        "error": "invalid_grant",
        "error_description": "Unknown or invalid refresh token.",
    }
    assert acton.listing(token=second_body["access_token"]).status_code == 200
    third = acton.refresh_grant(second_body["refresh_token"])
    assert third.status_code == 200
    state = acton.state()
    assert state["counters"]["refresh_grants"] == 3
    assert state["counters"]["refresh_grants_failed"] == 1
    assert state["counters"]["password_grants"] == 1
    assert state["logins"]["emulator@example.com"]["refresh_grants"] == 2


def test_a_new_token_kills_the_previous_refresh_token_of_the_same_client_and_user(acton: Acton) -> None:
    first = acton.password_grant().json()
    acton.password_grant()
    assert acton.refresh_grant(first["refresh_token"]).status_code == 403
    # ...but the access token of the first grant still works until it expires
    assert acton.listing(token=first["access_token"]).status_code == 200


def test_refresh_token_of_another_client_or_unknown_is_rejected(acton: Acton) -> None:
    acton.seed({"clients": [{"client_id": "other", "client_secret": "other-secret"}]})
    first = acton.password_grant().json()
    stolen = acton.refresh_grant(first["refresh_token"], client_id="other", client_secret="other-secret")
    assert stolen.status_code == 403
    assert acton.refresh_grant("not-a-token").status_code == 403
    bad_client = acton.refresh_grant(first["refresh_token"], client_secret="nope")
    assert bad_client.status_code == 401
    assert acton.refresh_grant(first["refresh_token"]).status_code == 200


def test_password_grant_budget_is_five_per_hour_and_refresh_does_not_count(acton: Acton) -> None:
    bodies = [acton.password_grant(password="wrong" if i == 0 else acton.conn["password"]) for i in range(5)]
    assert [b.status_code for b in bodies] == [403, 200, 200, 200, 200]
    over = acton.password_grant()
    assert over.status_code == 429
    assert over.json()["error"] == "too_many_requests"
    assert 3000 < int(over.headers["Retry-After"]) <= 3600
    # refresh still works once the budget is spent
    assert acton.refresh_grant(bodies[-1].json()["refresh_token"]).status_code == 200
    # another account has its own budget
    acton.seed({"accounts": [{"username": "second@example.com", "password": "pw2"}]})
    assert acton.password_grant(username="second@example.com", password="pw2").status_code == 200
    state = acton.state()
    assert state["counters"]["password_grants"] == 6
    assert state["counters"]["password_grants_over_budget"] == 1
    assert state["logins"]["emulator@example.com"] == {
        "password_grants": 5,
        "password_grants_failed": 1,
        "over_budget": 1,
        "refresh_grants": 1,
    }


def test_password_grant_budget_recovers_after_the_window(acton: Acton) -> None:
    acton.seed({"password_grant_window": 0.3, "password_grants_per_hour": 2, "auth_budget_status": 403})
    assert [acton.password_grant().status_code for _ in range(3)] == [200, 200, 403]
    time.sleep(0.35)
    assert acton.password_grant().status_code == 200


def test_access_token_expires_after_its_lifetime(acton: Acton) -> None:
    acton.seed({"token_lifetime": 0.3})
    body = acton.password_grant().json()
    assert body["expires_in"] == 1
    assert acton.listing(token=body["access_token"]).status_code == 200
    time.sleep(0.35)
    expired = acton.listing(token=body["access_token"])
    assert expired.status_code == 401
    assert expired.json().items() >= GATEWAY_401.items()
    assert acton.refresh_grant(body["refresh_token"]).status_code == 200


def test_revoked_tokens_and_expired_access_tokens(acton: Acton) -> None:
    body = acton.password_grant().json()
    acton.seed({"expire_access_tokens": True})
    assert acton.listing(token=body["access_token"]).status_code == 401
    renewed = acton.refresh_grant(body["refresh_token"]).json()
    assert acton.listing(token=renewed["access_token"]).status_code == 200
    acton.seed({"revoke_tokens": True})
    assert acton.listing(token=renewed["access_token"]).status_code == 401
    assert acton.refresh_grant(renewed["refresh_token"]).status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/1/customevents"),
        ("GET", "/api/1/customevents/123/status"),
        ("POST", "/api/1/customevents/fact"),
        ("GET", "/api/1/list?listingtype=custom_events"),
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
def test_every_api_call_needs_a_valid_bearer_token(
    acton: Acton, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = acton.http.request(method, f"{acton.base}{path}", headers=headers, timeout=10)
    assert response.status_code == 401
    body = response.json()
    assert body.items() >= GATEWAY_401.items()
    assert body["moreInformation"]
    assert acton.state()["counters"]["unauthorized"] == 1


# ----------------------------------------------------------------------------------------- upload


def test_upload_answers_a_job_id_and_the_job_reports_what_was_parsed(acton: Acton) -> None:
    content = make_csv([row(1), row(2, email="not-an-email"), row(3, title="Other")])
    response = acton.upload(content)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["jobId"].isdigit()
    done = acton.wait(body["jobId"])
    assert done["status"] == "success"
    assert done["details"]["status"] == "ok"
    assert done["details"]["appendCount"] == 2
    assert done["details"]["rejectedCount"] == 1
    assert json.loads(done["jobDetails"]) == done["details"]
    state = acton.state()
    assert [(e["email"], e["date"], e["title"], e["destination"], e["action"]) for e in state["events"]] == [
        ("user1@example.com", "2023-01-25", "Spring webinar", "Webinars", "CUSTOM_ATTENDED"),
        ("user3@example.com", "2023-01-25", "Other", "Webinars", "CUSTOM_ATTENDED"),
    ]
    job = state["jobs"][0]
    assert job["form"] == FORM
    assert job["file_bytes"] == len(content)
    assert job["new_titles"] == 2
    assert state["uploads"] == 1
    assert done["details"]["customEventsId"] == state["destinations"][0]["id"]


@pytest.mark.parametrize("separator", ["TAB", "COMMA", "SEMICOLON", "SPACE"])
@pytest.mark.parametrize("quote", ["NONE", "SINGLE_QUOTE", "DOUBLE_QUOTE"])
def test_each_separator_and_quote_character(acton: Acton, separator: str, quote: str) -> None:
    sep = {"TAB": "\t", "COMMA": ",", "SEMICOLON": ";", "SPACE": " "}[separator]
    quote_char = {"NONE": None, "SINGLE_QUOTE": "'", "DOUBLE_QUOTE": '"'}[quote]
    if quote_char is None:
        rows = [row(1, title="Plain_title", note="plain_note"), row(2, title="Second", note="n2")]
    else:
        rows = [
            row(1, title=f"Title{sep}with separator", note=f"{quote_char}quoted{quote_char}"),
            row(2, title="Second", note="n2"),
        ]
    content = make_csv(rows, sep=sep, quote=quote_char)
    response = acton.upload(content, fieldseparator=separator, quotecharacter=quote)
    assert response.status_code == 200, response.text
    assert acton.wait(response.json()["jobId"])["details"]["appendCount"] == 2
    events = acton.state()["events"]
    assert [(e["title"], e["note"]) for e in events] == [(r[4], r[5]) for r in rows]


def test_quote_characters_are_literal_when_quoting_is_none(acton: Acton) -> None:
    content = b'id,name,email,date,title,note\r\n1,n,a@example.com,01/25/2023,"Quoted",it\'s\r\n'
    response = acton.upload(content, quotecharacter="NONE")
    acton.wait(response.json()["jobId"])
    event = acton.state()["events"][0]
    assert (event["title"], event["note"]) == ('"Quoted"', "it's")


def test_header_row_handling(acton: Acton) -> None:
    rows = [row(1), row(2)]
    with_header = acton.upload(make_csv(rows), firstrow="Y").json()["jobId"]
    without_header = acton.upload(make_csv(rows, header=False), firstrow="N").json()["jobId"]
    header_as_data = acton.upload(make_csv(rows), firstrow="N").json()["jobId"]
    counts = {j: acton.wait(j)["details"] for j in (with_header, without_header, header_as_data)}
    assert (counts[with_header]["appendCount"], counts[with_header]["rejectedCount"]) == (2, 0)
    assert (counts[without_header]["appendCount"], counts[without_header]["rejectedCount"]) == (2, 0)
    assert (counts[header_as_data]["appendCount"], counts[header_as_data]["rejectedCount"]) == (2, 1)
    rejected = [r for r in acton.state()["rejected"] if r["job_id"] == header_as_data]
    assert rejected[0]["fields"] == HEADER
    assert rejected[0]["reason"] == "invalid email"


DATE_SAMPLES = {
    # every pattern of the upload documentation, with the documentation's own example value
    "MM/dd/yyyy": ["01/25/2023", "1/25/2023"],
    "dd/MM/yyyy": ["25/01/2023"],
    "MM/dd/yy": ["01/25/23", "01/25/2023"],
    "dd/MM/yy": ["25/01/23"],
    "yyyy/MM/dd": ["2023/01/25"],
    "MM-dd-yyyy": ["01-25-2023"],
    "dd-MM-yyyy": ["25-01-2023"],
    "MM-dd-yy": ["01-25-23", "01-25-2023"],
    "dd-MM-yy": ["25-01-23"],
    "yyyy-MM-dd": ["2023-01-25", " 2023-01-25 "],
    "dd MMM yyyy": ["25 Jan 2023", "25 JAN 2023", "25 January 2023"],
    "MMM dd yyyy": ["Jan 25 2023"],
    "dd MMMM yyyy": ["25 January 2023", "25 Jan 2023"],
    "EEE, dd MMM yyyy": ["Wed, 25 Jan 2023", "Tue, 25 Jan 2023"],
    "EEEE, dd MMMM yyyy": ["Wednesday, 25 January 2023"],
}
BAD_DATES = {
    "MM/dd/yyyy": ["25/01/2023", "02/30/2023", "2023-01-25", ""],
    "dd/MM/yyyy": ["01/25/2023"],
    "MM/dd/yy": ["01/25/123"],
    "yyyy-MM-dd": ["23-01-25"],
    "dd MMM yyyy": ["25 Jaunuary 2023", "25 13 2023"],
    "EEE, dd MMM yyyy": ["Xyz, 25 Jan 2023", "25 Jan 2023"],
    "EEEE, dd MMMM yyyy": ["Funday, 25 January 2023"],
}


def test_the_samples_cover_every_documented_pattern() -> None:
    assert set(DATE_SAMPLES) == set(DOCUMENTED_DATE_FORMATS)


@pytest.mark.parametrize("pattern", sorted(DATE_SAMPLES))
def test_each_documented_dateformat(acton: Acton, pattern: str) -> None:
    good, bad = DATE_SAMPLES[pattern], BAD_DATES.get(pattern, [])
    rows = [row(i, date=d) for i, d in enumerate(good + bad)]
    response = acton.upload(make_csv(rows), dateformat=pattern)
    assert response.status_code == 200, response.text
    details = acton.wait(response.json()["jobId"])["details"]
    assert (details["appendCount"], details["rejectedCount"]) == (len(good), len(bad))
    state = acton.state()
    assert [e["date"] for e in state["events"]] == ["2023-01-25"] * len(good)
    assert [e["date_text"] for e in state["events"]] == good
    assert {r["reason"] for r in state["rejected"]} <= {"unparsable date"}


def test_two_digit_years_use_javas_century_window(acton: Acton) -> None:
    rows = [row(1, date="01/25/99"), row(2, date="01/25/00")]
    acton.wait(acton.upload(make_csv(rows), dateformat="MM/dd/yy").json()["jobId"])
    assert [e["date"] for e in acton.state()["events"]] == ["1999-01-25", "2000-01-25"]


def test_seeded_extra_dateformat_with_time_is_accepted(acton: Acton) -> None:
    pattern = "yyyy-MM-dd'T'HH:mm:ss.SSS"
    assert acton.upload(make_csv([row(1)]), dateformat=pattern).status_code == 400
    acton.seed({"extra_dateformats": [pattern]})
    rows = [row(1, date="2023-01-25T10:11:12.345"), row(2, date="2023-01-25")]
    details = acton.wait(acton.upload(make_csv(rows), dateformat=pattern).json()["jobId"])["details"]
    assert (details["appendCount"], details["rejectedCount"]) == (1, 1)
    assert acton.state()["events"][0]["date"] == "2023-01-25T10:11:12.345000"


HOSTILE = [
    ("Comma, inside", "Quote \"double\" and 'single'"),
    ("Line\nbreak", "CRLF\r\nbreak"),
    ("Ünïcödé — 日本語 🎉", "  leading and trailing  "),
    ("semi;colon\ttab", "=cmd|' /C calc'!A0"),
    ("Backslash \\ end\\", ""),
]


@pytest.mark.parametrize(
    ("quote", "separator"),
    [
        ("DOUBLE_QUOTE", "COMMA"),
        ("SINGLE_QUOTE", "SEMICOLON"),
        ("DOUBLE_QUOTE", "TAB"),
        ("DOUBLE_QUOTE", "SPACE"),
    ],
)
def test_hostile_values_come_back_intact(acton: Acton, quote: str, separator: str) -> None:
    sep = {"TAB": "\t", "COMMA": ",", "SEMICOLON": ";", "SPACE": " "}[separator]
    quote_char = {"SINGLE_QUOTE": "'", "DOUBLE_QUOTE": '"'}[quote]
    rows = [row(i, email=f"o'brien+{i}@example.com", title=t, note=n) for i, (t, n) in enumerate(HOSTILE)]
    response = acton.upload(
        make_csv(rows, sep=sep, quote=quote_char), fieldseparator=separator, quotecharacter=quote
    )
    details = acton.wait(response.json()["jobId"])["details"]
    assert details["rejectedCount"] == 0
    events = acton.state()["events"]
    assert [(e["email"], e["title"], e["note"]) for e in events] == [(r[2], r[4], r[5]) for r in rows]


def test_utf8_bom_is_dropped(acton: Acton) -> None:
    content = "\ufeff" + "email,date,title\r\nbom@example.com,01/25/2023,Tïtle\r\n"
    response = acton.upload(
        content.encode("utf-8"), emailcolidx="0", datecolidx="1", titlecolidx="2", notecolidx=None
    )
    acton.wait(response.json()["jobId"])
    event = acton.state()["events"][0]
    assert (event["email"], event["title"], event["note"]) == ("bom@example.com", "Tïtle", None)


def test_rejected_rows_are_counted_with_their_reason(acton: Acton) -> None:
    rows = [
        row(1),
        row(2, email="missing-at.example.com"),
        row(3, email="user@"),
        row(4, date="2023-01-25"),
        row(5, title="   "),
        ["6", "short", "short@example.com"],
        row(7),
    ]
    content = make_csv(rows) + b"\r\n\r\n"  # trailing blank lines are not rows
    details = acton.wait(acton.upload(content).json()["jobId"])["details"]
    assert (details["appendCount"], details["rejectedCount"]) == (2, 5)
    reasons = [(r["record"], r["reason"]) for r in acton.state()["rejected"]]
    assert reasons == [
        (2, "invalid email"),
        (3, "invalid email"),
        (4, "unparsable date"),
        (5, "missing title"),
        (6, "row too short"),
    ]


INVALID_FIELDS = [
    ({"firstrow": "y"}, 10001, "firstrow"),
    ({"firstrow": "YES"}, 10001, "firstrow"),
    ({"fieldseparator": "PIPE"}, 10001, "fieldseparator"),
    ({"quotecharacter": "BACKTICK"}, 10001, "quotecharacter"),
    ({"customeventaction": "CUSTOM_GENERAL6"}, 10001, "customeventaction"),
    ({"customeventaction": "custom_general"}, 10001, "customeventaction"),
    ({"emailcolidx": "-1"}, 10001, "emailcolidx"),
    ({"datecolidx": "one"}, 10001, "datecolidx"),
    ({"titlecolidx": "6"}, 10001, "titlecolidx"),  # outside the 6 columns of the first row
    ({"notecolidx": "9"}, 10001, "notecolidx"),
    ({"titlecount": "many"}, 10001, "titlecount"),
    ({"dateformat": "yyyyMMdd"}, 10001, "dateformat"),
    ({"dateformat": "MM/dd/yyyy HH:mm"}, 10001, "dateformat"),
    ({"destination": None}, 10121, "destination"),
    ({"firstrow": None}, 10121, "firstrow"),
    ({"fieldseparator": None}, 10121, "fieldseparator"),
    ({"quotecharacter": None}, 10121, "quotecharacter"),
    ({"customeventaction": None}, 10121, "customeventaction"),
    ({"emailcolidx": None}, 10121, "emailcolidx"),
    ({"datecolidx": None}, 10121, "datecolidx"),
    ({"titlecolidx": None}, 10121, "titlecolidx"),
    ({"titlecount": None}, 10121, "titlecount"),
    ({"dateformat": None}, 10121, "dateformat"),
    ({"destination": ""}, 10121, "destination"),
]


@pytest.mark.parametrize(("fields", "code", "name"), INVALID_FIELDS)
def test_invalid_or_missing_form_fields_are_400(
    acton: Acton, fields: dict[str, Any], code: int, name: str
) -> None:
    response = acton.upload(make_csv([row(1)]), **fields)
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == code
    assert name in body["message"]
    state = acton.state()
    assert state["jobs"] == []
    assert state["counters"]["uploads_rejected"] == 1


def test_optional_fields_may_be_left_out(acton: Acton) -> None:
    response = acton.upload(make_csv([row(1)]), notecolidx=None, filename=None)
    assert response.status_code == 200
    acton.wait(response.json()["jobId"])
    assert acton.state()["events"][0]["note"] is None


def test_missing_file_is_10003(acton: Acton) -> None:
    response = acton.upload(None)
    assert response.status_code == 400
    assert response.json() == {"errorCode": 10003, "message": "Input file missing"}


def test_empty_file_is_10003(acton: Acton) -> None:
    response = acton.upload(b"")
    assert response.status_code == 400
    assert response.json()["errorCode"] == 10003


def test_part_named_File_is_tolerated(acton: Acton) -> None:
    response = acton.upload(make_csv([row(1)]), part="File")
    assert response.status_code == 200
    assert acton.wait(response.json()["jobId"])["details"]["appendCount"] == 1


def test_a_json_body_is_415(acton: Acton) -> None:
    response = acton.http.post(
        f"{acton.base}/api/1/customevents", headers=acton.auth(), json=FORM, timeout=10
    )
    assert response.status_code == 415


def test_too_large_upload_is_413(acton: Acton) -> None:
    content = make_csv([row(i) for i in range(40)])
    acton.seed({"max_upload_bytes": len(content) - 1})
    response = acton.upload(content)
    assert response.status_code == 413
    assert response.json()["httpCode"] == "413"
    acton.seed({"max_upload_bytes": len(content)})
    assert acton.upload(content).status_code == 200


def test_declared_body_far_above_the_limit_is_refused_early(acton: Acton) -> None:
    acton.seed({"max_upload_bytes": 10})
    content = make_csv([row(i) for i in range(30_000)])  # ~1.5 MB, above limit + the 1 MiB form slack
    response = acton.upload(content)
    assert response.status_code == 413


def test_concurrent_uploads_each_get_their_own_job(acton: Acton) -> None:
    token = acton.token

    def send(i: int) -> str:
        client = Acton(acton.server)
        client._token = token
        rows = [row(i * 100 + k) for k in range(20)]
        return client.upload(make_csv(rows), destination=f"Dest {i % 2}").json()["jobId"]

    with ThreadPoolExecutor(8) as pool:
        job_ids = list(pool.map(send, range(8)))
    assert len(set(job_ids)) == 8
    for job_id in job_ids:
        assert acton.wait(job_id)["details"]["appendCount"] == 20
    state = acton.state()
    assert len(state["events"]) == 160
    assert sorted(d["name"] for d in state["destinations"]) == ["Dest 0", "Dest 1"]


def test_a_larger_file_is_parsed_completely(acton: Acton) -> None:
    rows = [row(i, title=f"Title {i % 7}", note=f"note, {i}") for i in range(5000)]
    details = acton.wait(acton.upload(make_csv(rows)).json()["jobId"])["details"]
    assert (details["appendCount"], details["rejectedCount"]) == (5000, 0)
    events = acton.emu.events()
    assert events[4999]["note"] == "note, 4999"


# ------------------------------------------------------------------------------------------- jobs


def test_job_goes_pending_then_running_then_success(acton: Acton) -> None:
    acton.seed({"job_delays": {"pending": 0.2, "running": 0.2}})
    job_id = acton.upload(make_csv([row(1)])).json()["jobId"]
    seen = []
    while not seen or seen[-1] != "success":
        body = acton.status(job_id).json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] != "success":
            assert set(body) == {"status"}
            snap = acton.state()
            if snap["jobs"][0]["state"] != "done":
                assert snap["events"] == []  # nothing lands before the job is done
        time.sleep(0.03)
    assert seen == ["The job is pending", "The job is running", "success"]
    assert len(acton.state()["events"]) == 1


def test_next_job_delays_override_one_job(acton: Acton) -> None:
    acton.seed({"next_job_delays": {"pending": 5, "running": 0}})
    slow = acton.upload(make_csv([row(1)])).json()["jobId"]
    fast = acton.upload(make_csv([row(2)])).json()["jobId"]
    assert acton.status(slow).json() == {"status": "The job is pending"}
    assert acton.status(fast).json()["status"] == "success"


def test_failed_job(acton: Acton) -> None:
    acton.seed(
        {"fail_next_job": "Import failed: storage unavailable", "fail_destinations": {"Broken": "bad"}}
    )
    failed = acton.upload(make_csv([row(1)])).json()["jobId"]
    ok = acton.upload(make_csv([row(2)])).json()["jobId"]
    broken = acton.upload(make_csv([row(3)]), destination="Broken").json()["jobId"]
    assert acton.wait(failed) == {"status": "failed", "message": "Import failed: storage unavailable"}
    assert acton.wait(ok)["status"] == "success"
    assert acton.wait(broken) == {"status": "failed", "message": "bad"}
    state = acton.state()
    assert [e["email"] for e in state["events"]] == ["user2@example.com"]
    assert {j["job_id"]: j["state"] for j in state["jobs"]} == {
        failed: "failed",
        ok: "done",
        broken: "failed",
    }


def test_fail_job_from_python(acton: Acton) -> None:
    acton.seed({"job_delays": {"pending": 0.1, "running": 0}})
    job_id = acton.upload(make_csv([row(1)])).json()["jobId"]
    acton.emu.fail_job(job_id, "boom")
    assert acton.wait(job_id) == {"status": "failed", "message": "boom"}


def test_unknown_and_expired_jobs_are_10017(acton: Acton) -> None:
    expected = {"errorCode": 10017, "message": "Invalid or expired Job Id"}
    unknown = acton.status("999")
    assert (unknown.status_code, unknown.json()) == (400, expected)
    job_id = acton.upload(make_csv([row(1)])).json()["jobId"]
    assert acton.wait(job_id)["status"] == "success"
    acton.seed({"expire_jobs": [job_id]})
    expired = acton.status(job_id)
    assert (expired.status_code, expired.json()) == (400, expected)
    assert len(acton.state()["events"]) == 1  # what a finished job appended stays


def test_jobs_expire_after_their_ttl(acton: Acton) -> None:
    acton.seed({"job_ttl_seconds": 0.2})
    job_id = acton.upload(make_csv([row(1)])).json()["jobId"]
    assert acton.status(job_id).json()["status"] == "success"
    time.sleep(0.25)
    assert acton.status(job_id).json()["errorCode"] == 10017


def test_job_ids_do_not_come_back_after_a_reset(acton: Acton) -> None:
    first = acton.upload(make_csv([row(1)])).json()["jobId"]
    acton.server.emulator.reset()
    fresh = Acton(acton.server)
    assert acton.status(first).status_code == 401  # the reset forgot the tokens too
    assert fresh.status(first).json()["errorCode"] == 10017
    second = fresh.upload(make_csv([row(1)])).json()["jobId"]
    assert int(second) > int(first)


# ------------------------------------------------------------------------------------------- fact

FACT = {
    "destination": "Trade shows",
    "createlistingentry": "true",
    "customeventaction": "CUSTOM_GENERAL2",
    "email": "visitor@example.com",
    "when": "25 Jan 2023",
    "title": "Booth visit, hall 3",
    "note": 'Ünïcödé "note"',
    "dateformat": "dd MMM yyyy",
}


@pytest.mark.parametrize("multipart", [False, True])
def test_fact_is_recorded(acton: Acton, multipart: bool) -> None:
    response = acton.fact(files=multipart, **FACT)
    assert response.status_code == 200
    assert response.json() == {"status": "success"}
    fact = acton.state()["facts"][0]
    assert fact["destination"] == "Trade shows"
    assert fact["action"] == "CUSTOM_GENERAL2"
    assert fact["email"] == "visitor@example.com"
    assert fact["date"] == "2023-01-25"
    assert fact["title"] == "Booth visit, hall 3"
    assert fact["note"] == 'Ünïcödé "note"'
    assert fact["created_destination"] is True
    assert acton.listing().json()["result"][0]["name"] == "Trade shows"


def test_fact_needs_an_existing_destination_unless_asked_to_create_it(acton: Acton) -> None:
    missing = acton.fact(**{**FACT, "createlistingentry": "false"})
    assert missing.status_code == 400
    assert missing.json()["errorCode"] == 10004
    omitted = {k: v for k, v in FACT.items() if k != "createlistingentry"}
    assert acton.fact(**omitted).status_code == 400
    acton.seed({"destinations": ["Trade shows"]})
    assert acton.fact(**omitted).status_code == 200
    assert acton.state()["facts"][0]["created_destination"] is False


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"email": "not-an-email"}, 10001),
        ({"when": "2023-01-25"}, 10001),
        ({"dateformat": "dd.MM.yyyy"}, 10001),
        ({"customeventaction": "CUSTOM_OTHER"}, 10001),
        ({"createlistingentry": "maybe"}, 10001),
        ({"title": ""}, 10121),
        ({"email": None}, 10121),
        ({"when": None}, 10121),
        ({"destination": None}, 10121),
    ],
)
def test_fact_validation(acton: Acton, change: dict[str, Any], code: int) -> None:
    fields = {k: v for k, v in {**FACT, **change}.items() if v is not None}
    response = acton.fact(**fields)
    assert response.status_code == 400
    assert response.json()["errorCode"] == code
    assert acton.state()["facts"] == []


def test_fact_needs_a_form_body(acton: Acton) -> None:
    response = acton.http.post(
        f"{acton.base}/api/1/customevents/fact", headers=acton.auth(), json=FACT, timeout=10
    )
    assert response.status_code == 415


# ------------------------------------------------------------------------------------------- list


def test_list_pages_the_destinations(acton: Acton) -> None:
    acton.seed({"destinations": ["Alpha", {"name": "Beta", "folderName": "Events folder"}]})
    acton.wait(acton.upload(make_csv([row(1), row(2)]), destination="Gamma").json()["jobId"])
    full = acton.listing().json()
    assert (full["offset"], full["count"], full["totalCount"]) == (0, 3, 3)
    assert [d["name"] for d in full["result"]] == ["Alpha", "Beta", "Gamma"]
    assert full["result"][1]["folderName"] == "Events folder"
    assert {"id", "name", "folderName"} <= set(full["result"][0])
    assert full["result"][2]["sourceSize"] == "2"
    page = acton.listing(count=1, offset=1).json()
    assert (page["offset"], page["count"], page["totalCount"]) == (1, 1, 3)
    assert page["result"][0]["name"] == "Beta"
    assert acton.listing(count=5000).json()["count"] == 3
    assert acton.listing(offset=10).json()["result"] == []


def test_list_of_other_or_unknown_listing_types(acton: Acton) -> None:
    acton.seed({"destinations": ["Alpha"]})
    assert acton.listing(listingtype="contact_list").json()["totalCount"] == 0
    bad = acton.listing(listingtype="nonsense")
    assert bad.status_code == 400
    assert bad.json()["errorCode"] == 10001
    assert acton.listing(count=-1).status_code == 400


# ------------------------------------------------------------------------------------------ admin


def test_admin_state_route_is_json_and_complete(acton: Acton) -> None:
    acton.wait(acton.upload(make_csv([row(1), row(2, email="bad")])).json()["jobId"])
    acton.fact(**FACT)
    state = acton.state()
    assert {"jobs", "events", "rejected", "facts", "counters", "logins", "destinations", "uploads"} <= set(
        state
    )
    job = state["jobs"][0]
    assert (job["state"], job["appendCount"], job["rejectedCount"], job["rows"]) == ("done", 1, 1, 2)
    assert "file" not in job["form"]
    assert state["rejected"][0]["reason"] == "invalid email"
    assert state["counters"]["status_polls"] >= 1
    assert state["counters"]["facts"] == 1
    assert state["counters"]["password_grants"] == 1
    assert state == acton.emu.snapshot()  # the Python view and the HTTP view agree
