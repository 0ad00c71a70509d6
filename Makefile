# Two commands do everything on a fresh machine:
#   make run    the monthly batch end to end on the embedded default data (warehouse + reports)
#   make test   every test: pytest (package, SQL pipeline, end-to-end dbt build with Elementary tests)
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
DBT         := $(VENV)/bin/dbt
STAMP       := $(VENV)/.installed

# Parallelism comes from our own worker processes: keep every numeric library single-threaded
# inside them so 2 cores are not oversubscribed (LightGBM gets num_threads from the config).
export OMP_NUM_THREADS      ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS      ?= 1
export DBT_PROFILES_DIR     ?= $(CURDIR)/profiles
export DBT_PACKAGES_FOLDER  ?= $(CURDIR)/dbt_packages
export DEMAND_DUCKDB_PATH   ?= $(CURDIR)/warehouse/demand.duckdb
export DEMAND_RAW_DIR       ?= $(CURDIR)/data/raw
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

# Size of the embedded default dataset (see README "Embedded default data").
PRODUCTS ?= 200
YEARS    ?= 4
SEED     ?= 42
# How many past months `make run` replays so history, accuracy and monitoring are not empty.
REPLAY_MONTHS ?= 6

.PHONY: help run test test-fast lint install deps data clean pytest monitor

help:
	@echo "make run    - install, generate the default data, run the monthly batch, write reports/"
	@echo "make test   - install and run every test (what CI runs): lint, then pytest"
	@echo "make test-fast - package and SQL unit tests only (under a minute), no dbt build"
	@echo "make lint   - ruff (lint + format check) and sqlfluff; fails on any finding"
	@echo "make monitor - send Elementary's alerts to Slack or Teams (DEMAND_EDR_SLACK_WEBHOOK / DEMAND_EDR_TEAMS_WEBHOOK)"
	@echo "make clean  - remove the warehouse, reports, generated data and dbt artefacts"

$(STAMP): requirements/requirements.txt requirements/constraints.txt pyproject.toml
	@test -x $(PY) || { echo "Creating virtual environment $(VENV) ..."; $(PYTHON_BOOT) -m venv $(VENV); }
	@echo "Installing Python dependencies (pinned in requirements/constraints.txt) ..."
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/requirements.txt -c requirements/constraints.txt 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import dbt.version, duckdb, pandas, statsmodels, lightgbm, sklearn, plotly, elementary" \
		|| { echo "ERROR: the Python install is incomplete; see the pip output above." >&2; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

deps: $(STAMP)
	@scripts/dbt_deps.sh

data: $(STAMP)
	@if [ -d "$(DEMAND_RAW_DIR)/sales_lines" ]; then \
		echo "Raw data present in $(DEMAND_RAW_DIR) (make clean to regenerate)"; \
	else \
		$(VENV)/bin/demand-forecast generate --out $(CURDIR)/data --products $(PRODUCTS) --years $(YEARS) --seed $(SEED); \
	fi

# Builds and tests on a staged copy and publishes warehouse, exports and reports only when every step
# passed (docs/operations.md); RUN_ARGS adds options, e.g. make run RUN_ARGS="--skip-reports".
run: deps data
	@$(VENV)/bin/demand-forecast run --replay-months $(REPLAY_MONTHS) $(RUN_ARGS)

pytest: deps
	@scripts/run_tests.sh

# Lint: ruff on Python (lint and format), sqlfluff on the dbt SQL (dbt templater, duckdb dialect;
# rules and reasons in .sqlfluff). Any finding fails.
lint: deps
	@echo "ruff check / ruff format --check ..."
	@$(VENV)/bin/ruff check --no-cache . && $(VENV)/bin/ruff format --no-cache --check .
	@echo "sqlfluff lint (models, tests, macros, analyses) ..."
	@$(VENV)/bin/sqlfluff lint models tests macros analyses --disable-progress-bar 2>&1 \
		| grep -v "^WARNING .*Skipped file .* because it is a macro" ; exit $${PIPESTATUS[0]}

test: lint pytest

test-fast: deps
	@scripts/run_tests.sh -m "not slow"

# Elementary's alerts on failed tests and anomalies of the last runs, to a Slack or Teams webhook.
monitor: deps
	@if [ -n "$$DEMAND_EDR_SLACK_WEBHOOK" ]; then dest="--slack-webhook $$DEMAND_EDR_SLACK_WEBHOOK"; \
	elif [ -n "$$DEMAND_EDR_TEAMS_WEBHOOK" ]; then dest="--teams-webhook $$DEMAND_EDR_TEAMS_WEBHOOK"; \
	else echo "Set DEMAND_EDR_SLACK_WEBHOOK or DEMAND_EDR_TEAMS_WEBHOOK to the incoming webhook URL." >&2; exit 2; fi; \
	$(VENV)/bin/edr monitor --project-dir . --profiles-dir profiles --config-dir config/edr $$dest

clean:
	rm -rf warehouse reports exports target logs data/raw data/truth test-output
	mkdir -p warehouse exports && touch warehouse/.gitkeep exports/.gitkeep  # a plain dbt build needs them
