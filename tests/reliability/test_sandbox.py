"""Template sandbox, end to end: hostile mapping templates fail with a clear error and nothing is sent.

``tests/sync/test_mapping.py`` covers the sandbox at the mapping level (``__class__``/``__mro__`` walks,
``cycler``/``lipsum`` globals, mutation, ``include``/``import``) and ``tests/operators/test_sync.py`` one
escape through a DAG. Added here: the other escape routes (the template's own context via ``self``,
``str.format`` attribute lookups, ``attr`` filters, ``namespace``/``joiner`` globals, the row view's
private storage, ``extends``/``from`` imports, unbounded ranges, Airflow-looking globals such as
``config``), each run as a real sync against the emulator, asserting the error names the field and **zero
requests** reached any vendor; and a violation reached only on a later row's data.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError
from airflow_provider_events.sync.checkpoint import CheckpointIdentity
from airflow_provider_events.sync.runner import sync_rows
from airflow_provider_events.sync.source import SqlSource

pytestmark = pytest.mark.usefixtures("tmp_state")

VENDORS = ("acton", "expertsender_cdp", "carecloud", "gainsight_px")

HOSTILE = [
    "{{ ''.__class__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ row.__class__.__mro__ }}",
    "{{ row._data }}",
    "{{ row | attr('_data') }}",
    "{{ row.user_id | attr('__class__') }}",
    "{{ '{0.__class__.__mro__}'.format(row.user_id) }}",
    "{{ '{x.__class__}'.format_map({'x': row.user_id}) }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__dict__ }}",
    "{{ config }}",
    "{{ conf }}",
    "{{ range(10 ** 9) | list | length }}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
    "{% from '/etc/passwd' import x %}{{ row.user_id }}",
    "{% import 'os' as os %}{{ row.user_id }}",
]


@pytest.fixture
def rows(sqlite_warehouse: Any) -> None:
    sqlite_warehouse("events", ["id", "user_id"], ((i, f"user-{i}") for i in range(1, 11)))


def requests_made(emulator: Any) -> int:
    return sum(emulator.emulator.fault_counters(v)["requests"] for v in VENDORS)


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_template_fails_clearly_and_sends_nothing(emulator, rows, template: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError) as err:
        sync_rows(
            destination_conn_id="gainsight_px_default",
            source=SqlSource("warehouse", "SELECT * FROM events ORDER BY id"),
            mapping={"identifyId": "user_id", "eventName": "{{ 'x' }}", "attributes": {"evil": template}},
            identity=CheckpointIdentity("sandbox", "run", "sync"),
        )
    message = str(err.value)
    assert "attributes.evil" in message  # names the field
    assert "Traceback" not in message
    assert "root:" not in message  # nothing from /etc/passwd
    assert requests_made(emulator) == 0  # executed nothing: not one request to any vendor
    assert emulator.emulator.vendor("gainsight_px").snapshot()["received"] == []


def test_violation_reached_only_on_a_later_rows_data_sends_nothing(emulator, rows) -> None:  # type: ignore[no-untyped-def]
    """A branch that reaches ``__class__`` only from row 6 on: refused before the first event is sent."""
    template = "{{ row.user_id if row.id < 6 else row.user_id.__class__ }}"
    with pytest.raises((ConfigurationError, InvalidRecordError)) as err:
        sync_rows(
            destination_conn_id="gainsight_px_default",
            source=SqlSource("warehouse", "SELECT * FROM events ORDER BY id"),
            mapping={"identifyId": template, "eventName": "{{ 'x' }}"},
            identity=CheckpointIdentity("sandbox", "late", "sync"),
        )
    print(f"\nlate violation: {type(err.value).__name__}: {err.value}")
    assert "identifyId" in str(err.value)
    assert requests_made(emulator) == 0
