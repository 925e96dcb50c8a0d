"""The vendor registry is the one list of vendors: provider info, engine lookups and docs agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_events import vendors
from airflow_provider_events.get_provider_info import get_provider_info
from airflow_provider_events.sync.adapter import ADAPTERS, adapter_class_for
from airflow_provider_events.sync.runner import _hook_class_by_module

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _docs_vendor_rows() -> list[tuple[str, str, str, str]]:
    text = ARCHITECTURE.read_text()
    table = text.split("<!-- vendor-table:start -->", 1)[1].split("<!-- vendor-table:end -->", 1)[0]
    rows = []
    for line in table.strip().splitlines()[2:]:
        cells = [re.sub(r"`", "", c).strip() for c in line.strip().strip("|").split("|")]
        rows.append((cells[0], cells[1], cells[2], cells[3]))
    return rows


def _as_doc_path(class_path: str) -> str:
    module, cls = class_path.split(":")
    return module.removeprefix("airflow_provider_events.").replace(".", "/") + f".py:{cls}"


def test_docs_vendor_table_matches_the_registry() -> None:
    expected = [
        (
            spec.conn_type,
            spec.display_name,
            _as_doc_path(spec.hook_class),
            _as_doc_path(spec.adapter_class or ""),
        )
        for spec in vendors.BUILTIN_VENDORS
    ]
    assert _docs_vendor_rows() == expected


def test_provider_info_lists_exactly_the_registered_builtin_vendors() -> None:
    info = get_provider_info()
    assert [c["connection-type"] for c in info["connection-types"]] == [
        s.conn_type for s in vendors.BUILTIN_VENDORS
    ]
    assert [h["integration-name"] for h in info["hooks"]] == [s.display_name for s in vendors.BUILTIN_VENDORS]
    assert {m for s in info["sensors"] for m in s["python-modules"]} == {
        m for spec in vendors.BUILTIN_VENDORS for m in spec.sensor_modules
    }


@pytest.mark.parametrize("spec", vendors.BUILTIN_VENDORS, ids=lambda s: s.conn_type)
def test_engine_lookups_resolve_every_builtin_vendor(spec: vendors.VendorSpec) -> None:
    adapter = adapter_class_for(spec.conn_type)
    hook = _hook_class_by_module(spec.conn_type)
    assert adapter.conn_type == spec.conn_type
    assert hook.conn_type == spec.conn_type
    assert ADAPTERS[spec.conn_type] == spec.adapter_class


def test_register_refuses_a_taken_connection_type_unless_replacing() -> None:
    acton = vendors.vendor("acton")
    with pytest.raises(ValueError, match="already registered"):
        vendors.register_vendor(acton)
    vendors.register_vendor(acton, replace=True)
    assert vendors.vendor("acton") == acton
