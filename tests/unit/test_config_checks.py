"""Settings are checked when they are loaded: a value that would mislabel customers, fail deep inside LightGBM or
overflow a date stops the run at once (exit 2) with a message naming the key, before any data is read."""

from __future__ import annotations

import pytest

from pipeline.core.config import load_params
from pipeline.core.errors import ConfigError

BAD = {
    "scoring.risk_bands={high: 0.3, medium: 0.6, low: 0}": "highest first",
    "scoring.risk_bands={high: 3, medium: 1.5}": "last band's lower bound must be 0",
    "scoring.report_top_n=-3": "scoring.report_top_n",
    "loyalty.tiers={champion: 20, loyal: 60, dormant: 0}": "loyalty.tiers",
    "loyalty.tiers={champion: 80, loyal: 60}": "loyalty.tiers",
    "engine.threads=-4": "engine.threads",
    "registry.min_improvement=-5": "registry.min_improvement",
    "model.num_leaves=0": "model.num_leaves",
    "model.learning_rate=-0.1": "model.learning_rate",
    "loyalty.max_rounds=0": "loyalty.max_rounds",
    "model.bagging_fraction=1.5": "model.bagging_fraction",
    "label.horizon_days=10000000": "label.horizon_days",
    "label.lookback_days=0": "label.lookback_days",
    "engine.memory_limit=30MB": "engine.memory_limit: '30MB' is too little memory .* at least 128MB",
    "engine.memory_limit=0.0001%": "engine.memory_limit: '0.0001%' is too little memory",
    "engine.memory_limit=8 parsecs": "engine.memory_limit: '8 parsecs' is not a memory size",
    "engine.spark.task_memory_limit=10MB": "engine.spark.task_memory_limit: '10MB' is too little memory",
}


@pytest.mark.parametrize("setting", sorted(BAD))
def test_a_setting_that_cannot_work_stops_on_load_naming_its_key(setting):
    with pytest.raises(ConfigError, match=BAD[setting].replace(".", r"\.").replace(r"\.*", ".*")):
        load_params(None, [setting])


def test_the_shipped_params_and_the_defaults_pass():
    load_params("params.yaml")
    load_params(None)
    load_params(None, ["scoring.risk_bands_by=top_share", "scoring.risk_bands={high: 0.1, medium: 0.3, low: 1.0}"])
    load_params(None, ["scoring.risk_bands_by=probability", "scoring.risk_bands={high: 0.6, medium: 0.3, low: 0}"])


@pytest.mark.parametrize("limit", ["128MB", "1.5GB", "512MiB", "2g", "50%", "8 GB"])
def test_memory_sizes_duckdb_reads_from_its_minimum_up_are_accepted(limit):
    assert load_params(None, [f"engine.memory_limit={limit}"]).engine.memory_limit == limit


def test_top_share_bands_must_grow_to_every_customer():
    with pytest.raises(ConfigError, match="grow band by band"):
        load_params(None, ["scoring.risk_bands_by=top_share", "scoring.risk_bands={high: 0.3, medium: 0.1, low: 1.0}"])
    with pytest.raises(ConfigError, match="must be 1"):
        load_params(None, ["scoring.risk_bands_by=top_share", "scoring.risk_bands={high: 0.1, medium: 0.3}"])


def test_a_key_written_twice_in_params_yaml_is_refused(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("scoring:\n  report_top_n: 10\nlabel:\n  horizon_days: 60\nscoring:\n  currency: EUR\n")
    with pytest.raises(ConfigError, match=r"key 'scoring' is written twice .*lines 1 and 5"):
        load_params(params)


def test_a_folder_given_as_params_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        load_params(tmp_path)


@pytest.mark.parametrize("text", ["9999-12-31", "0001-01-01", "2025-13-01", "tomorrow"])
def test_an_as_of_date_no_history_can_have_is_a_clear_error(text):
    from pipeline.build.run import parse_date
    from pipeline.core.errors import DataError

    with pytest.raises(DataError, match="--as-of"):
        parse_date(text)


def test_a_typo_under_columns_is_found_on_load():
    with pytest.raises(ConfigError, match=r"'columns\.transactions\.custmer_id' is not a column of transactions"):
        load_params(None, ["columns.transactions={custmer_id: cust_no}"])
    assert load_params(None, ["columns.transactions={customer_id: cust_no}"]).columns.transactions == {
        "customer_id": "cust_no"}
