"""ActOnAdapter: validation, CSV writing, every documented dateformat, checkpointed re-attach."""
# ruff: noqa: RUF001 - the en dash is one of the hostile, non-ASCII test values

from __future__ import annotations

import csv
import io
import random
import shutil
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_events.adapters.acton import STATE_KEY, ActOnAdapter, ActOnRow
from airflow_provider_events.adapters.acton_parts import BackgroundUpload, PartSpool, SpooledPart
from airflow_provider_events.exceptions import ConfigurationError, EventsProviderError, InvalidRecordError
from airflow_provider_events.hooks.acton import ActOnHook, format_acton_date, parse_acton_date
from airflow_provider_events.hooks.acton_csv import CsvLayout, split_csv_file
from airflow_provider_events.sync.adapter import PreparedBlock, PreparedEvent, adapter_class_for
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


def as_blocks(events: Iterable[PreparedEvent], size: int = 50) -> Iterator[PreparedBlock]:
    """The events in blocks of ``size``, as the engine hands them to a batch delivery."""
    iterator = iter(events)
    while batch := list(islice(iterator, size)):
        yield PreparedBlock.of(batch)


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
            as_blocks(events(ad, records)), LocalCheckpoint(tmp_path / pattern.replace("/", "_")), wait=True
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
    outcome = ad.deliver(as_blocks(events(ad, HOSTILE_RECORDS)), state, wait=True)
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
    outcome = ad.deliver(as_blocks(events(ad, records)), LocalCheckpoint(tmp_path / "ck"), wait=True)
    assert len(outcome.job_ids) > 2
    assert (outcome.sent, outcome.accepted, outcome.rejected_by_vendor) == (60, 60, 0)
    jobs = acton.snapshot()["jobs"]
    assert all(j["file_bytes"] <= 800 and j["form"]["titlecount"] == "5" for j in jobs)


def test_retried_delivery_reattaches_without_reading_the_source(acton: Any, tmp_path: Path) -> None:
    acton.seed({"next_job_delays": {"pending": 0.3, "running": 0.3}})
    state = LocalCheckpoint(tmp_path / "ck")
    ad = adapter()
    first = ad.deliver(as_blocks(events(ad, HOSTILE_RECORDS)), state, wait=False)
    assert first.pending
    assert len(first.job_ids) == 1

    def must_not_be_read() -> Iterator[PreparedEvent]:
        raise AssertionError("the source was read again")
        yield  # pragma: no cover

    again = adapter().deliver(as_blocks(must_not_be_read()), state, wait=True)
    assert again.job_ids == first.job_ids
    assert (again.sent, again.accepted) == (4, 4)
    assert acton.snapshot()["uploads"] == 1
    # and once the results are recorded, a further retry does not even poll
    polls = acton.snapshot()["counters"]["status_polls"]
    adapter().deliver(as_blocks(must_not_be_read()), state, wait=True)
    assert acton.snapshot()["counters"]["status_polls"] == polls


def test_nothing_to_deliver(acton: Any, tmp_path: Path) -> None:
    outcome = adapter().deliver(as_blocks(iter(())), LocalCheckpoint(tmp_path / "ck"), wait=True)
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
    parts: list[SpooledPart] = []
    # blocks larger than the spool's encoding block, with empty ones between: the same parts
    empty: PreparedBlock = PreparedBlock([], [], [])
    blocks = (b for block in as_blocks(events(ad, records), size=1_234) for b in (empty, block))
    PartSpool(tmp_path / "spool", ad.layout, ad.part_bytes).write_all(blocks, parts.append)
    whole = tmp_path / "whole.csv"
    rows = [ad.prepare(r, "k") for r in records]
    with open(whole, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, **ad.layout.writer_kwargs())
        writer.writerow(("email", "date", "title", "note"))
        writer.writerows((r.email, r.date, r.title, r.note) for r in rows)
    expected = split_csv_file(whole, ad.layout, 40_000, tmp_path / "expected")
    assert len(parts) == len(expected) >= 2
    assert [p.path.read_bytes() for p in parts] == [e.read_bytes() for e in expected]
    assert sum(p.rows for p in parts) == 1600
    assert parts[-1].last_row == 1600
    assert [p.final for p in parts] == [False] * (len(parts) - 1) + [True]
    assert all(len(p.titles) == 7 and p.has_note for p in parts)


