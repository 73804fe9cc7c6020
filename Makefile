# Two commands set everything up on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CHURN := $(VENV)/bin/churn
SAMPLE := data/sample
AS_OF := 2025-12-31
OUT := outputs
# OpenMP threads (LightGBM's) wait passively: with two test workers on two cores, spinning threads slowed the
# suite several-fold (two training tests together: 11 min spinning, 69 s passive). Results do not change.
export OMP_WAIT_POLICY := PASSIVE

.PHONY: install spark chromium demo test test-fast notebooks lint bench bench-spark clean sample-data record-demo-list

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

# The Spark extra (pyspark, about 490 MB; Java 17+ must be installed) in the same environment.
spark: $(VENV)/.spark-installed

$(VENV)/.spark-installed: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -c requirements.lock -e ".[dev,spark]"
	touch $@

demo: install
	@mkdir -p $(OUT)
	$(CHURN) validate --data $(SAMPLE)
	$(CHURN) features --data $(SAMPLE) --as-of $(AS_OF) --out $(OUT)/features_asof=$(AS_OF).parquet
	$(CHURN) train --data $(SAMPLE) --as-of $(AS_OF)
	$(CHURN) score --data $(SAMPLE) --as-of $(AS_OF) --out $(OUT)/risk_asof=$(AS_OF).parquet
	$(CHURN) report --scores $(OUT)/risk_asof=$(AS_OF).parquet --out $(OUT)/report.html --xlsx $(OUT)/risk_asof=$(AS_OF).xlsx
	@echo
	@echo "demo outputs in $(OUT)/ (open report.html in a browser):"
	@ls -1 $(OUT)
	@echo "MLflow runs: .venv/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db"

# Headless chromium for the browser tests (Debian's package; the tests never install anything themselves).
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Every test (what CI runs): Spark and the browser included.
test: install spark chromium
	$(PY) -m pytest -q -n 2 --dist loadfile

# The quick loop while working: no slow, browser or Spark tests (see tests/README.md), a few minutes.
test-fast: install
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not slow and not browser and not spark"

# A change meant to change the demo's risk list records the new one (tests/e2e/test_demo_list.py); say why in the commit.
record-demo-list: install
	$(PY) -m tests.e2e.test_demo_list

# Execute every notebook under notebooks/ on a small generated sample (each one a test; make test runs them too).
notebooks: install
	$(PY) -m pytest -v -p no:cacheprovider tests/e2e/test_notebooks.py

lint: install
	$(VENV)/bin/ruff check .

bench: install spark
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_events.py
	$(PY) benchmarks/bench_scoring.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_excel.py
	$(PY) benchmarks/bench_changes.py
	$(PY) benchmarks/bench_spark.py

# Spark against DuckDB and a hand-written Spark SQL query
# (ROWS=100000000 SPARK_MEMORY=512m SHUFFLE_PARTITIONS=200 for the large run).
bench-spark: install spark
	$(PY) benchmarks/bench_spark.py --sizes $(or $(ROWS),5000000) --spark-memory=$(SPARK_MEMORY) \
		--shuffle-partitions $(or $(SHUFFLE_PARTITIONS),0)

# Regenerate the bundled sample (seeded: the same files every time).
sample-data: install
	rm -rf $(SAMPLE) && $(CHURN) sample-data --out $(SAMPLE) --customers 5000 --format parquet

clean:
	rm -rf $(OUT) quarantine .pytest_cache
