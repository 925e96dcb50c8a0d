"""ActOnAdapter: validation, CSV writing, every documented dateformat, checkpointed re-attach."""
# ruff: noqa: RUF001 - the en dash is one of the hostile, non-ASCII test values

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_events.adapters.acton import STATE_KEY, ActOnAdapter
from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError
from airflow_provider_events.hooks.acton import ActOnHook, format_acton_date, parse_acton_date
from airflow_provider_events.hooks.acton_csv import split_csv_file
from airflow_provider_events.sync.adapter import PreparedEvent, adapter_class_for
from airflow_provider_events.sync.checkpoint import LocalCheckpoint
from airflow_provider_events.testing.emulator.acton import DOCUMENTED_DATE_FORMATS

SEED_EXAMPLES = {  # the seed's own examples for 25 Jan 2023 (a Wednesday)
    "MM/dd/yyyy": "01/25/2023",
    "dd/MM/yyyy": "25/01/2023",
    "dd/MM/yy": "25/01/23",
    "yyyy/MM/dd": "2023/01/25",
    "MM-dd-yyyy": "01-25-2023",
    "dd-MM-yyyy": "25-01-2023",
    "dd-MM-yy": "25-01-23",
    "yyyy-MM-dd": "2023-01-25",
    "dd MMM yyyy": "25 Jan 2023",
    "MMM dd yyyy": "Jan 25 2023",
    "dd MMMM yyyy": "25 January 2023",
    "EEE, dd MMM yyyy": "Wed, 25 Jan 2023",
    "EEEE, dd MMMM yyyy": "Wednesday, 25 January 2023",
}


def adapter(**options: Any) -> ActOnAdapter:
    opts = {
        "destination": "Adapter",
        "customeventaction": "CUSTOM_ATTENDED",
        "poll_interval": 0.05,
        **options,
    }
    return ActOnAdapter(ActOnHook(), opts)


def events(ad: ActOnAdapter, records: list[dict[str, Any]]) -> Iterator[PreparedEvent]:
    for number, record in enumerate(records, 1):
        yield PreparedEvent(number, f"k{number}", ad.prepare(record, f"k{number}"))


def test_registered_for_the_engine() -> None:
    assert adapter_class_for("acton") is ActOnAdapter


@pytest.mark.parametrize("pattern", DOCUMENTED_DATE_FORMATS)
def test_pattern_formatting_matches_the_seed(pattern: str) -> None:
    text = format_acton_date(date(2023, 1, 25), pattern)
    if pattern in SEED_EXAMPLES:
        assert text == SEED_EXAMPLES[pattern]
    assert parse_acton_date(text, pattern).date() == date(2023, 1, 25)


def test_names_are_english_whatever_the_locale(monkeypatch: Any) -> None:
    import contextlib
    import locale

    with contextlib.suppress(locale.Error):  # may not be installed: the formatter ignores the locale anyway
        locale.setlocale(locale.LC_TIME, "de_DE.UTF-8")
    try:
        assert format_acton_date(date(2023, 3, 7), "EEEE, dd MMMM yyyy") == "Tuesday, 07 March 2023"
    finally:
        locale.setlocale(locale.LC_TIME, "C")
    with pytest.raises(ConfigurationError):
        format_acton_date(date(2023, 3, 7), "yyyy-ww")


def test_every_documented_dateformat_is_accepted_by_the_emulator(acton: Any, tmp_path: Path) -> None:
    dates = [date(2023, 1, 5), date(2024, 2, 29), datetime(2024, 9, 30, 23, 59), date(1999, 12, 31)]
    for pattern in DOCUMENTED_DATE_FORMATS:
        ad = adapter(dateformat=pattern, destination=f"Dates {pattern}")
        records = [{"email": f"d{i}@example.com", "date": d, "title": "Dated"} for i, d in enumerate(dates)]
        outcome = ad.deliver(
            events(ad, records), LocalCheckpoint(tmp_path / pattern.replace("/", "_")), wait=True
        )
        assert (outcome.accepted, outcome.rejected_by_vendor) == (4, 0), pattern
        got = [e["date"] for e in acton.events(f"Dates {pattern}")]
        expected = [(d.date() if isinstance(d, datetime) else d).isoformat() for d in dates]
        if "yy" in pattern and "yyyy" not in pattern:
            expected[3] = "1999-12-31"  # Java's century window keeps 99 in the 1900s
        assert got == expected, pattern


