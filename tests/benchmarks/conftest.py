"""Benchmark support: every benchmark records its figures, prints them as a table and writes them as JSON.

Run with ``make bench`` (files are named ``bench_*.py`` so ``make test`` never collects them).
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

OUT_DIR = Path(os.environ.get("BENCH_OUT", ".bench"))


class Figures:
    """Figures of one benchmark: rows of named values, printed and saved under ``.bench/<name>.json``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: list[dict[str, Any]] = []

    def add(self, **row: Any) -> None:
        self.rows.append(row)

    def table(self) -> str:
        if not self.rows:
            return f"{self.name}: no figures"
        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        cells = [[_fmt(row.get(c, "")) for c in columns] for row in self.rows]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        lines = [f"== {self.name} ==", "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
        return "\n".join(lines)

    def save(self) -> Path:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        path = OUT_DIR / f"{self.name}.json"
        machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()}
        path.write_text(json.dumps({"benchmark": self.name, "machine": machine, "rows": self.rows}, indent=2))
        return path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    """Collects a benchmark's figures; printed and saved when the benchmark ends."""
    fig = Figures(request.node.name.removeprefix("test_"))
    yield fig
    print("\n" + fig.table())
    print(f"(written to {fig.save()})")
