"""The docs cannot drift from the code: every operator parameter, default and return key a docs page names
must exist in the code.

What is read from ``docs/*.md`` and ``README.md``:

- **parameter tables** (``| Parameter | Meaning |``) under a heading naming a class (``### `ClassName```):
  each backticked name of the first column must be an argument of that class (its ``__init__`` or a base
  class's, as ``**kwargs`` passes them on); a row "every `OtherClass` argument" checks the names listed in
  its second column against the section's class. A ``default X`` in the second column, where X is a literal
  (number, ``True``/``False``/``None``, a connection id), must equal the signature's default.
- **return values**: a line starting ``Returns`` in a class's section names keys (``"key"`` or
  ```key```) that must be produced by the code (a string literal of the class's module or of the delivery
  report).
- **Python code blocks**: every call of a provider class must use only keywords that class takes.

A vendor operator built on ``SqlToEventsOperator`` does not take a base argument it drops from its
``template_fields`` (``destination_conn_id``, which it names ``<vendor>_conn_id``; CareCloud's
``wait_for_completion``, meaningless for synchronous creates).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_events.operators.acton import (
    ActOnSendCustomEventOperator,
    ActOnUploadCustomEventsOperator,
)
from airflow_provider_events.operators.carecloud import (
    CareCloudCreateEventsOperator,
    CareCloudListEventsOperator,
)
from airflow_provider_events.operators.expertsender_cdp import (
    ExpertSenderCdpScenarioEventsOperator,
    ExpertSenderCdpSegmentScenarioOperator,
)
from airflow_provider_events.operators.gainsight_px import GainsightPXSendCustomEventsOperator
from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.sensors.acton import ActOnCustomEventJobSensor
from airflow_provider_events.sync.report import DeliveryReport
from airflow_provider_events.triggers.acton import ActOnCustomEventJobTrigger

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        SqlToEventsOperator,
        ActOnUploadCustomEventsOperator,
        ActOnSendCustomEventOperator,
        ActOnCustomEventJobSensor,
        ActOnCustomEventJobTrigger,
        CareCloudCreateEventsOperator,
        CareCloudListEventsOperator,
        ExpertSenderCdpScenarioEventsOperator,
        ExpertSenderCdpSegmentScenarioOperator,
        GainsightPXSendCustomEventsOperator,
    )
}

_HEADING = re.compile(r"^(#+)\s+(.*)$")
_BACKTICKED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")
_DEFAULT = re.compile(r"\bdefault:?\s+([^),;|]+)", re.IGNORECASE)
_QUOTED_KEY = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"')


def parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The arguments ``cls`` takes: its own and those its ``**kwargs`` pass to its bases."""
    found: dict[str, inspect.Parameter] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for name, param in inspect.signature(init).parameters.items():
            if name != "self" and param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                found[name] = param
    if cls is not SqlToEventsOperator and issubclass(cls, SqlToEventsOperator):
        for dropped in set(SqlToEventsOperator.template_fields) - set(cls.template_fields):
            found.pop("dry_run" if dropped == "dry_run_only" else dropped, None)
    return found


