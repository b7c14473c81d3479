# storeflow — every target creates/uses ./.venv itself.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint typecheck demo sims airflow bench clean migrate endpoints

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# mypy on include/storeflow ([tool.mypy] in pyproject.toml: typed signatures everywhere, --strict for
# the modules issue 16 added)
typecheck: $(STAMP)
	$(BIN)/mypy

lint: typecheck
	$(BIN)/ruff check .

test: lint
	bash scripts/install_chromium.sh
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	STOREFLOW_PROFILE=demo $(BIN)/python scripts/demo.py

sims: $(STAMP)
	STOREFLOW_PROFILE=demo $(BIN)/python -m storeflow_simulators

# Bring the warehouse (STOREFLOW_WAREHOUSE_URL, else the SQLite default) to the newest schema revision.
migrate: $(STAMP)
	$(BIN)/python -m storeflow.warehouse migrate

# The public endpoints (unsubscribe page, one-click POST, webhooks) on ENDPOINTS_PORT (8727); needs
# STOREFLOW_UNSUBSCRIBE_SECRET. Put it behind TLS at STOREFLOW_UNSUBSCRIBE_BASE_URL in production.
endpoints: $(STAMP)
	$(BIN)/python -m storeflow.warehouse migrate
	$(BIN)/python -m storeflow.endpoints --port $${ENDPOINTS_PORT:-8727}

# Local Airflow (standalone) + simulators + demo connections; UI on 127.0.0.1, port env AIRFLOW_PORT (8080).
airflow: $(STAMP)
	STOREFLOW_PROFILE=demo $(BIN)/python scripts/airflow_local.py

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf data .airflow .pytest_cache .mypy_cache
