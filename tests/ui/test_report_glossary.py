"""The report glossary (``docs/report.md``) explains every field a delivery report can hold."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from airflow_provider_events.sync.report import DeliveryReport

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "report.md"


def test_every_report_field_is_in_the_glossary() -> None:
    documented = set(re.findall(r"^\| `(\w+)` \|", GLOSSARY.read_text(), flags=re.MULTILINE))
    fields = {f.name for f in dataclasses.fields(DeliveryReport)}
    assert fields <= documented, f"add to docs/report.md: {sorted(fields - documented)}"


def test_the_glossary_says_rejected_by_vendor_is_part_of_rejected() -> None:
    text = GLOSSARY.read_text()
    assert "It is included in `rejected`" in text
