# storeflow — every target creates/uses ./.venv itself.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint demo sims airflow bench clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	bash scripts/install_chromium.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

sims: $(STAMP)
	$(BIN)/python -m storeflow.simulators

# Local Airflow (standalone) + simulators + demo connections; UI on 127.0.0.1, port env AIRFLOW_PORT (8080).
airflow: $(STAMP)
	$(BIN)/python scripts/airflow_local.py

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf data .airflow .pytest_cache
