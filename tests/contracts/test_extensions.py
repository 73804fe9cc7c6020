"""Your own features: extra modules registered and checked like the built-in ones, and features.exclude."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.registry import FAMILIES
from pipeline.build import contracts, extensions
from pipeline.build.features import build_features, context_for, feature_spec
from pipeline.core.config import load_params
from pipeline.core.errors import ConfigError, ModelError
from pipeline.data.samples.retail import generate
from pipeline.engine.duckdb import dataset_from_frames

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "my_features.py"
AS_OF = date(2025, 9, 30)
EXAMPLE_FEATURES = ["weekend_purchase_share_last_365d", "discounted_purchase_share_last_365d",
                    "days_since_last_discounted_purchase"]


@pytest.fixture()
def registry():
    """The registry and the loaded modules as they were, restored after the test (other tests see only the
    built-in families)."""
    families, loaded, records = dict(FAMILIES), dict(extensions._LOADED), dict(extensions._RECORDS)
    yield
    FAMILIES.clear()
    FAMILIES.update(families)
    extensions._LOADED.clear()
    extensions._LOADED.update(loaded)
    extensions._RECORDS.clear()
    extensions._RECORDS.update(records)


@pytest.fixture(scope="module")
def tables():
    return generate(150, seed=11)[0]


def test_the_documented_example_is_the_shipped_file():
    guide = (ROOT / "docs" / "features.md").read_text()
    block = re.search(r"## Add your own feature.*?```python\n(.*?)```", guide, re.S)
    assert block, "docs/features.md has no python block under 'Add your own feature'"
    assert block.group(1) == EXAMPLE.read_text()


def test_the_example_family_registers_once_and_passes_the_contract(registry, tables):
    added = extensions.load_extra_modules([str(EXAMPLE.relative_to(ROOT))], base=ROOT)
    assert added == ["shopping_habits"]
    assert extensions.load_extra_modules([str(EXAMPLE)]) == []  # loaded once, however it is named
    params = load_params(None, ["features.extra_modules=[examples/my_features.py]"])
    report = contracts.check_features(tables, params, AS_OF)
    assert report.ok, [str(f) for f in report.findings]
    assert set(EXAMPLE_FEATURES) <= set(report.spec.names)
    frame = build_features(dataset_from_frames(tables, params), params, AS_OF)
    assert frame["weekend_purchase_share_last_365d"].dropna().between(0, 1).all()
    assert frame["weekend_purchase_share_last_365d"].notna().mean() > 0.5
    text = report.spec["weekend_purchase_share_last_365d"].describe(0.25, {})
    assert text == "25% of their purchases in the last year were at the weekend"


def test_a_broken_family_fails_the_contract_naming_the_feature(registry, tables, tmp_path):
    module = tmp_path / "leaky.py"
    module.write_text(EXAMPLE.read_text().replace('FAMILY = "shopping_habits"', 'FAMILY = "leaky"').replace(
        '"min(age) FILTER (WHERE purchase AND discount > 0)', '"min(age + random()) FILTER (WHERE purchase AND discount > 0)'
    ).replace("weekend_purchase_share", "leaky_weekend_share").replace("discounted_purchase_share", "leaky_discount_share"))
    extensions.load_extra_modules([str(module)])
    report = contracts.check_features(tables, load_params(None), AS_OF)
    failing = {(f.check, f.feature) for f in report.findings}
    assert ("determinism", "days_since_last_discounted_purchase") in failing
    assert all(f.feature == "days_since_last_discounted_purchase" for f in report.findings)
    assert "days_since_last_discounted_purchase (family leaky)" in str(report.findings[0])


def test_a_feature_name_taken_by_another_family_is_named(registry, tables, tmp_path):
    module = tmp_path / "taken.py"
    module.write_text(EXAMPLE.read_text().replace('FAMILY = "shopping_habits"', 'FAMILY = "taken"').replace(
        "discounted_purchase_share_last_365d", "discount_share_last_365d"))
    extensions.load_extra_modules([str(module)])
    report = contracts.check_features(tables, load_params(None), AS_OF)
    assert [str(f) for f in report.findings] == [
        "metadata: discount_share_last_365d (family basket and taken): families basket and taken both give a feature "
        "of this name; every feature name must be unique"]


def test_a_module_that_cannot_load_or_takes_a_name_is_a_config_error(registry, tmp_path):
    with pytest.raises(ConfigError, match=r"extra_modules' names nowhere\.py, and there is no such file"):
        extensions.load_extra_modules(["nowhere.py"], base=tmp_path)
    with pytest.raises(ConfigError, match="names module no_such_module_xyz, which cannot be found"):
        extensions.load_extra_modules(["no_such_module_xyz"])
    clash = tmp_path / "clash.py"
    clash.write_text(EXAMPLE.read_text().replace('FAMILY = "shopping_habits"', 'FAMILY = "recency"'))
    before = dict(FAMILIES)
    with pytest.raises(ConfigError, match=r"clash\.py failed to load .*registered twice.*Fix: give the family a name"):
        extensions.load_extra_modules([str(clash)])
    assert FAMILIES == before


def _family_module(folder: Path, family: str, marker: Path | None = None) -> Path:
    """The example family renamed (its own family and feature names), optionally writing ``marker`` when imported."""
    folder.mkdir(parents=True, exist_ok=True)
    text = EXAMPLE.read_text().replace('FAMILY = "shopping_habits"', f'FAMILY = "{family}"')
    for name in ("weekend_purchase_share", "discounted_purchase_share", "days_since_last_discounted_purchase"):
        text = text.replace(name, f"{family}_{name}")
    if marker is not None:
        text += f"\nfrom pathlib import Path as _P\n_P({str(marker)!r}).write_text('imported')\n"
    path = folder / f"{family}.py"
    path.write_text(text)
    return path


def test_relative_module_paths_start_from_the_params_files_folder(registry, tmp_path, monkeypatch):
    project = tmp_path / "project"
    module = _family_module(project / "mods", "from_params_folder")
    (project / "params.yaml").write_text("features:\n  extra_modules: [mods/from_params_folder.py]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a nightly job started from another folder imports the same file
    params = load_params(project / "params.yaml")
    base = extensions.params_folder(project / "params.yaml")
    assert base == project.resolve()
    assert extensions.prepare_features(params, base) == ["from_params_folder"]
    record = extensions.module_record("mods/from_params_folder.py", base)
    assert record["name"] == "from_params_folder.py" and len(record["sha256"]) == 64
    assert extensions.module_records([str(module)]) == [record]  # the same file, however it is named
    with pytest.raises(ConfigError, match=r"no such file .*relative to the folder of the params file"):
        extensions.prepare_features(load_params(None, ["features.extra_modules=[mods/other.py]"]), base)


def test_a_model_s_modules_must_be_named_by_the_user_with_the_same_content(registry, tmp_path):
    """Checked by reading files only: no module is imported by the check, whatever it finds."""
    marker = tmp_path / "imported.txt"
    module = _family_module(tmp_path / "mods", "hashed_family", marker)
    recorded = extensions.module_records([str(module)])
    assert not marker.exists()
    extensions.check_model_modules(recorded, [str(module)])  # same name, same content: passes
    extensions.check_model_modules(recorded, ["mods/hashed_family.py"], tmp_path)
    extensions.check_model_modules([], [])
    with pytest.raises(ModelError, match=r"feature module hashed_family\.py \(SHA-256 \w{12}\), which your settings do "
                                         r"not name.*Fix: read the module") as missing:
        extensions.check_model_modules(recorded, [])
    module.write_text(module.read_text() + "\n# edited after training\n")
    with pytest.raises(ModelError, match=r"hashed_family\.py named in your settings is not the one the model was "
                                         r"trained with.*restore the module") as edited:
        extensions.check_model_modules(recorded, [str(module)])
    with pytest.raises(ModelError, match=r"saved before models recorded their content.*Fix: retrain") as legacy:
        extensions.check_model_modules(None, [str(module)], legacy=[str(module)])
    assert missing.value.exit_code == edited.value.exit_code == legacy.value.exit_code == 4
    assert not marker.exists() and "hashed_family" not in FAMILIES
    extensions.check_model_modules(None, [])  # a model saved before records, without modules: nothing to check


def test_check_features_command_runs_the_contract_on_a_data_folder(registry, tables, tmp_path, monkeypatch):
    from pipeline.cli import app

    data = tmp_path / "data"
    data.mkdir()
    for name, frame in tables.items():
        frame.to_parquet(data / f"{name}.parquet", index=False)
    (tmp_path / "params.yaml").write_text(f"features:\n  extra_modules: [{EXAMPLE}]\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["check-features", "--data", str(data), "--as-of", "2025-09-30"])
    assert result.exit_code == 0, result.output
    assert "your families (features.extra_modules): shopping_habits" in result.output
    assert "feature contract: all" in result.output and "features pass" in result.output


def test_exclude_switches_off_families_and_single_features(tables):
    params = load_params(None, ["features.exclude=[returns, spend_last_7d]"])
    ds = dataset_from_frames(tables, params)
    frame = build_features(ds, params, AS_OF)
    spec, notices = feature_spec(context_for(ds, params, AS_OF))
    assert "spend_last_7d" not in frame.columns and "spend_last_7d" not in spec.names
    assert not any(f.family == "returns" for f in spec.features)
    assert "returns_last_365d" not in frame.columns and "spend_last_30d" in frame.columns
    # the table holds the model's inputs in order, and the condition-only features (FeatureSpec.conditions)
    assert [c for c in frame.columns[1:] if c in spec.names] == spec.names
    assert sorted(frame.columns[1:]) == sorted(spec.table_names) and spec.condition_names
    assert "feature family 'returns' switched off (features.exclude)" in notices


def test_an_unknown_name_in_exclude_is_a_config_error_naming_it(tables):
    params = load_params(None, ["features.exclude=[spend_last_7days]"])
    with pytest.raises(ConfigError, match=r"'features.exclude' names 'spend_last_7days', which is neither"):
        build_features(dataset_from_frames(tables, params), params, AS_OF)
