# Two commands do all the set-up on a fresh machine with Python 3.11 and make:
#   make demo   the main job on the embedded default (DuckDB, local Dagster instance)
#   make test   the tests (make test-fast: the unit tier, under a minute; make lint: ruff, mypy, sqlfluff)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)

MANIFEST := dbt_project/target/manifest.json
DBT_FILES := $(shell find dbt_project -path dbt_project/target -prune -o -path dbt_project/logs -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)

.PHONY: demo test test-fast lint docs dev install lock bench fanout-bench dbt-bench quality-bench vendor-bench erasure-bench cluster-bench clean

install: $(STAMP) $(MANIFEST)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version.split()[0]}"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[mock,test,lint,cluster]'
	rm -f $(VENV)/.installed-*
	touch $@

# dagster-dbt reads the dbt manifest when the code location loads: parse first
$(MANIFEST): $(STAMP) $(DBT_FILES)
	cd dbt_project && ../$(BIN)/dbt parse --profiles-dir . --quiet
	touch $@

demo: $(STAMP) $(MANIFEST)
	$(BIN)/harvey demo

test: $(STAMP) $(MANIFEST)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# the tests marked fast: HTTP engine, paginators, auth, rate limit arithmetic, records, settings,
# the definitions snapshot (HARVEY_UPDATE_SNAPSHOTS=1 make test-fast writes it again)
test-fast: $(STAMP) $(MANIFEST)
	$(BIN)/python -m pytest -q -m fast $(PYTEST_ARGS)

# ruff (style, pyflakes, bugbear, imports), mypy (types) and sqlfluff (the dbt models, rendered
# without a database); their rules are in pyproject.toml and dbt_project/.sqlfluff
lint: $(STAMP)
	$(BIN)/ruff check harvey_pipelines harvey_pipelines_tests
	$(BIN)/mypy
	cd dbt_project && ../$(BIN)/sqlfluff lint models

# The dbt docs site (dbt_project/target/index.html; browse it with `cd dbt_project && ../.venv/bin/dbt docs
# serve --profiles-dir .`): every model and column as the YAML describes it. The catalog is left empty, so
# no warehouse is opened (a build of the docs never waits for or holds up a sync); column types are not shown.
docs: $(STAMP) $(MANIFEST)
	cd dbt_project && HARVEY_DBT_TARGET=duckdb HARVEY_DUCKDB_PATH=target/docs.duckdb \
		../$(BIN)/dbt docs generate --profiles-dir . --empty-catalog --quiet

# Dagster UI and daemon on the local instance of the demo (http://127.0.0.1:3000; make dev PORT=3001).
# The local instance's dagster.yaml is written first when the demo has not yet; dagster dev starts in
# that folder, since from the project root it warns that the root's (production) dagster.yaml is unused.
PORT ?= 3000
dev: $(STAMP) $(MANIFEST)
	export DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/data/dagster_home}; \
	$(BIN)/python -c 'from harvey_pipelines import settings; settings.prepare_dagster_home()' && \
	cd "$$DAGSTER_HOME" && exec $(CURDIR)/$(BIN)/dagster dev -w $(CURDIR)/workspace.yaml -h 127.0.0.1 -p $(PORT)

bench: $(STAMP) $(MANIFEST)
	$(BIN)/pip install --quiet -c requirements.lock -e '.[mock,test,lint,bench]'
	$(BIN)/python -m harvey_pipelines_tests.bench.sync_benchmark $(BENCH_ARGS)

fanout-bench: $(STAMP) $(MANIFEST)
	$(BIN)/python -m harvey_pipelines_tests.bench.fanout_benchmark $(BENCH_ARGS)

# dbt build of the whole project on one generated organization (100k employees by default), time per model,
# then the README's analyst example queries on the built warehouse (median, p95)
dbt-bench: $(STAMP) $(MANIFEST)
	$(BIN)/python -m harvey_pipelines_tests.bench.dbt_benchmark $(BENCH_ARGS)

# the quality checks in the warehouse at two sizes (22.4M attendance rows at 100k employees), pandas beside
quality-bench: $(STAMP) $(MANIFEST)
	$(BIN)/python -m harvey_pipelines_tests.bench.quality_benchmark $(BENCH_ARGS)

# full and incremental sync of a 10,000-employee BambooHR company and a 20,000-candidate Greenhouse
# organization against their mocks, at the vendors' rate limits (about 20 minutes: rate-bound)
vendor-bench: $(STAMP) $(MANIFEST)
	$(BIN)/python -m harvey_pipelines_tests.bench.vendor_benchmark $(BENCH_ARGS)

# erasure of one employee of a generated organization (100k employees), the statements that dominate
erasure-bench: $(STAMP) $(MANIFEST)
	$(BIN)/python -m harvey_pipelines_tests.bench.erasure_benchmark $(BENCH_ARGS)

# one schedule tick on 1, 2 and 4 Celery workers (and in-process) against a mock HRMS with 50 ms per call
cluster-bench: $(STAMP) $(MANIFEST)
	$(BIN)/python -m harvey_pipelines_tests.bench.cluster_benchmark $(BENCH_ARGS)

# Pin every dependency (all extras) again after a change to pyproject.toml; commit the result
lock: $(STAMP)
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --all-extras --strip-extras --no-emit-index-url --no-emit-find-links \
	    --output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) data