@pytest.mark.parametrize(
    ("fieldseparator", "quotecharacter"),
    [("COMMA", "DOUBLE_QUOTE"), ("SEMICOLON", "SINGLE_QUOTE"), ("TAB", "DOUBLE_QUOTE"), ("COMMA", "NONE")],
)
def test_a_block_is_encoded_byte_for_byte_as_the_csv_writer_would(
    tmp_path: Path, fieldseparator: str, quotecharacter: str
) -> None:
    """Blocks with nothing to quote are joined directly; any separator, quote or line break falls back."""
    rng = random.Random(18)
    layout = CsvLayout(fieldseparator, quotecharacter)
    pieces = ["a", "b c", "é", "日本", ",", ";", "\t", '"', "'", "\n", "\r\n", " ", "", "x@y.io"]
    unquoted = layout.quotechar is None
    spool = PartSpool(tmp_path / "spool", layout, 1 << 20)
    buffer = io.StringIO()
    writer = csv.writer(buffer, **layout.writer_kwargs())
    for trial in range(300):
        plain = trial % 2 == 0  # half the blocks hold nothing to quote (the direct join), half may
        choices = pieces[:4] + pieces[-2:] if plain else pieces
        rows = [
            ActOnRow(*("".join(rng.choice(choices) for _ in range(rng.randint(0, 4))) for _field in range(4)))
            for _row in range(rng.randint(1, 30))
        ]
        if unquoted and not plain:
            continue  # the adapter rejects such values before they reach a block without quoting
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(rows)
        assert spool._encode_block(rows) == buffer.getvalue().encode("utf-8"), rows


def pipelined_records(count: int) -> list[dict[str, Any]]:
    return [
        {"email": f"p{i}@example.com", "date": "2023-01-25", "title": f"T{i % 4}", "note": ""}
        for i in range(count)
    ]


def test_parts_are_uploaded_as_they_are_written(acton: Any, tmp_path: Path) -> None:
    """With ``part_bytes`` below the spool's size every part is its own job, named name.partN.csv."""
    records = pipelined_records(400)
    ad = adapter(part_bytes=4_000, filename="attended.csv")
    state = LocalCheckpoint(tmp_path / "ck")
    outcome = ad.deliver(as_blocks(events(ad, records)), state, wait=True)
    jobs = acton.snapshot()["jobs"]
    assert len(jobs) == len(outcome.job_ids) >= 4
    assert (outcome.sent, outcome.accepted, outcome.rejected_by_vendor) == (400, 400, 0)
    assert [j["filename"] for j in jobs] == [f"attended.part{n}.csv" for n in range(1, len(jobs) + 1)]
    assert all(j["file_bytes"] <= 4_000 for j in jobs)
    assert [e["email"] for e in acton.events("Adapter")] == [r["email"] for r in records]
    record = state.get(STATE_KEY)
    assert record["complete"]
    assert record["job_ids"] == outcome.job_ids
    assert sum(p["rows"] for p in record["parts"]) == 400
    assert record["parts"][-1]["last_row"] == 400
    assert not list(Path(state.spool_dir).rglob("*.csv"))


class KnownAtTheWait(ActOnHook):
    """The real hook, noting which jobs the adapter already knew finished when its wait began."""

    known_at_wait: dict[str, Any] | None = None

    def wait_for_custom_event_jobs(self, job_ids: Any, **kwargs: Any) -> Any:
        self.known_at_wait = dict(kwargs.get("known") or {})
        return super().wait_for_custom_event_jobs(job_ids, **kwargs)


