"""Act-On's block preparer against ``prepare``: for any block of records it gives exactly the payloads
``prepare`` gives, or ``None`` (the engine then prepares that block row by row). Randomised over values that
are valid, nearly valid and invalid, in every field and layout."""

from __future__ import annotations

import random
import time
from datetime import date, datetime, timezone
from typing import Any

import pytest

from airflow_provider_events.adapters.acton import ActOnAdapter
from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError
from airflow_provider_events.hooks.acton import ActOnHook

EMAILS = [
    "a@b.co",
    "First.Last+tag@example.com",
    "user@sub.example.org",
    " padded@example.com",
    "padded@example.com\t",
    "two@@example.com",
    "no-at.example.com",
    "no@dot",
    "",
    "   ",
    None,
    42,
    "in side@example.com",
    "comma,in@example.com",
    '"quoted"@example.com',
    "x" * 250 + "@a.co",
    "ünïcode@exämple.com",
    "line\nbreak@example.com",
]
DATES = [
    "2024-01-25",
    "2024-02-30",
    "2024-01-25T10:00:00Z",
    "2024-01-25T10:00:00+02:00",
    " 2024-01-25 ",
    "25/01/2024",
    "yesterday",
    "",
    None,
    date(2024, 1, 25),
    datetime(2024, 1, 25, 9, 30),
    datetime(2024, 1, 25, 9, 30, tzinfo=timezone.utc),
    20240125,
    ["2024-01-25"],
]
TITLES = ["Webinar", "Intro, part 1", 'The "big" one', "  ", "", None, 7, 3.5, True, "Zoë", "two\nlines"]
NOTES = ["", "pro", "a,b", None, 12, "é", "line\rbreak"]


def adapter(**options: Any) -> ActOnAdapter:
    return ActOnAdapter(
        ActOnHook(), {"destination": "Blocks", "customeventaction": "CUSTOM_ATTENDED", **options}
    )


def by_rows(ad: ActOnAdapter, records: list[dict[str, Any]]) -> list[tuple[str, ...]] | None:
    """``prepare`` of every record; ``None`` when one is rejected."""
    try:
        return [tuple(ad.prepare(record, str(n))) for n, record in enumerate(records)]
    except InvalidRecordError:
        return None


def random_block(
    rng: random.Random, fields: list[str], size: int, mostly_valid: bool
) -> list[dict[str, Any]]:
    pools = {"email": EMAILS, "date": DATES, "title": TITLES, "note": NOTES}
    records = []
    for _ in range(size):
        if mostly_valid and rng.random() < 0.95:
            record = {
                "email": rng.choice(EMAILS[:3]),
                "date": rng.choice(
                    ["2024-01-25", "2023-12-31", date(2024, 3, 1)][: 2 if rng.random() < 0.9 else 3]
                ),
                "title": rng.choice(TITLES[:3]),
                "note": rng.choice(NOTES[:3]),
            }
        else:
            record = {name: rng.choice(pool) for name, pool in pools.items()}
        records.append({name: record[name] for name in fields})
    return records


@pytest.mark.parametrize(
    ("options", "fields"),
    [
        ({}, ["email", "date", "title", "note"]),
        ({}, ["title", "email", "date"]),
        ({"dateformat": "dd/MM/yyyy"}, ["email", "date", "title", "note"]),
        ({"quotecharacter": "NONE"}, ["email", "date", "title", "note"]),
        ({"fieldseparator": "TAB", "quotecharacter": "SINGLE_QUOTE"}, ["note", "date", "email", "title"]),
        # a date written with the separator in it: unquoted, prepare() rejects it
        (
            {"fieldseparator": "SPACE", "quotecharacter": "NONE", "dateformat": "dd MMM yyyy"},
            ["email", "date", "title"],
        ),
    ],
)
def test_a_block_gives_what_prepare_gives_or_none(options: dict[str, Any], fields: list[str]) -> None:
    rng = random.Random(f"{sorted(options.items())}-{fields}")
    ad = adapter(**options)
    prepare_block = ad.block_preparer(fields)
    assert prepare_block is not None
    taken = valid = 0
    for trial in range(2_000):
        records = random_block(rng, fields, rng.randint(1, 40), mostly_valid=trial % 3 != 0)
        columns = [[record[name] for record in records] for name in fields]
        keys = [str(n) for n in range(len(records))]
        got = prepare_block(columns, keys)
        expected = by_rows(adapter(**options), records)
        valid += expected is not None
        if got is None:
            continue  # the engine prepares this block row by row: always allowed
        taken += 1
        assert expected is not None, records  # a block is never taken with a record prepare() rejects
        assert [tuple(row) for row in got] == expected, records
    assert taken >= valid / 2  # the common case (every record valid and plain) is taken a block at a time


def test_plain_valid_blocks_are_taken_whole() -> None:
    ad = adapter()
    prepare_block = ad.block_preparer(["email", "date", "title", "note"])
    assert prepare_block is not None
    emails = [f"user{i}@example.com" for i in range(500)]
    got = prepare_block(
        [emails, ["2024-01-25T10:00:00Z"] * 500, ["Webinar, day 1"] * 500, [None, "pro"] * 250], ["k"] * 500
    )
    assert got is not None
    assert got[0] == ("user0@example.com", "2024-01-25", "Webinar, day 1", "")
    assert got[1][3] == "pro"


def test_fields_prepare_must_name_get_no_block_preparer() -> None:
    ad = adapter()
    assert ad.block_preparer(["email", "date"]) is None  # title missing: prepare() rejects each row
    assert ad.block_preparer(["email", "date", "title", "extra"]) is None
    with pytest.raises(ConfigurationError, match="also gives"):
        ad.prepare({"email": "a@b.co", "date": "2024-01-25", "title": "t", "extra": 1}, "k")


def test_a_block_of_bad_addresses_is_turned_down_in_linear_time() -> None:
    """Each address is matched on its own: one pattern over all the lines backtracked across them, and a
    block of 1,000 addresses with a doubled '@' never finished."""
    prepare_block = adapter().block_preparer(["email", "date", "title"])
    assert prepare_block is not None
    for emails in (
        [f"broken.{i}@@mail.example.com" for i in range(1_000)],
        [f"fine.{i}@mail.example.com" for i in range(999)] + ["a@" + "b." * 120 + "@"],
    ):
        started = time.process_time()
        assert prepare_block([emails, ["2024-01-25"] * 1_000, ["t"] * 1_000], ["k"] * 1_000) is None
        assert time.process_time() - started < 5.0  # milliseconds; the backtracking pattern took hours