def test_prepare_validates_and_normalises(acton: Any) -> None:
    ad = adapter(dateformat="dd MMM yyyy")
    row = ad.prepare({"email": " a@example.com ", "date": "2024-01-25T10:00:00Z", "title": 7}, "k")
    assert (row.email, row.date, row.title, row.note) == ("a@example.com", "25 Jan 2024", "7", "")
    assert ad.prepare({"email": "a@b.io", "date": "25 Jan 2024", "title": "t"}, "k").date == "25 Jan 2024"
    aware = datetime(2024, 1, 25, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert ad.prepare({"email": "a@b.io", "date": aware, "title": "t"}, "k").date == "25 Jan 2024"
    for record, field in [
        ({"email": "nope", "date": date(2024, 1, 1), "title": "t"}, "email"),
        ({"email": None, "date": date(2024, 1, 1), "title": "t"}, "email"),
        ({"email": "a@b.io", "date": None, "title": "t"}, "date"),
        ({"email": "a@b.io", "date": "01/25/2024", "title": "t"}, "date"),
        ({"email": "a@b.io", "date": 1706140800, "title": "t"}, "date"),
        ({"email": "a@b.io", "date": date(2024, 1, 1), "title": "  "}, "title"),
    ]:
        with pytest.raises(InvalidRecordError) as err:
            ad.prepare(record, "k")
        assert err.value.field == field
        assert "nope" not in str(err.value)  # payload-free reasons
    with pytest.raises(ConfigurationError):
        ad.prepare({"email": "a@b.io", "date": date(2024, 1, 1), "title": "t", "colour": "x"}, "k")
    unquoted = adapter(quotecharacter="NONE")
    with pytest.raises(InvalidRecordError, match="separator"):
        unquoted.prepare({"email": "a@b.io", "date": date(2024, 1, 1), "title": "a,b"}, "k")


def test_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="unknown destination_options"):
        ActOnAdapter(ActOnHook(), {"destination": "x", "customeventaction": "CUSTOM_GENERAL", "bogus": 1})
    with pytest.raises(ConfigurationError, match="customeventaction"):
        ActOnAdapter(ActOnHook(), {"destination": "x", "customeventaction": "CLICKED"})
    with pytest.raises(ConfigurationError, match="fieldseparator"):
        ActOnAdapter(
            ActOnHook(), {"destination": "x", "customeventaction": "CUSTOM_GENERAL", "fieldseparator": "PIPE"}
        )


HOSTILE_RECORDS = [
    {"email": "ann@example.com", "date": date(2023, 1, 25), "title": "Webinar, part 1", "note": 'say "hi"'},
    {"email": "bob@example.com", "date": date(2023, 1, 26), "title": "Zürich – café ☕", "note": "a\nb\r\nc"},
    {"email": "cy@example.com", "date": date(2023, 1, 27), "title": "Webinar, part 1", "note": None},
    {"email": "dee@example.com", "date": date(2023, 1, 28), "title": "tab\there;semi", "note": "'single'"},
]


def test_deliver_writes_a_csv_the_emulator_reads_back_intact(acton: Any, tmp_path: Path) -> None:
    ad = adapter(dateformat="MM/dd/yyyy")
    state = LocalCheckpoint(tmp_path / "ck")
    outcome = ad.deliver(events(ad, HOSTILE_RECORDS), state, wait=True)
    assert (outcome.sent, outcome.accepted, outcome.rejected_by_vendor) == (4, 4, 0)
    got = [(e["email"], e["date_text"], e["title"], e["note"]) for e in acton.events("Adapter")]
    want = [
        (r["email"], r["date"].strftime("%m/%d/%Y"), r["title"], r["note"] or "") for r in HOSTILE_RECORDS
    ]
    assert got == want
    (job,) = acton.snapshot()["jobs"]
    assert job["form"]["titlecount"] == "3"  # distinct titles computed
    assert job["form"]["customeventaction"] == "CUSTOM_ATTENDED"
    assert state.get(STATE_KEY)["job_ids"] == outcome.job_ids
    assert not list(Path(state.spool_dir).rglob("*.csv"))  # spool removed once uploaded


