# Two commands set everything up on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CHURN := $(VENV)/bin/churn
SAMPLE := data/sample
AS_OF := 2025-12-31
OUT := outputs

.PHONY: install demo test lint bench clean sample-data

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c requirements.lock -e ".[dev]"
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

test: install
	$(PY) -m pytest -q -n 2 --dist loadfile

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_scoring.py
	$(PY) benchmarks/bench_excel.py

# Regenerate the bundled sample (seeded: the same files every time).
sample-data: install
	rm -rf $(SAMPLE) && $(CHURN) sample-data --out $(SAMPLE) --customers 5000 --format parquet

clean:
	rm -rf $(OUT) quarantine .pytest_cache
