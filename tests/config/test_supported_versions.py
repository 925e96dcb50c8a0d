"""The Airflow floor declared in pyproject.toml is the version CI tests (make test-min-airflow)."""

from __future__ import annotations

import re
from pathlib import Path

import airflow
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def declared_floor() -> str:
    """The ``apache-airflow>=X`` of the project's dependencies (read as text: tomllib needs Python 3.11)."""
    match = re.search(r'^\s*"apache-airflow>=([0-9.]+)[,<"]', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match, "no apache-airflow>= floor in pyproject.toml"
    return match.group(1)


def test_the_declared_floor_has_its_own_pinned_constraints_and_make_target() -> None:
    floor = declared_floor()
    pinned = (ROOT / f"constraints-airflow-{floor}.txt").read_text().splitlines()
    assert f"apache-airflow=={floor}" in pinned
    assert re.search(rf"^MIN_AIRFLOW \?= {re.escape(floor)}$", (ROOT / "Makefile").read_text(), re.M)


def test_running_airflow_is_at_least_the_floor() -> None:
    assert Version(airflow.__version__) >= Version(declared_floor())