@pytest.mark.parametrize("wait", [True, False])
def test_each_upload_looks_once_at_the_previous_job_when_the_run_waits(
    acton: Any, tmp_path: Path, wait: bool
) -> None:
    """Jobs Act-On finished while later parts were written are recorded then, so the wait polls only the
    rest; a run that does not wait spends no status call."""
    records = pipelined_records(2_000)
    hook = KnownAtTheWait()
    options = {"destination": "Adapter", "customeventaction": "CUSTOM_ATTENDED", "poll_interval": 0.05}
    ad = ActOnAdapter(hook, {**options, "part_bytes": 16_000})

    def slow_source() -> Iterator[PreparedEvent]:
        for event in events(ad, records):
            if event.row_number % 100 == 0:  # ~0.5 s a part: the emulator finishes a job in 0.1 s
                time.sleep(0.1)
            yield event

    outcome = ad.deliver(as_blocks(slow_source()), LocalCheckpoint(tmp_path / "ck"), wait=wait)
    assert len(outcome.job_ids) >= 4
    if wait:
        assert hook.known_at_wait is not None
        # the jobs of the parts written while later ones were (the last two go up back to back at the end)
        assert set(hook.known_at_wait) <= set(outcome.job_ids[:-1])
        assert len(hook.known_at_wait) >= 1
        assert outcome.accepted == 2_000
    else:
        assert acton.snapshot()["counters"]["status_polls"] == 0


def test_a_retry_on_another_worker_resumes_after_the_uploaded_parts(acton: Any, tmp_path: Path) -> None:
    """The source fails half-way; the retry (its spool directory gone) uploads only the rows not yet sent."""
    records = pipelined_records(2_000)
    state = LocalCheckpoint(tmp_path / "ck")

    def failing_source(ad: ActOnAdapter) -> Iterator[PreparedEvent]:
        for event in events(ad, records):
            if event.row_number == 1_600:
                raise OSError("the warehouse connection dropped")
            yield event

    first = adapter(part_bytes=4_000)
    with pytest.raises(OSError, match="warehouse connection dropped"):
        first.deliver(as_blocks(failing_source(first)), state, wait=True)
    recorded = state.get(STATE_KEY)
    assert not recorded.get("complete")
    uploaded_rows = sum(p["rows"] for p in recorded["parts"])
    assert 1_000 < uploaded_rows < 1_600  # the parts finished before the failure went up, and were recorded
    assert len(acton.snapshot()["jobs"]) == len(recorded["job_ids"])

    shutil.rmtree(state.spool_dir, ignore_errors=True)  # another worker: nothing of the first on disk
    retry = adapter(part_bytes=4_000)
    outcome = retry.deliver(as_blocks(events(retry, records)), state, wait=True)
    assert outcome.job_ids[: len(recorded["job_ids"])] == recorded["job_ids"]
    assert (outcome.sent, outcome.accepted) == (2_000, 2_000)
    emails = [e["email"] for e in acton.events("Adapter")]
    assert sorted(emails) == sorted(r["email"] for r in records)  # each row exactly once
    assert len(emails) == len(set(emails)) == 2_000