def _strings(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def return_keys(cls: type) -> set[str]:
    """Keys the code can return: string literals of the class's (and its bases') modules, report fields."""
    keys = {f.name for f in dataclasses.fields(DeliveryReport)}
    for klass in cls.__mro__:
        module = inspect.getmodule(klass)
        if module and module.__name__.startswith("airflow_provider_events") and module.__file__:
            keys |= _strings(Path(module.__file__))
    keys |= _strings(ROOT / "airflow_provider_events" / "hooks" / "acton_jobs.py")  # JobsSummary.to_dict
    keys |= set(parameters(cls))
    return keys


def sections(page: Path) -> Iterator[tuple[int, str, type | None, list[str]]]:
    """``(first line number, heading, class of the section, lines)`` for each heading of ``page``."""
    lines = page.read_text(encoding="utf-8").splitlines()
    stack: list[tuple[int, type | None]] = []
    start, heading, body = 1, "", []
    current: type | None = None
    in_code = False
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            yield start, heading, current, body
            level = len(match.group(1))
            named = [CLASSES[n] for n in _BACKTICKED.findall(match.group(2)) if n in CLASSES]
            stack = [(lvl, c) for lvl, c in stack if lvl < level]
            stack.append((level, named[0] if len(named) == 1 and "adapter" not in line.lower() else None))
            current = next((c for _, c in reversed(stack) if c is not None), None)
            start, heading, body = number, line, []
        else:
            body.append(line)
    yield start, heading, current, body


def literal(text: str) -> tuple[bool, Any]:
    """``(True, value)`` when ``text`` is a literal default worth comparing (a number, bool, None, an id)."""
    text = text.strip().rstrip(".").strip("`").strip()
    if text in ("True", "False", "None"):
        return True, {"True": True, "False": False, "None": None}[text]
    if text.lower() in ("no limit", "none"):
        return True, None
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return True, float(text)
    if re.fullmatch(r"[a-z_]+_default", text):
        return True, text
    return False, None


def table_findings(page: Path) -> Iterator[str]:
    for start, _heading, cls, body in sections(page):
        if cls is None:
            continue
        params = parameters(cls)
        in_table = False
        default_column: int | None = None
        for offset, line in enumerate(body, 1):
            where = f"{page.name}:{start + offset} ({cls.__name__})"
            if line.lower().startswith("| parameter"):
                in_table = True
                header = [c.strip().lower() for c in line.strip().strip("|").split("|")]
                default_column = header.index("default") if "default" in header else None
                continue
            if not line.startswith("|"):
                in_table = False
                continue
            if not in_table or line.startswith("|---"):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            first, meaning = cells[0], " | ".join(cells[1:])
            if default_column is not None and default_column < len(cells):
                meaning = f"{meaning} (default {cells[default_column]})"
            if first.lower().startswith("every"):
                names = _BACKTICKED.findall(meaning)
            else:
                names = _BACKTICKED.findall(first)
            for name in names:
                if name not in params:
                    yield f"{where}: documents parameter {name!r}, which {cls.__name__} does not take"
            if len(names) == 1 and names[0] in params and not first.lower().startswith("every"):
                yield from default_findings(where, names[0], params[names[0]], meaning)


def default_findings(where: str, name: str, param: inspect.Parameter, meaning: str) -> Iterator[str]:
    for match in _DEFAULT.finditer(meaning):
        ok, value = literal(match.group(1))
        if not ok:
            continue
        actual = param.default
        number = isinstance(actual, (int, float)) and not isinstance(actual, bool)
        comparable = float(actual) if number else actual
        if comparable != value:
            yield f"{where}: documents {name} default {match.group(1).strip()!r}, the code has {actual!r}"


def return_findings(page: Path) -> Iterator[str]:
    for start, _heading, cls, body in sections(page):
        if cls is None:
            continue
        known = return_keys(cls)
        for offset, line in enumerate(body, 1):
            if not line.startswith("Returns"):
                continue
            text = line
            index = offset
            while index < len(body) and body[index].strip():  # the paragraph the line starts
                text += " " + body[index]
                index += 1
            for key in set(_QUOTED_KEY.findall(text)) | set(_BACKTICKED.findall(text)):
                if key not in known and key not in CLASSES:
                    where = f"{page.name}:{start + offset} ({cls.__name__})"
                    yield f"{where}: return key {key!r} is not in the code"


def code_findings(page: Path) -> Iterator[str]:
    text = page.read_text(encoding="utf-8")
    for block in re.finditer(r"```python\n(.*?)```", text, re.DOTALL):
        line = text[: block.start()].count("\n") + 2
        try:
            tree = ast.parse(block.group(1))
        except SyntaxError:
            continue  # a fragment, not a program
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = getattr(func, "id", None) or getattr(func, "attr", "")
            cls = CLASSES.get(name)
            if cls is None:
                continue
            params = parameters(cls)
            for keyword in node.keywords:
                if keyword.arg is not None and keyword.arg not in params:
                    yield (
                        f"{page.name}:{line + node.lineno - 1}: {name}({keyword.arg}=...) "
                        f"but {name} does not take {keyword.arg!r}"
                    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_docs_name_only_parameters_defaults_and_return_keys_the_code_has(page: Path) -> None:
    findings = [*table_findings(page), *return_findings(page), *code_findings(page)]
    assert not findings, "\n".join(findings)


def test_the_check_reads_what_it_claims() -> None:
    """Guard against a vacuous pass: the parser finds the tables, defaults and returns it must check."""
    tables = defaults = returns = 0
    for page in PAGES:
        for _start, _heading, cls, body in sections(page):
            if cls is None:
                continue
            tables += sum(1 for line in body if line.lower().startswith("| parameter"))
            defaults += sum(len(_DEFAULT.findall(line)) for line in body if line.startswith("| `"))
            returns += sum(1 for line in body if line.startswith("Returns"))
    assert tables >= 5
    assert defaults >= 10
    assert returns >= 5


def test_the_check_catches_drift(tmp_path: Path) -> None:
    page = tmp_path / "drift.md"
    page.write_text(
        "### `ActOnUploadCustomEventsOperator`\n\n"
        "| Parameter | Meaning |\n|---|---|\n"
        "| `no_such_param` | made up |\n"
        "| `poll_interval` | Seconds between polls (default 5). |\n"
        "| `timeout` | Seconds to wait (default no limit). |\n\n"
        'Returns `{"job_ids": [...], "made_up_key": 1}`.\n\n'
        "```python\nCareCloudListEventsOperator(task_id='x', output_path='p', conn_id='c')\n```\n",
        encoding="utf-8",
    )
    findings = [*table_findings(page), *return_findings(page), *code_findings(page)]
    assert any("'no_such_param'" in f for f in findings)
    assert any("poll_interval default '5'" in f for f in findings)
    assert any("timeout default 'no limit'" in f for f in findings)
    assert any("'made_up_key'" in f for f in findings)
    assert any("does not take 'conn_id'" in f for f in findings)
    assert len(findings) == 5
