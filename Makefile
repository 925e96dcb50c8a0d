# Everything creates and uses its own virtual environment: a fresh machine needs only python3 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test lint format bench docs clean constraints

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
	rm -rf $(VENV) .demo .bench site .mypy_cache .ruff_cache