@pytest.mark.parametrize("retry_ambiguous", [False, True])
def test_a_part_whose_upload_may_have_reached_act_on_is_counted(
    acton: Any, emulator: Any, tmp_path: Path, retry_ambiguous: bool
) -> None:
    """Act-On takes the first part, then the connection drops: nobody can tell whether the job exists.

    The retry leaves that part's rows out and counts them in doubt (at most once), or uploads them again
    and counts them as possible duplicates (``retry_ambiguous``). Either way the counts say what happened.
    """
    records = pipelined_records(2_000)
    state = LocalCheckpoint(tmp_path / "ck")
    first = adapter(part_bytes=4_000)
    first.hook.get_access_token()  # the login is not what gets dropped
    emulator.emulator.set_faults("acton", drop_after_accept=1)
    with pytest.raises(EventsProviderError):
        first.deliver(as_blocks(events(first, records)), state, wait=True)
    (taken,) = acton.snapshot()["jobs"]  # Act-On did create the job of the dropped upload
    interrupted = state.get(STATE_KEY)["uploading"]
    assert interrupted["index"] == 0
    assert state.get(STATE_KEY)["job_ids"] == []

    retry = adapter(part_bytes=4_000)
    outcome = retry.deliver(
        as_blocks(events(retry, records)), state, wait=True, retry_ambiguous=retry_ambiguous
    )
    part_rows = int(interrupted["rows"])
    emails = [e["email"] for e in acton.events("Adapter")]
    assert taken["job_id"] not in outcome.job_ids
    if retry_ambiguous:
        assert (outcome.in_doubt, outcome.possible_duplicates) == (0, part_rows)
        assert (outcome.sent, outcome.accepted) == (2_000, 2_000)
        assert len(emails) == 2_000 + part_rows  # the duplicates the report announced
    else:
        assert (outcome.in_doubt, outcome.possible_duplicates) == (part_rows, 0)
        assert (outcome.sent, outcome.accepted) == (2_000 - part_rows, 2_000 - part_rows)
        assert len(emails) == len(set(emails)) == 2_000  # the dropped upload had arrived: nothing lost
    assert "uploading" not in state.get(STATE_KEY)


def test_a_record_of_the_earlier_spool_then_upload_layout_resumes_by_row_count(
    acton: Any, tmp_path: Path
) -> None:
    """A checkpoint written by the earlier version (all parts spooled first, then uploaded) still resumes."""
    records = pipelined_records(300)
    state = LocalCheckpoint(tmp_path / "ck")
    ad = adapter()
    first_rows = [ad.prepare(r, "k") for r in records[:120]]
    first_csv = tmp_path / "first.csv"
    with open(first_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, **ad.layout.writer_kwargs())
        writer.writerow(("email", "date", "title", "note"))
        writer.writerows((r.email, r.date, r.title, r.note) for r in first_rows)
    job = ActOnHook().upload_custom_events(
        first_csv, destination="Adapter", customeventaction="CUSTOM_ATTENDED", email_col=0, date_col=1,
        title_col=2, dateformat="yyyy-MM-dd",
    )  # fmt: skip
    state.put(
        STATE_KEY,
        {
            "parts": [
                {"path": "/gone/part0001.csv", "rows": 120, "titles": 4, "has_note": False},
                {"path": "/gone/part0002.csv", "rows": 180, "titles": 4, "has_note": False},
            ],
            "job_ids": [job],
        },
    )
    outcome = ad.deliver(as_blocks(events(ad, records)), state, wait=True)
    assert outcome.job_ids[0] == job
    assert len(outcome.job_ids) == 2
    assert (outcome.sent, outcome.accepted) == (300, 300)
    emails = [e["email"] for e in acton.events("Adapter")]
    assert emails == [r["email"] for r in records]


def test_a_failed_upload_is_raised_and_the_uploads_before_it_are_kept(tmp_path: Path) -> None:
    parts = [SpooledPart(tmp_path / f"p{i}.csv", i) for i in range(3)]
    recorded: list[tuple[int, str]] = []

    def upload(part: SpooledPart) -> str:
        if part.index == 1:
            raise OSError("gateway gone")
        return f"job-{part.index}"

    background = BackgroundUpload(upload, lambda part, job: recorded.append((part.index, job)))
    background.hand(parts[0])
    background.hand(parts[1])  # settles part 0 first
    with pytest.raises(OSError, match="gateway gone"):
        background.hand(parts[2])  # settling part 1 raises: part 2 is never sent
    background.close()
    assert recorded == [(0, "job-0")]


def test_a_date_text_gets_the_same_answer_every_time(acton: Any) -> None:
    ad = adapter(dateformat="dd MMM yyyy")
    for _ in range(2):
        assert ad.prepare({"email": "a@b.io", "date": "2024-01-25", "title": "t"}, "k").date == "25 Jan 2024"
        with pytest.raises(InvalidRecordError) as err:
            ad.prepare({"email": "a@b.io", "date": "01/25/2024", "title": "t"}, "k")
        assert err.value.field == "date"
        assert "neither ISO 8601" in err.value.reason