def test_deliver_splits_above_the_size_limit(acton: Any, tmp_path: Path) -> None:
    records = [
        {
            "email": f"u{i}@example.com",
            "date": date(2023, 1, 1 + i % 28),
            "title": f"T{i % 3}",
            "note": "x\ny",
        }
        for i in range(60)
    ]
    ad = adapter(max_upload_bytes=800, titlecount=5)
    outcome = ad.deliver(events(ad, records), LocalCheckpoint(tmp_path / "ck"), wait=True)
    assert len(outcome.job_ids) > 2
    assert (outcome.sent, outcome.accepted, outcome.rejected_by_vendor) == (60, 60, 0)
    jobs = acton.snapshot()["jobs"]
    assert all(j["file_bytes"] <= 800 and j["form"]["titlecount"] == "5" for j in jobs)


def test_retried_delivery_reattaches_without_reading_the_source(acton: Any, tmp_path: Path) -> None:
    acton.seed({"next_job_delays": {"pending": 0.3, "running": 0.3}})
    state = LocalCheckpoint(tmp_path / "ck")
    ad = adapter()
    first = ad.deliver(events(ad, HOSTILE_RECORDS), state, wait=False)
    assert first.pending
    assert len(first.job_ids) == 1

    def must_not_be_read() -> Iterator[PreparedEvent]:
        raise AssertionError("the source was read again")
        yield  # pragma: no cover

    again = adapter().deliver(must_not_be_read(), state, wait=True)
    assert again.job_ids == first.job_ids
    assert (again.sent, again.accepted) == (4, 4)
    assert acton.snapshot()["uploads"] == 1
    # and once the results are recorded, a further retry does not even poll
    polls = acton.snapshot()["counters"]["status_polls"]
    adapter().deliver(must_not_be_read(), state, wait=True)
    assert acton.snapshot()["counters"]["status_polls"] == polls


def test_nothing_to_deliver(acton: Any, tmp_path: Path) -> None:
    outcome = adapter().deliver(iter(()), LocalCheckpoint(tmp_path / "ck"), wait=True)
    assert (outcome.sent, outcome.job_ids) == (0, [])
    assert acton.snapshot()["uploads"] == 0


def test_spooled_parts_are_cut_where_row_by_row_writing_cuts_them(tmp_path: Path) -> None:
    """Blocks of rows are written whole only when they fit: the parts equal a greedy row-by-row split."""
    records = [
        {
            "email": f"user{i}@example.com",
            "date": "2023-01-25",
            "title": f"T{i % 7}",
            "note": "n" if i % 9 else "",
        }
        for i in range(1600)
    ]
    ad = adapter(max_upload_bytes=40_000)
    parts = ad._spool(events(ad, records), tmp_path / "spool")
    whole = tmp_path / "whole.csv"
    rows = [ad.prepare(r, "k") for r in records]
    with open(whole, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, **ad.layout.writer_kwargs())
        writer.writerow(("email", "date", "title", "note"))
        writer.writerows((r.email, r.date, r.title, r.note) for r in rows)
    expected = split_csv_file(whole, ad.layout, 40_000, tmp_path / "expected")
    assert len(parts) == len(expected) >= 2
    assert [Path(p["path"]).read_bytes() for p in parts] == [e.read_bytes() for e in expected]
    assert sum(p["rows"] for p in parts) == 1600
    assert all(p["titles"] == 7 and p["has_note"] for p in parts)


def test_a_date_text_gets_the_same_answer_every_time(acton: Any) -> None:
    ad = adapter(dateformat="dd MMM yyyy")
    for _ in range(2):
        assert ad.prepare({"email": "a@b.io", "date": "2024-01-25", "title": "t"}, "k").date == "25 Jan 2024"
        with pytest.raises(InvalidRecordError) as err:
            ad.prepare({"email": "a@b.io", "date": "01/25/2024", "title": "t"}, "k")
        assert err.value.field == "date"
        assert "neither ISO 8601" in err.value.reason
