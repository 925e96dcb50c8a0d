# Everything creates and uses its own virtual environment: a fresh machine needs only python3 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test lint format bench docs clean constraints test-min-airflow constraints-min-airflow

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e ".[test,dev,docs,openlineage]"
	touch $(STAMP)

install: $(STAMP)

## make demo: the example sync DAG through real Airflow against the local vendor emulator
demo: install
	$(BIN)/python -m airflow_provider_events.testing.demo

## make test: lint, type-check, then the whole test suite (the command CI runs)
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check airflow_provider_events tests dags_examples
	$(BIN)/ruff format --check airflow_provider_events tests dags_examples
	$(BIN)/mypy airflow_provider_events

format: install
	$(BIN)/ruff check --fix airflow_provider_events tests dags_examples
	$(BIN)/ruff format airflow_provider_events tests dags_examples

## make bench: the benchmarks (not part of make test); figures printed and written to .bench/
bench: install
	$(BIN)/python -m pytest tests/benchmarks -s -o python_files="bench_*.py" $(PYTEST_ARGS)

## make test-min-airflow: the `compat` test subset on the oldest supported Airflow, in its own venv
MIN_AIRFLOW ?= 3.3.0
MIN_VENV    := .venv-airflow-$(MIN_AIRFLOW)
MIN_CONSTRAINTS := constraints-airflow-$(MIN_AIRFLOW).txt

$(MIN_VENV)/.installed-stamp: pyproject.toml $(MIN_CONSTRAINTS)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv
	$(MIN_VENV)/bin/uv pip install --quiet --compile-bytecode --python $(MIN_VENV)/bin/python -c $(MIN_CONSTRAINTS) -e ".[test]"
	touch $@

test-min-airflow: $(MIN_VENV)/.installed-stamp
	$(MIN_VENV)/bin/python -m pytest -m compat $(PYTEST_ARGS)

## make constraints-min-airflow: re-pin the oldest supported Airflow's venv (commit the result)
constraints-min-airflow:
	$(PYTHON) -m venv /tmp/ape-min-constraints-venv
	/tmp/ape-min-constraints-venv/bin/python -m pip install --quiet uv
	/tmp/ape-min-constraints-venv/bin/uv pip install --quiet --python /tmp/ape-min-constraints-venv/bin/python "apache-airflow==$(MIN_AIRFLOW)" -e ".[test]"
	/tmp/ape-min-constraints-venv/bin/uv pip freeze --python /tmp/ape-min-constraints-venv/bin/python --exclude-editable > $(MIN_CONSTRAINTS)
	rm -rf /tmp/ape-min-constraints-venv

docs: install
	$(BIN)/mkdocs build --strict

## make constraints: re-pin every dependency (commit the result)
constraints:
	$(PYTHON) -m venv /tmp/ape-constraints-venv
	/tmp/ape-constraints-venv/bin/python -m pip install --quiet uv
	/tmp/ape-constraints-venv/bin/uv pip install --quiet --python /tmp/ape-constraints-venv/bin/python -e ".[test,dev,docs,openlineage]"
	/tmp/ape-constraints-venv/bin/uv pip freeze --python /tmp/ape-constraints-venv/bin/python --exclude-editable > constraints.txt
	rm -rf /tmp/ape-constraints-venv

clean:
	rm -rf $(VENV) .venv-airflow-* .demo .bench site .mypy_cache .ruff_cache
